package model

import (
	"fmt"
	"math"
)

// Annealing schedules for β, the weight of the KL term. Starting β at 0 lets
// the decoder learn to use z before the KL term pulls q(z|x) to the prior
// (Bowman et al. 2016); the cyclical schedule repeats the ramp so the
// encoder gets several chances (Fu et al. 2019).
const (
	AnnealNone     = "none"     // β = 1 from the start
	AnnealLinear   = "linear"   // 0 → 1 over the anneal length, then 1
	AnnealSigmoid  = "sigmoid"  // logistic curve centred on half the anneal length
	AnnealCyclical = "cyclical" // cycles of the anneal length: a linear ramp over the first half, then 1
)

// Beta returns β at a training step (0-based) for a schedule of the given length.
func Beta(schedule string, length, step int) (float64, error) {
	if length < 1 {
		length = 1
	}
	x := float64(step) / float64(length)
	switch schedule {
	case AnnealNone:
		return 1, nil
	case AnnealLinear:
		return math.Min(1, x), nil
	case AnnealSigmoid:
		return 1 / (1 + math.Exp(-12*(x-0.5))), nil
	case AnnealCyclical:
		phase := x - math.Floor(x)
		return math.Min(1, 2*phase), nil
	}
	return 0, fmt.Errorf("unknown KL annealing %q (want linear, sigmoid, cyclical or none)", schedule)
}
