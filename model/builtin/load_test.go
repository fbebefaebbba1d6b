//go:build !nobuiltin

package builtin_test

import (
	"testing"

	"poetvae/model"
	"poetvae/model/builtin"
)

// BenchmarkLoad measures reading the built-in model, which every command
// that uses it pays before its first poem.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := model.LoadBytes(builtin.Name, builtin.Checkpoint); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChecksum: the built-in model's bytes match their checksum, which the
// commands that use it do not compute (model.LoadOptions.Trusted): the
// build that embeds them is what this test checks.
func TestChecksum(t *testing.T) {
	if _, err := model.LoadBytes(builtin.Name, builtin.Checkpoint); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLoadTrusted measures reading it as the commands do, and
// BenchmarkLoadEncoder as neighbors does.
func BenchmarkLoadTrusted(b *testing.B) {
	for b.Loop() {
		if _, err := model.LoadBytesFor(builtin.Name, builtin.Checkpoint, model.LoadOptions{Trusted: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadEncoder(b *testing.B) {
	for b.Loop() {
		if _, err := model.LoadBytesFor(builtin.Name, builtin.Checkpoint, model.LoadOptions{Trusted: true, EncoderOnly: true}); err != nil {
			b.Fatal(err)
		}
	}
}
