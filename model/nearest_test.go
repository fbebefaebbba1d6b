package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	codes := [][]float64{
		{1, 0},  // 0
		{2, 0},  // 1: the direction of 0, twice as long
		{0, 1},  // 2
		{-1, 0}, // 3
		{0, 0},  // 4: no direction
		{1, 0},  // 5: a tie with 0
	}
	z := []float64{1, 0}
	tests := []struct {
		metric Metric
		k      int
		index  []int
		dist   []float64
	}{
		{Euclidean, 6, []int{0, 5, 1, 4, 2, 3}, []float64{0, 0, 1, 1, math.Sqrt2, 2}},
		{Cosine, 6, []int{0, 1, 5, 2, 4, 3}, []float64{0, 0, 0, 1, 1, 2}},
		{Cosine, 2, []int{0, 1}, []float64{0, 0}},
		{Euclidean, 100, []int{0, 5, 1, 4, 2, 3}, nil}, // k over the codes: all of them
		{Euclidean, 0, []int{}, nil},
	}
	for _, tt := range tests {
		got := Nearest(codes, z, tt.k, tt.metric)
		if len(got) != len(tt.index) {
			t.Errorf("%v, k=%d: %d neighbours, want %d", tt.metric, tt.k, len(got), len(tt.index))
			continue
		}
		for i, n := range got {
			if n.Index != tt.index[i] {
				t.Errorf("%v, k=%d: neighbour %d is code %d, want %d (%v)", tt.metric, tt.k, i, n.Index, tt.index[i], got)
			}
			if tt.dist != nil && math.Abs(n.Distance-tt.dist[i]) > 1e-12 {
				t.Errorf("%v: distance of code %d = %g, want %g", tt.metric, n.Index, n.Distance, tt.dist[i])
			}
		}
	}
	if got := Nearest(codes, []float64{0, 0}, 1, Cosine); got[0].Distance != 1 {
		t.Errorf("cosine distance from the zero code = %g, want 1", got[0].Distance)
	}
}

// TestNearestSelf: among random codes, each code is its own nearest
// neighbour, at distance 0 by either metric (not a hair below or above).
func TestNearestSelf(t *testing.T) {
	codes := randomCodes(500, 32, 1)
	for _, metric := range []Metric{Cosine, Euclidean} {
		for i := 0; i < len(codes); i += 37 {
			got := Nearest(codes, codes[i], 3, metric)
			if got[0].Index != i || got[0].Distance != 0 || got[1].Distance <= 0 {
				t.Errorf("%v: nearest code %d: %v", metric, i, got)
			}
		}
	}
}

func TestParseMetric(t *testing.T) {
	for _, m := range []Metric{Cosine, Euclidean} {
		if got, err := ParseMetric(m.String()); err != nil || got != m {
			t.Errorf("ParseMetric(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMetric("manhattan"); err == nil || !strings.Contains(err.Error(), "cosine or euclidean") {
		t.Errorf("ParseMetric(manhattan): %v", err)
	}
}

func randomCodes(n, d int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	codes := make([][]float64, n)
	for i := range codes {
		codes[i] = make([]float64, d)
		for j := range codes[i] {
			codes[i][j] = rng.NormFloat64()
		}
	}
	return codes
}

// BenchmarkNearest times a search of the 32-dimensional codes of 15,000
// poems, the size of a large corpus.
func BenchmarkNearest(b *testing.B) {
	codes := randomCodes(15000, 32, 3)
	z := randomCodes(1, 32, 4)[0]
	for _, metric := range []Metric{Cosine, Euclidean} {
		b.Run(metric.String(), func(b *testing.B) {
			for b.Loop() {
				Nearest(codes, z, 10, metric)
			}
		})
	}
}
