package main

import (
	"slices"
	"strings"
	"testing"

	"poetvae/model"
)

// TestTrainCodeToOutput: a VAE feeds its code to the output layer unless
// told not to, a language model never does, and asking a language model
// for it is a usage error that says why.
func TestTrainCodeToOutput(t *testing.T) {
	inTempDir(t)
	for _, tt := range []struct {
		flags []string
		want  bool
	}{
		{nil, true},
		{[]string{"--code-to-output=false"}, false},
		{[]string{"--lm"}, false},
	} {
		args := slices.Concat(tinyTrain, []string{"--epochs", "1", "--no-keywords", "--force", "--out", "m.ckpt"}, tt.flags)
		if code, _, stderr := poetvae(t, args...); code != 0 {
			t.Fatalf("train %v: status %d\n%s", tt.flags, code, stderr)
		}
		ck, err := model.Load("m.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		if got := ck.Model.Config.CodeToOutput; got != tt.want {
			t.Errorf("train %v: code to output %v, want %v", tt.flags, got, tt.want)
		}
	}
	args := slices.Concat(tinyTrain, []string{"--lm", "--code-to-output", "--out", "lm.ckpt"})
	code, stdout, stderr := poetvae(t, args...)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "language model has no code") {
		t.Errorf("train --lm --code-to-output: status %d, stdout %q, stderr %q; want status 2 and why", code, stdout, stderr)
	}
}
