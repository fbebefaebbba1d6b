package model

import (
	"slices"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

// TestCodeToOutput: a model whose code feeds its output layer starts as
// one without the path (out.Wz at zero), ResetDecoder takes the path back
// to zero with the rest of the decoder, and a saved model loads with the
// path and decodes as before.
func TestCodeToOutput(t *testing.T) {
	poems := samplePoems(t, 12)
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 1, EncHidden: 6, DecHidden: 7, Latent: 3, CodeToOutput: true}
	m, err := NewModel(c, v, 4)
	if err != nil {
		t.Fatal(err)
	}
	if w := m.Params.Get("out.Wz").Data().([]float32); slices.ContainsFunc(w, func(x float32) bool { return x != 0 }) {
		t.Fatal("a new model's out.Wz is not zero")
	}
	// Large enough to outweigh the unigram bias of an untrained model.
	randomCodeToOutput(m.Params, 4)
	wz := m.Params.index["out.Wz"]
	big := m.Params.Float64s(wz)
	for i := range big {
		big[i] *= 40
	}
	m.Params.set(wz, big)
	mu, _, err := posteriors(m, poems)
	if err != nil {
		t.Fatal(err)
	}
	before, err := greedyDecode(m, mu)
	if err != nil {
		t.Fatal(err)
	}

	ck, err := LoadBytes("test.ckpt", saveBytes(t, &Checkpoint{Model: m}))
	if err != nil {
		t.Fatal(err)
	}
	loaded := ck.Model
	if !loaded.Config.CodeToOutput {
		t.Fatal("the loaded model lost its code-to-output path")
	}
	after, err := greedyDecode(loaded, mu)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if before[i].String() != after[i].String() {
			t.Errorf("poem %d: %s before saving, %s after loading", i, before[i], after[i])
		}
	}

	// The path changes what is decoded: without it, some poem differs.
	loaded.Params.set(loaded.Params.index["out.Wz"], make([]float64, c.Latent*c.Vocab))
	loaded.Refresh()
	without, err := greedyDecode(loaded, mu)
	if err != nil {
		t.Fatal(err)
	}
	if slices.EqualFunc(before, without, func(a, b poetry.Poem) bool { return a.String() == b.String() }) {
		t.Error("out.Wz changes no greedy poem: the decoder does not read it")
	}

	if err := ResetDecoder(m, 4); err != nil {
		t.Fatal(err)
	}
	if w := m.Params.Get("out.Wz").Data().([]float32); slices.ContainsFunc(w, func(x float32) bool { return x != 0 }) {
		t.Error("ResetDecoder left out.Wz as trained")
	}
}
