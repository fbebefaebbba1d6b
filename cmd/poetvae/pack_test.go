package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/model"
)

// TestPack: a packed model is smaller, stores float16 weights, keeps its
// theme as figures and no poem text, and still generates, on a theme too.
func TestPack(t *testing.T) {
	sample, err := filepath.Abs(sampleCorpus)
	if err != nil {
		t.Fatal(err)
	}
	inTempDir(t)
	src := sharedModel(t)
	orig, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if orig.Model.Keywords == nil {
		t.Fatal("the shared test model has no keyword index to pack")
	}
	code, stdout, stderr := poetvae(t, "pack", "--model", src, "--out", "small.ckpt", "--min-poems", "3", "--valid", sample)
	if code != 0 {
		t.Fatalf("pack: status %d: %s", code, stderr)
	}
	for _, w := range []string{"wrote small.ckpt", "float16 weights", "keywords as figures", "no poem text", "greedy reconstructions of the 137 validation poems"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("pack said %q, want it to mention %q", stdout, w)
		}
	}
	ck, err := model.Load("small.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if !ck.Float16 || ck.Train != nil || ck.Model.Keywords != nil || ck.Model.Poems != nil || ck.Model.Themes == nil {
		t.Fatalf("packed: float16 %v, train %v, keywords %v, %d poems, themes %v", ck.Float16, ck.Train != nil, ck.Model.Keywords, len(ck.Model.Poems), ck.Model.Themes != nil)
	}
	data, err := os.ReadFile("small.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := os.Stat(src)
	if int64(len(data)) >= full.Size()/2 {
		t.Errorf("packed %d bytes, the original %d: want under half (no optimiser state, half-size weights)", len(data), full.Size())
	}
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range poems {
		if bytes.Contains(data, []byte(string(p.Line(0))+string(p.Line(1)))) {
			t.Fatalf("the packed model holds the text of %s", p)
		}
	}
	if code, out, stderr := poetvae(t, "generate", "--model", "small.ckpt", "--count", "2", "--seed", "1", "--theme", "明月"); code != 0 || strings.Count(out, "\n") != 2 ||
		!strings.Contains(stderr, "sampling from the figures") {
		t.Errorf("generate --theme with the packed model: status %d, %q, stderr %q", code, out, stderr)
	}

	// The same model packs to the same bytes (make model's promise).
	if code, _, stderr := poetvae(t, "pack", "--model", src, "--out", "again.ckpt", "--min-poems", "3"); code != 0 {
		t.Fatalf("pack again: status %d: %s", code, stderr)
	}
	if again, err := os.ReadFile("again.ckpt"); err != nil || !bytes.Equal(again, data) {
		t.Errorf("packing the same model twice gave different files (%v)", err)
	}

	// Refusals: an existing --out, a corpus for a model with its own
	// index, the built-in model.
	if code, _, stderr := poetvae(t, "pack", "--model", src, "--out", "small.ckpt"); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("pack over an existing file: status %d, stderr %q", code, stderr)
	}
	if code, _, stderr := poetvae(t, "pack", "--model", src, "--out", "x.ckpt", sample); code != 2 || !strings.Contains(stderr, "keyword index of its own") {
		t.Errorf("pack with a corpus for an indexed model: status %d, stderr %q", code, stderr)
	}
	if code, _, stderr := poetvae(t, "pack", "--out", "x.ckpt"); code != 2 || !strings.Contains(stderr, "built-in model cannot be changed") {
		t.Errorf("pack of the built-in model: status %d, stderr %q", code, stderr)
	}
}
