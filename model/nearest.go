package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Metric is how the distance between two latent codes is measured.
type Metric int

const (
	// Cosine is 1 − cos θ, θ the angle between the codes: 0 for codes
	// that point the same way, 1 for orthogonal ones, 2 for opposite
	// ones. It ignores the codes' lengths.
	Cosine Metric = iota
	// Euclidean is the straight-line distance between the codes.
	Euclidean
)

// metrics are the metrics ParseMetric reads.
var metrics = []Metric{Cosine, Euclidean}

func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case Euclidean:
		return "euclidean"
	}
	return fmt.Sprintf("Metric(%d)", int(m))
}

// ParseMetric reads a metric by its name: cosine or euclidean.
func ParseMetric(name string) (Metric, error) {
	for _, m := range metrics {
		if m.String() == name {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown metric %q: want cosine or euclidean", name)
}

// Neighbor is one of the codes nearest a query.
type Neighbor struct {
	Index    int // in the codes searched
	Distance float64
}

// Nearest returns the k codes nearest z (all of them when there are fewer),
// nearest first; codes at the same distance come in their order. Every
// code must have the length of z.
//
// It measures every code and sorts them all: for the tens of thousands of
// codes of a corpus that is a millisecond or two, far less than reading
// them, and it keeps the order of ties plain.
func Nearest(codes [][]float64, z []float64, k int, metric Metric) []Neighbor {
	all := make([]Neighbor, len(codes))
	switch metric {
	case Cosine:
		zz := dot(z, z)
		for i, c := range codes {
			all[i] = Neighbor{i, cosineDistance(c, z, dot(c, c), zz)}
		}
	case Euclidean:
		for i, c := range codes {
			var d float64
			for j, v := range c {
				d += (v - z[j]) * (v - z[j])
			}
			all[i] = Neighbor{i, math.Sqrt(d)}
		}
	default:
		panic(fmt.Sprintf("model.Nearest: %v", metric))
	}
	slices.SortFunc(all, func(a, b Neighbor) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Index, b.Index))
	})
	return all[:min(max(k, 0), len(all))]
}

// cosineDistance is 1 − cos θ of a and b, whose squared norms are aa and
// bb. It divides by √(aa·bb) rather than by the product of the norms so
// that a code is at distance exactly 0 from itself: then a·b = aa = bb,
// and √(aa²) is aa again. A zero code has no direction: it is taken to be
// orthogonal to every code, at distance 1. Rounding can put 1 − cos θ a
// hair outside [0, 2], which is clamped.
func cosineDistance(a, b []float64, aa, bb float64) float64 {
	if aa == 0 || bb == 0 {
		return 1
	}
	return min(max(1-dot(a, b)/math.Sqrt(aa*bb), 0), 2)
}

func dot(a, b []float64) float64 {
	var s float64
	for j, v := range a {
		s += v * b[j]
	}
	return s
}
