package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestGradientCheckWide spot-checks the gradient at the default width, where
// Gorgonia takes other code paths than on the tiny model: a few random
// elements of every parameter tensor against central differences.
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
	if _, err := gr.Run(f); err != nil {
		t.Fatal(err)
	}
	analytic := make([][]float64, len(p.Values))
	for i := range p.Values {
		analytic[i] = toFloat64(gr.Grad(i).Data())
	}
	loss := func() float64 {
		s, err := gr.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		return s.Loss
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const h = 1e-5
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
			a = append(a, analytic[i][j])
			n = append(n, (up-down)/(2*h))
		}
		if e := relErr(a, n); e > 1e-4 {
			t.Errorf("%s: relative error %.3g (analytic %v, numeric %v)", name, e, a, n)
		}
	}
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
