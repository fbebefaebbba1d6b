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
// It measures every code and keeps the k nearest as it goes, in a heap
// whose top is the farthest of them, so that a query of tens of thousands
// of codes sorts only the few it returns (sorting all 15,000 codes of a
// corpus took two of the milliseconds of every neighbors query). The order
// is by distance, then by place: a total order, which makes the k kept
// those that sorting them all would give.
func Nearest(codes [][]float64, z []float64, k int, metric Metric) []Neighbor {
	var distance func(c []float64) float64
	switch metric {
	case Cosine:
		zz := dot(z, z)
		distance = func(c []float64) float64 { return cosineDistance(c, z, dot(c, c), zz) }
	case Euclidean:
		distance = func(c []float64) float64 {
			var d float64
			for j, v := range c {
				d += (v - z[j]) * (v - z[j])
			}
			return math.Sqrt(d)
		}
	default:
		panic(fmt.Sprintf("model.Nearest: %v", metric))
	}
	k = min(max(k, 0), len(codes))
	near := make([]Neighbor, 0, k)
	if k == 0 {
		return near
	}
	for i, c := range codes {
		n := Neighbor{i, distance(c)}
		switch {
		case len(near) < k:
			near = append(near, n)
			siftUp(near, len(near)-1)
		case nearer(n, near[0]) < 0:
			near[0] = n
			siftDown(near, 0)
		}
	}
	slices.SortFunc(near, nearer)
	return near
}

// nearer orders neighbours by distance, then by place.
func nearer(a, b Neighbor) int {
	return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Index, b.Index))
}

// siftUp and siftDown keep h a heap whose every element is no nearer than
// its children, the farthest at the top, after h[i] came in or changed.
func siftUp(h []Neighbor, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if nearer(h[i], h[parent]) <= 0 {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func siftDown(h []Neighbor, i int) {
	for {
		far := i
		for _, child := range [2]int{2*i + 1, 2*i + 2} {
			if child < len(h) && nearer(h[child], h[far]) > 0 {
				far = child
			}
		}
		if far == i {
			return
		}
		h[i], h[far] = h[far], h[i]
		i = far
	}
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
