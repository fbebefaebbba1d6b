package model

import (
	"math/rand/v2"
	"runtime"
	"testing"
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
