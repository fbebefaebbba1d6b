package model

import "math"

// Adam's decay rates of the moments, and the denominator's guard.
const adamBeta1, adamBeta2, adamEps = 0.9, 0.999, 1e-8

// adamStep applies one Adam update (Kingma & Ba 2015) with bias correction
// to w, in place, given its gradient scaled by scale (for norm clipping).
// The moments m and v live in float64 so that resuming from a checkpoint
// continues the same trajectory. Gorgonia's AdamSolver keeps its moments
// unexported, which rules out saving them; this is the whole algorithm.
func adamStep[F float32 | float64](w, grad []F, m, v []float64, scale, lr float64, step int) {
	c1 := 1 - math.Pow(adamBeta1, float64(step))
	c2 := 1 - math.Pow(adamBeta2, float64(step))
	inParallel(len(w), 1<<16, func(lo, hi int) {
		adamRange(w[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], scale, lr, c1, c2)
	})
}

// adamRange is the update of a range of weights, with the bias corrections
// c1 and c2 (a function, not the closure's body: see xentForwardRows).
func adamRange[F float32 | float64](w, grad []F, m, v []float64, scale, lr, c1, c2 float64) {
	for i := range w {
		g := float64(grad[i]) * scale
		m[i] = adamBeta1*m[i] + (1-adamBeta1)*g
		v[i] = adamBeta2*v[i] + (1-adamBeta2)*g*g
		w[i] -= F(lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + adamEps))
	}
}

// sumSquares is Σ g² in float64.
func sumSquares[F float32 | float64](g []F) float64 {
	var s float64
	for _, x := range g {
		s += float64(x) * float64(x)
	}
	return s
}
