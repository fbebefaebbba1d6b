package model

import "math"

// expFast is e^x for x in [expFastMin, expFastMax] with a relative error
// below 6e-10, far inside float32's rounding. The float32 engine's softmax
// cross-entropy takes its exponentials here: two for every logit of every
// step (5,984 characters × 64 poems × 21 steps), the largest cost of a CPU
// training step after the matrix products. The compiler inlines it into
// the loops, where math.Exp is a call into assembly: BenchmarkSoftmaxXent's
// float32 forward and backward take 17 and 14 ms, against 31 and 29 ms
// with math.Exp (two cores, medians of five interleaved runs).
// float64, kept for the gradient checks, which need every bit, keeps
// math.Exp.
//
// It must stay within the inliner's budget (go build -gcflags=-m shows
// "can inline expFast"): the call would cost much of what it saves.
func expFast(x float64) float64 {
	const (
		log2e32 = 32 * math.Log2E
		ln2by32 = math.Ln2 / 32
		// Adding 1.5·2^52 rounds a float64 of magnitude below 2^51 to an
		// integer, which then sits in the low bits of the sum's mantissa.
		round = 0x1.8p52
	)
	// e^x = 2^(k/32) · e^r with k = round(32x / ln 2) and |r| ≤ ln 2 / 64,
	// where 1 + r + r²/2 + r³/6 is within r⁴/24 < 5.8e-10 of e^r. 2^(k/32)
	// is 2^(k div 32), put straight into the exponent's bits, times
	// 2^((k mod 32)/32) from the table. The low bits of kr's mantissa hold
	// k + 2^51, so bits&31 is k mod 32, and bits>>5 is k div 32 plus bits
	// that the shift by 52 pushes out.
	kr := x*log2e32 + round
	k := kr - round
	r := x - k*ln2by32
	p := 1 + r*(1+r*(1./2+r*(1./6)))
	bits := math.Float64bits(kr)
	return p * exp2Fractions[bits&31] * math.Float64frombits((bits>>5+1023)<<52)
}

// expFast's range: where its bit arithmetic builds a normal float64 (e^x
// from about 1e-307 to 1e307, far past float32's 1e-38 to 3e38). Outside
// it, and for NaN, callers take math.Exp.
const (
	expFastMin = -1020 * math.Ln2
	expFastMax = 1020 * math.Ln2
)

// exp2Fractions[j] is 2^(j/32).
var exp2Fractions = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// fastExpFor reports whether F's engine takes its softmax exponentials from
// expFast: float32's does, float64's keeps math.Exp.
func fastExpFor[F float32 | float64]() bool {
	var zero F
	_, ok := any(zero).(float32)
	return ok
}
