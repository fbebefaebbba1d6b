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

// fastMathFor reports whether F's engine takes its exponentials and the
// LSTM gates' functions from this file: float32's does; float64's, which
// the gradient checks use, keeps math's.
func fastMathFor[F float32 | float64]() bool {
	var zero F
	_, ok := any(zero).(float32)
	return ok
}

// The LSTM's gates at float32: sigmoid32 and tanh32, on expFast32, which
// computes in float32 throughout. A step's gates take five of them for
// every hidden unit of every poem forward (three sigmoids, two tanh) and
// one tanh backward. With math.Exp and math.Tanh, the gates of one
// step of the default decoder (64 poems × 256 units) took 1.19 ms forward
// and 0.40 ms backward on one core; with these, 0.49 and 0.19 ms
// (BenchmarkLSTMGates/float32, medians of five interleaved runs).
//
// Two things make them fast. Their arithmetic is short and stays in
// float32. And no float32 is converted to float64 in the loops that call
// them: on amd64 that conversion writes half a register and waits for the
// instruction that last wrote the rest of it, which in a loop of calls is
// often the previous call's result, chaining every call to the one before
// (math.Tanh took 29 ns an element so, and 10 ns on float64s). Called with
// a float32 loaded from memory, a function starts on a fresh register.

// expFast32 is e^x for x in (-87, 87), computed in float32 as expFast is
// in float64: within 2e-7 relative (about three units in the last place).
func expFast32(x float32) float32 {
	const (
		log2e32 = float32(32 * math.Log2E)
		round   = float32(0x1.8p23) // rounds |v| < 2^22 to an integer, as in expFast
		// ln 2 / 32 in two parts, the first with 11 significant bits so
		// that k times it is exact for every k of the range.
		ln2by32Hi = float32(0x1.62ep-6)
		ln2by32Lo = float32(math.Ln2/32 - 0x1.62ep-6)
	)
	kr := x*log2e32 + round
	k := kr - round
	r := x - k*ln2by32Hi - k*ln2by32Lo
	p := 1 + r*(1+r*(1./2+r*(1./6)))
	bits := math.Float32bits(kr)
	return p * exp2Fractions32[bits&31] * math.Float32frombits((bits>>5+127)<<23)
}

// exp2Fractions32[j] is 2^(j/32) rounded to float32.
var exp2Fractions32 = func() (t [32]float32) {
	for j := range t {
		t[j] = float32(exp2Fractions[j])
	}
	return t
}()

// sigmoid32 is 1 / (1 + e^-x) within 3e-7 relative.
func sigmoid32(x float32) float32 {
	if x > -87 && x < 87 {
		return 1 / (1 + expFast32(-x))
	}
	return float32(sigmoid64(float64(x))) // saturated, or NaN
}

// tanh32 is tanh x within 4e-7 relative: by its Taylor series near 0,
// where (1 − e^-2|x|) / (1 + e^-2|x|) would lose digits to cancellation,
// and ±1 from 9 on, where float32 can hold nothing else.
func tanh32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	var t float32
	switch {
	case a < 0.25:
		s := a * a // the series' next term, 1382a¹¹/155925, is below 1e-8·a
		t = a * (1 + s*(-1./3+s*(2./15+s*(-17./315+s*(62./2835)))))
	case a < 9:
		e := expFast32(-2 * a)
		t = (1 - e) / (1 + e)
	case a >= 9:
		t = 1
	default:
		return x // NaN
	}
	return math.Float32frombits(math.Float32bits(t) | math.Float32bits(x)&(1<<31))
}

// sigmoid64 is 1 / (1 + e^-x) in float64, exactly as math.Exp gives it.
func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
