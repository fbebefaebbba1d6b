package model

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

func TestRhymeCharsConfig(t *testing.T) {
	c := tinyConfig()
	c.RhymeChars = true
	if err := c.Validate(); err != nil || !c.HasBag() {
		t.Fatalf("a model with the rhyme loss: %v, has a bag %v", err, c.HasBag())
	}
	lm, both := c, c
	lm.LM, both.BagOfChars = true, true
	for _, bad := range []Config{lm, both} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v is accepted", bad)
		}
	}
	plain := tinyConfig()
	if plain.HasBag() || len(plain.BagSteps()) != 0 {
		t.Errorf("a plain model has a bag over steps %v", plain.BagSteps())
	}
}

// TestCodeRhymeGroup: a rhyme head that reads one dimension of z picks the
// group of one character or of another by its sign, and decoding with
// RhymeFromCode ends the even lines of each poem in its code's group.
func TestCodeRhymeGroup(t *testing.T) {
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 16, DecHidden: 16, Latent: 4, RhymeChars: true}
	m, err := NewModel(c, v, 7)
	if err != nil {
		t.Fatal(err)
	}
	rc := sampleRhymes(t)
	m.SetRhymes(rc)
	pros := m.Prosody()
	a, b := rc.Members(0)[0], rc.Members(1)[0]
	groupA, groupB := pros.RhymeGroups(a)[0], pros.RhymeGroups(b)[0]
	if groupA == groupB {
		t.Fatalf("%c and %c share the group %s", a, b, groupA)
	}
	setParamValues(m, func() float64 { return 0 }, "bow.W", "bow.b")
	w := m.Params.Get("bow.W").Data().([]float32)
	w[v.ID(a)], w[v.ID(b)] = 20, -20 // dimension 0's row
	m.Refresh()

	z := [][]float64{{1, 0, 0, 0}, {-1, 0, 0, 0}, {1, 0.5, 0, 0}, {-1, 0, -0.5, 0}}
	want := []string{groupA, groupB, groupA, groupB}
	for i := range z {
		got, err := m.CodeRhymeGroup(z[i], nil)
		if err != nil || got != want[i] {
			t.Fatalf("code %v: group %q (%v), want %q", z[i], got, err, want[i])
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, greedy := range []bool{true, false} {
		out, err := m.Decode(z, DecodeOptions{Lines: 4, Greedy: greedy, Temperature: 1, Rhyme: true, RhymeFromCode: true}, rng)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range out {
			for _, l := range []int{1, 3} {
				end := p.Line(l)[4]
				if !slices.Contains(pros.RhymeGroups(end), want[i]) {
					t.Errorf("greedy %v, poem %d %s: line %d ends in %c, not of group %s", greedy, i, p, l+1, end, want[i])
				}
			}
		}
	}

	// A model without the rhyme loss has no group to give and decodes as
	// if RhymeFromCode were not set.
	plain := evalModel(t, poems, false)
	plain.SetRhymes(rc)
	if g, err := plain.CodeRhymeGroup(z[0], nil); g != "" || err != nil {
		t.Errorf("a model without the rhyme loss gives group %q (%v)", g, err)
	}
	with, err := plain.Decode(z, DecodeOptions{Lines: 4, Greedy: true, Rhyme: true, RhymeFromCode: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	without, err := plain.Decode(z, DecodeOptions{Lines: 4, Greedy: true, Rhyme: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(poemStrings(with), "|") != strings.Join(poemStrings(without), "|") {
		t.Errorf("RhymeFromCode changed a plain model's poems: %v, %v", with, without)
	}
	if _, err := m.CodeRhymeGroup([]float64{1}, nil); err == nil {
		t.Error("a code of the wrong size is accepted")
	}
}

func poemStrings(poems []poetry.Poem) []string {
	out := make([]string, len(poems))
	for i, p := range poems {
		out[i] = p.String()
	}
	return out
}
