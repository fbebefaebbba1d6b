package main

import (
	"slices"
	"strings"
	"testing"

	"poetvae/model"
)

// TestTrainFromLM: train --from-lm starts a VAE from a language model of
// the same poems and records it in the run's state; what cannot start
// that way is a usage error that says why, before any training.
func TestTrainFromLM(t *testing.T) {
	inTempDir(t)
	lm := slices.Concat(tinyTrain, []string{"--epochs", "1", "--no-keywords", "--lm", "--out", "lm.ckpt"})
	if code, _, stderr := poetvae(t, lm...); code != 0 {
		t.Fatalf("train --lm: status %d\n%s", code, stderr)
	}
	vae := slices.Concat(tinyTrain, []string{"--epochs", "1", "--no-keywords", "--out", "vae.ckpt", "--from-lm", "lm.ckpt"})
	if code, _, stderr := poetvae(t, vae...); code != 0 {
		t.Fatalf("train --from-lm: status %d\n%s", code, stderr)
	}
	ck, err := model.Load("vae.last.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if ck.Train == nil || ck.Train.Config.FromLM != "lm.ckpt" {
		t.Errorf("the run's state does not record the language model it started from: %+v", ck.Train)
	}

	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--from-lm", "vae.ckpt"}, "not a language model"},
		{[]string{"--from-lm", "lm.ckpt", "--dec-hidden", "12"}, "decoder 16"},
		{[]string{"--from-lm", "lm.ckpt", "--lm"}, "give one"},
		{[]string{"--from-lm", "lm.ckpt", "--epochs", "3", "--pretrain-epochs", "1"}, "undo --from-lm"},
		{[]string{"--from-lm", ""}, "must name a file"},
		{[]string{"--from-lm", "missing.ckpt"}, "missing.ckpt"},
		{[]string{"--from-lm", "."}, "is a directory"},
	} {
		args := slices.Concat(tinyTrain, []string{"--no-keywords", "--force", "--out", "other.ckpt"}, tt.flags)
		code, _, stderr := poetvae(t, args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("train %v: status %d, stderr %q; want an error holding %q", tt.flags, code, stderr, tt.want)
		}
	}
}
