package model

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

// sampleRhymes learns rhyme classes from the sample corpus: few poems, but
// classes enough to steer the decoder by.
func sampleRhymes(t *testing.T) *poetry.RhymeClasses {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	rc := poetry.LearnRhymes(poems, poetry.LearnOptions{MinPoems: 1, MinLift: 2})
	if rc.Len() < 2 {
		t.Fatalf("%d rhyme classes from the sample: too few to test with", rc.Len())
	}
	return rc
}

// TestRhymeClassesSteerDecoding: a model with rhyme classes and no
// prosody in the options rhymes its even lines by its classes; the same
// model without them rhymes by Mandarin finals.
func TestRhymeClassesSteerDecoding(t *testing.T) {
	m := constraintModel(t)
	rc := sampleRhymes(t)
	m.SetRhymes(rc)
	if m.Prosody() == poetry.NewProsody() {
		t.Fatal("a model with rhyme classes judges by Mandarin finals")
	}
	z := m.SamplePrior(20, rand.New(rand.NewPCG(1, 1)))
	poems, err := m.Decode(z, DecodeOptions{Lines: 4, Temperature: 1, Rhyme: true}, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range poems {
		a, b := p.Line(1)[4], p.Line(3)[4]
		ca, okA := rc.Class(a)
		cb, okB := rc.Class(b)
		if !okA || !okB || ca != cb {
			t.Errorf("%s: lines 2 and 4 end in %c and %c, not in one learned class", p, a, b)
		}
	}
	m.SetRhymes(nil)
	if m.Prosody() != poetry.NewProsody() {
		t.Error("a model without rhyme classes does not judge by Mandarin finals")
	}
	poems, err = m.Decode(z, DecodeOptions{Lines: 4, Temperature: 1, Rhyme: true}, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	pros := poetry.NewProsody()
	for _, p := range poems {
		if !pros.Rhymes(p.Line(1)[4], p.Line(3)[4]) {
			t.Errorf("%s: lines 2 and 4 do not rhyme by Mandarin finals", p)
		}
	}
}

// TestRhymeClassesInCheckpoint: the classes survive a save and a load, and
// the loaded model judges by them; a model without them loads without.
func TestRhymeClassesInCheckpoint(t *testing.T) {
	m := constraintModel(t)
	rc := sampleRhymes(t)
	m.SetRhymes(rc)
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := (&Checkpoint{Model: m}).Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := ck.Model.Rhymes
	if got == nil || got.Len() != rc.Len() {
		t.Fatalf("loaded %v classes, saved %d", got, rc.Len())
	}
	for i := 0; i < rc.Len(); i++ {
		if string(got.Members(i)) != string(rc.Members(i)) {
			t.Errorf("class %d: loaded %q, saved %q", i, string(got.Members(i)), string(rc.Members(i)))
		}
	}
	member := rc.Members(0)[0]
	if groups := ck.Model.Prosody().RhymeGroups(member); len(groups) != 1 || groups[0] != rc.Name(0) {
		t.Errorf("the loaded model puts %c in %v, want [%s]", member, groups, rc.Name(0))
	}
	m.SetRhymes(nil)
	if err := (&Checkpoint{Model: m}).Save(path); err != nil {
		t.Fatal(err)
	}
	if ck, err = Load(path); err != nil || ck.Model.Rhymes != nil {
		t.Errorf("a model saved without classes loads with %v (%v)", ck.Model.Rhymes, err)
	}
}
