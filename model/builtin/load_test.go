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
