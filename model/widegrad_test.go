package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestGradientCheckWide spot-checks the gradient at the default width, where
// Gorgonia takes other code paths than on the tiny model: the largest and
// two random elements of every parameter tensor against central
// differences. TestLargeBatchGradient carries the result to the training
// batch size.
func TestGradientCheckWide(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	c := DefaultConfig(60, 4)
	p, err := NewParams(c, tensor.Float64, 5)
	if err != nil {
		t.Fatal(err)
	}
	const B = 4
	f := randomFeed(c, B, 8, true)
	f.FreeBits = 0
	gr, err := NewGraph(p, B)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	analytic, loss := gradients(t, gr, f)
	rng := rand.New(rand.NewPCG(1, 1))
	const h = 1e-5
	f0 := loss()
	for i, name := range p.Names {
		data := p.Values[i].Float64s()
		// the element with the largest gradient, and random others
		idx := []int{argmaxAbs(analytic[i])}
		for k := 0; k < 2; k++ {
			idx = append(idx, rng.IntN(len(data)))
		}
		var a, n []float64
		for _, j := range idx {
			orig := data[j]
			data[j] = orig + h
			up := loss()
			data[j] = orig - h
			down := loss()
			data[j] = orig
			if kink(up, f0, down, h) { // a ReLU switches within ±h: no derivative to compare
				continue
			}
			a = append(a, analytic[i][j])
			n = append(n, (up-down)/(2*h))
		}
		if e := relErr(a, n); e > 1e-4 {
			t.Errorf("%s: relative error %.3g (analytic %v, numeric %v)", name, e, a, n)
		}
	}
}

// kink reports whether the one-sided slopes around a point disagree, as
// they do where a ReLU switches between the two evaluation points.
func kink(up, mid, down, h float64) bool {
	right, left := (up-mid)/h, (mid-down)/h
	return math.Abs(right-left) > 1e-2*(math.Abs(right)+math.Abs(left))+1e-6
}

func argmaxAbs(v []float64) int {
	best := 0
	for i, x := range v {
		if math.Abs(x) > math.Abs(v[best]) {
			best = i
		}
	}
	return best
}

// TestLargeBatchGradient: the loss is a weighted sum over poems, so the
// gradient of a batch of 64 must equal the sum of the gradients of its 16
// slices of 4, computed by a graph of 4 rows (which the finite-difference
// checks cover). Large batches take other paths through Gorgonia: row
// offsets past 255 once got merged by its common-subexpression elimination.
func TestLargeBatchGradient(t *testing.T) {
	c := DefaultConfig(60, 4)
	p, err := NewParams(c, tensor.Float64, 5)
	if err != nil {
		t.Fatal(err)
	}
	const B, small = 64, 4
	f := randomFeed(c, B, 8, true)
	f.FreeBits = 0 // the floor acts on the batch's KL: not a sum over poems
	for b := range f.Weight {
		f.Weight[b] = 1 / float64(B)
	}
	big := testGraph(t, p, B)
	st := runGraph(t, big, f)
	want := make([][]float64, len(p.Values))
	for i := range want {
		want[i] = toFloat64(big.Grad(i).Data())
	}
	part := testGraph(t, p, small)
	sum := make([][]float64, len(p.Values))
	for i := range sum {
		sum[i] = make([]float64, len(want[i]))
	}
	var loss float64
	for first := 0; first < B; first += small {
		sf := runGraph(t, part, sliceFeed(c, f, first, small))
		loss += sf.NLL + f.Beta*sf.KL // free bits are 0: the KL term is linear
		for i := range sum {
			for j, g := range toFloat64(part.Grad(i).Data()) {
				sum[i][j] += g
			}
		}
	}
	if !close(st.Loss, loss, 1e-10) {
		t.Errorf("loss of the batch %.12g, sum over its slices %.12g", st.Loss, loss)
	}
	for i, name := range p.Names {
		if e := relErr(want[i], sum[i]); e > 1e-9 {
			t.Errorf("%s: batch gradient and sum over slices differ by %.3g", name, e)
		}
	}
}

// sliceFeed cuts rows first…first+n out of a time-major feed.
func sliceFeed(c Config, f *Feed, first, n int) *Feed {
	T, Td, Z, E, H := c.EncSteps(), c.DecSteps(), c.Latent, c.Embed, c.DecHidden
	s := &Feed{B: n, Beta: f.Beta, FreeBits: f.FreeBits}
	rows := func(src []int, steps int) []int {
		var out []int
		for t := 0; t < steps; t++ {
			out = append(out, src[t*f.B+first:t*f.B+first+n]...)
		}
		return out
	}
	wide := func(src []float64, steps, width int) []float64 {
		var out []float64
		for t := 0; t < steps; t++ {
			out = append(out, src[(t*f.B+first)*width:(t*f.B+first+n)*width]...)
		}
		return out
	}
	s.EncIDs, s.DecIDs, s.Targets = rows(f.EncIDs, T), rows(f.DecIDs, Td), rows(f.Targets, Td)
	s.Weight = f.Weight[first : first+n]
	s.Eps = f.Eps[first*Z : (first+n)*Z]
	s.EncMask, s.DecMask = wide(f.EncMask, T, E), wide(f.DecMask, Td, H)
	return s
}
