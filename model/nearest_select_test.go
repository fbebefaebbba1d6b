package model

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNearestKeepsSortOrder: the k nearest that Nearest keeps as it goes
// are those of sorting every code, ties (repeated codes, a zero code) and
// all, for every k.
func TestNearestKeepsSortOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	codes := make([][]float64, 300)
	for i := range codes {
		codes[i] = []float64{float64(rng.IntN(5)) - 2, float64(rng.IntN(5)) - 2, float64(rng.IntN(3))}
	}
	codes[17] = []float64{0, 0, 0}
	z := []float64{1, -1, 0.5}
	for _, metric := range []Metric{Cosine, Euclidean} {
		all := make([]Neighbor, len(codes))
		for i, c := range codes {
			d := cosineDistance(c, z, dot(c, c), dot(z, z))
			if metric == Euclidean {
				var s float64
				for j := range c {
					s += (c[j] - z[j]) * (c[j] - z[j])
				}
				d = math.Sqrt(s)
			}
			all[i] = Neighbor{i, d}
		}
		slices.SortFunc(all, func(a, b Neighbor) int {
			return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Index, b.Index))
		})
		for k := 0; k <= len(codes)+1; k++ {
			got := Nearest(codes, z, k, metric)
			if want := all[:min(k, len(all))]; !slices.Equal(got, want) {
				t.Fatalf("%v, k=%d: %v, want %v", metric, k, got, want)
			}
		}
	}
}
