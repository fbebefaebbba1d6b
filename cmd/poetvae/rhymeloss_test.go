package main

import (
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// TestTrainRhymeLoss: train --rhyme-loss makes a model whose code predicts
// its rhyme; reconstruct and interpolate then end the even lines of each
// poem in the group its code predicts, and eval says that it decodes so.
func TestTrainRhymeLoss(t *testing.T) {
	inTempDir(t)
	if code, _, stderr := poetvae(t, append(slices.Clone(tinyTrain), "--rhyme-loss", "--no-keywords")...); code != 0 {
		t.Fatalf("train --rhyme-loss: status %d\n%s", code, stderr)
	}
	ck, err := model.Load("poetvae.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	m := ck.Model
	if !m.Config.RhymeChars || m.Config.BagOfChars {
		t.Fatalf("the model's config: rhyme loss %v, bag of characters %v", m.Config.RhymeChars, m.Config.BagOfChars)
	}
	sample, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	ends := sample[:2]
	code, stdout, stderr := poetvae(t, "interpolate", "--steps", "4", ends[0].String(), ends[1].String())
	if code != 0 {
		t.Fatalf("interpolate: status %d\n%s", code, stderr)
	}
	var walk []poetry.Poem
	for _, line := range lines(stdout) {
		if p, err := poetry.Parse(strings.Fields(line)[len(strings.Fields(line))-1]); err == nil {
			walk = append(walk, p)
		}
	}
	if len(walk) != 5 {
		t.Fatalf("interpolate wrote %d poems, want 5:\n%s", len(walk), stdout)
	}
	mu, _, err := m.Encode(ends)
	if err != nil {
		t.Fatal(err)
	}
	// The walk's ends are the poems' codes decoded greedily in the groups
	// the codes predict; a plain decoding of them is only a weak check,
	// TestCodeRhymeGroup the strong one.
	pros := m.Prosody()
	for i, z := range [][]float64{mu[0], mu[1]} {
		group, err := m.CodeRhymeGroup(z, nil)
		if err != nil || group == "" {
			t.Fatalf("poem %d: code rhyme group %q (%v)", i, group, err)
		}
		p := walk[4*i]
		want, err := m.Decode([][]float64{z}, model.DecodeOptions{Lines: 4, Greedy: true, Rhyme: true, RhymeFromCode: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.String() != want[0].String() {
			t.Errorf("the walk's end %d is %s, its code decoded in its group %s", i, p, want[0])
		}
		for _, l := range []int{1, 3} {
			if end := p.Line(l)[4]; !slices.Contains(pros.RhymeGroups(end), group) {
				t.Errorf("the walk's poem %d %s: line %d ends in %c, not in its code's group %s", 4*i, p, l+1, end, group)
			}
		}
	}
	var test strings.Builder
	for _, p := range sample[:10] {
		test.WriteString(p.String() + "\n")
	}
	writeFile(t, "test.txt", test.String())
	code, stdout, stderr = poetvae(t, "eval", "--is-k", "2", "--samples", "5", "--rhyme", "none", "--tones", "off", "test.txt")
	if code != 0 {
		t.Fatalf("eval: status %d\n%s", code, stderr)
	}
	for _, want := range []string{"the even lines in the rhyme group the code predicts", "rhyme group from another poem's code"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("eval does not say %q:\n%s", want, stdout)
		}
	}
}
