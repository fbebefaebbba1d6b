package model

import (
	"testing"

	"gorgonia.org/tensor"
)

// TestFloat32GradientsMatchFloat64: training runs in float32; its gradients
// must be those of the float64 graph (checked against finite differences)
// up to float32 rounding, at the default width.
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	c := DefaultConfig(60, 4)
	p64, err := NewParams(c, tensor.Float64, 5)
	if err != nil {
		t.Fatal(err)
	}
	p32 := p64.As(tensor.Float32)
	p64 = p32.As(tensor.Float64) // identical values in both
	const B = 8
	f := randomFeed(c, B, 8, true)
	g64, g32 := testGraph(t, p64, B), testGraph(t, p32, B)
	s64, s32 := runGraph(t, g64, f), runGraph(t, g32, f)
	if !close(s64.Loss, s32.Loss, 1e-5) {
		t.Errorf("loss %g in float64, %g in float32", s64.Loss, s32.Loss)
	}
	for i, name := range p64.Names {
		if e := relErr(toFloat64(g32.Grad(i).Data()), toFloat64(g64.Grad(i).Data())); e > 1e-4 {
			t.Errorf("%s: float32 gradient differs from float64 by %.3g", name, e)
		}
	}
}

// TestGraphRerun: a graph run on one batch and then another gives the
// second batch exactly what a fresh graph gives it: nothing leaks between runs.
func TestGraphRerun(t *testing.T) {
	c := DefaultConfig(60, 4)
	p, err := NewParams(c, tensor.Float32, 5)
	if err != nil {
		t.Fatal(err)
	}
	const B = 8
	a, b := randomFeed(c, B, 1, true), randomFeed(c, B, 2, true)
	used, _ := NewGraph(p, B)
	defer used.Close()
	fresh, _ := NewGraph(p, B)
	defer fresh.Close()
	if _, err := used.Run(a); err != nil {
		t.Fatal(err)
	}
	su, err := used.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := fresh.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	if su != sf {
		t.Errorf("second run %+v, fresh run %+v", su, sf)
	}
	for i, name := range p.Names {
		if e := relErr(toFloat64(used.Grad(i).Data()), toFloat64(fresh.Grad(i).Data())); e != 0 {
			t.Errorf("%s: gradient after a previous run differs by %.3g", name, e)
		}
	}
}
