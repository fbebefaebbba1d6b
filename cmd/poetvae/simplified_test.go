package main

import (
	"bytes"
	"testing"

	"poetvae/corpus"
)

func TestSimplifiedWriter(t *testing.T) {
	var b bytes.Buffer
	w := simplifiedWriter{&b}
	in := "舉頭望明月，低頭思故鄉。\n"
	n, err := w.Write([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(in))
	}
	if got, want := b.String(), "举头望明月，低头思故乡。\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

// TestGenerateSimplified: --simplified writes the same poems, converted.
func TestGenerateSimplified(t *testing.T) {
	inTempDir(t)
	model := sharedModel(t)
	for _, args := range [][]string{
		{"generate", "--model", model, "--count", "3", "--seed", "5"},
		{"interpolate", "--model", model, "--steps", "2", jingYeSi, dengGuanQ},
		{"reconstruct", "--model", model, "--json", chunXiao},
	} {
		code, plain, stderr := poetvae(t, args...)
		if code != 0 {
			t.Fatalf("%v: status %d: %s", args, code, stderr)
		}
		code, simp, stderr := poetvae(t, append(args[:1:1], append([]string{"--simplified"}, args[1:]...)...)...)
		if code != 0 {
			t.Fatalf("%v --simplified: status %d: %s", args, code, stderr)
		}
		want, err := corpus.Simplify(plain)
		if err != nil {
			t.Fatal(err)
		}
		if simp != want {
			t.Errorf("%v --simplified wrote\n%s\nwant\n%s", args, simp, want)
		}
	}
}
