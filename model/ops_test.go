package model

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

// TestColumnSums checks the bias gradient's column sums, split over four
// workers, against one pass adding the rows in order: equal bit for bit,
// with the columns' split falling inside the rows.
func TestColumnSums(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const rows, cols = 37, 4*columnsPerCore + 3
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	want := make([]float32, cols)
	for r := range rows {
		for j := range want {
			want[j] += x[r*cols+j]
		}
	}
	got := make([]float32, cols)
	columnSums(got, x)
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("column %d: %v, want %v", j, got[j], want[j])
		}
	}
}

// TestNLLAnyCores checks that the forward pass's per-poem NLL, whose rows'
// LSTM cells and log-sum-exps the cores share, is the same bit for bit on
// one core as on four.
func TestNLLAnyCores(t *testing.T) {
	c := Config{Vocab: 300, Lines: 2, Embed: 8, Highway: 1, EncHidden: 8, DecHidden: 8, Latent: 3}
	p, err := NewParams(c, tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	const B = 4*max(nllRowsPerCore, cellRowsPerCore) + 5
	f := randomFeed(c, B, 3, false)
	nll := func(cores int) []float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
		return NewNet(p).NLL(f.Eps, f.DecIDs, f.Targets, B)
	}
	one, four := nll(1), nll(4)
	for b := range one {
		if one[b] != four[b] || one[b] <= 0 {
			t.Fatalf("poem %d: NLL %v on one core, %v on four", b, one[b], four[b])
		}
	}
}
