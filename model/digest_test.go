package model

import (
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"poetvae/corpus"
)

func TestWeightsDigest(t *testing.T) {
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 4, Highway: 1, EncHidden: 4, DecHidden: 4, Latent: 2}
	m, err := NewModel(c, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	sum := m.WeightsDigest()
	if m.WeightsDigest() != sum {
		t.Fatal("WeightsDigest differs between two calls")
	}

	// Saved and read back: the same weights, the same digest, whatever
	// else the file holds.
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := (&Checkpoint{Model: m}).Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := ck.Model.WeightsDigest(); got != sum {
		t.Errorf("digest of the model read back = %x, want %x", got, sum)
	}
	ck.Model.Sampler = nil
	if got := ck.Model.WeightsDigest(); got != sum {
		t.Errorf("dropping the sampler changed the digest")
	}

	// One weight changed, another seed, another shape: another digest.
	d := ck.Model.Params.Values[3].Data().([]float32)
	d[0] += 1e-6
	if ck.Model.WeightsDigest() == sum {
		t.Error("changing a weight kept the digest")
	}
	m2, err := NewModel(c, v, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m2.WeightsDigest() == sum {
		t.Error("another seed, the same digest")
	}
	c.Latent = 3
	m3, err := NewModel(c, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m3.WeightsDigest() == sum {
		t.Error("another latent size, the same digest")
	}
	// In float64, the same values read differently: another digest too
	// (the encoder computes otherwise).
	m.Params = m.Params.As(tensor.Float64)
	if m.WeightsDigest() == sum {
		t.Error("float64 weights, the same digest")
	}
}

// BenchmarkWeightsDigest times the digest of the default model over about
// 6,000 characters.
func BenchmarkWeightsDigest(b *testing.B) {
	m := untrainedModel(b)
	for b.Loop() {
		m.WeightsDigest()
	}
}
