package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpFast sweeps expFast's range, two million points evenly spaced and
// every float32 in a stride of 97 (prime to the mantissa's patterns) over
// (-1, 1) without its tiniest, and asserts a relative error of at most 1e-9
// against math.Exp.
func TestExpFast(t *testing.T) {
	worst, at := 0.0, 0.0
	check := func(x float64) {
		want := math.Exp(x)
		if rel := math.Abs(expFast(x)-want) / want; rel > worst || math.IsNaN(rel) {
			worst, at = rel, x
		}
	}
	for i := 0; i <= 1<<21; i++ {
		check(expFastMin + (expFastMax-expFastMin)*float64(i)/(1<<21))
	}
	for b := math.Float32bits(-1); b > math.Float32bits(-0x1p-20); b -= 97 {
		check(float64(math.Float32frombits(b)))
	}
	for b := math.Float32bits(0x1p-20); b < math.Float32bits(1); b += 97 {
		check(float64(math.Float32frombits(b)))
	}
	check(expFastMin)
	check(expFastMax)
	if !(worst <= 1e-9) {
		t.Errorf("expFast(%v): relative error %.3g, want ≤ 1e-9", at, worst)
	}
	t.Logf("largest relative error %.3g at %v", worst, at)
}

// TestExpFastExact checks values the reduction must hit exactly: powers of
// two reached through the table and through the exponent's bits.
func TestExpFastExact(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {math.Ln2 / 32, math.Exp2(1. / 32)}, {-math.Ln2 / 32, math.Exp2(-1. / 32)},
		{10 * math.Ln2, 1024}, {-20 * math.Ln2, 0x1p-20}, {-100 * math.Ln2, 0x1p-100},
	} {
		if got := expFast(c.x); math.Abs(got-c.want) > 1e-15*c.want {
			t.Errorf("expFast(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

// TestSoftmaxXentFloat32 checks the float32 cross-entropy, whose
// exponentials come from expFast, against the float64 one, whose come from
// math.Exp, on the same random logits (spread wide enough that some
// probabilities fall below float32's smallest normal, and one row past
// expFast's range): every loss and gradient element within float32's
// rounding.
//
// (expFast's own error is asserted by TestExpFast; this checks its use.)
func TestSoftmaxXentFloat32(t *testing.T) {
	const rows, cols = 40, 3000
	rng := rand.New(rand.NewPCG(3, 4))
	logits32, logits64 := make([]float32, rows*cols), make([]float64, rows*cols)
	for i := range logits32 {
		logits32[i] = float32(rng.NormFloat64() * 12)
	}
	// The float32 side adds a bias inside the op; the float64 side is given
	// the float32 sums as its logits and no bias, so that both start from
	// the same logits and a bias the float32 side ignored would show.
	bias32, bias64 := make([]float32, cols), make([]float64, cols)
	for j := range bias32 {
		bias32[j] = float32(rng.NormFloat64() * 2)
	}
	targets := make([]int, rows)
	grad32, grad64 := make([]float32, rows), make([]float64, rows)
	for n := range targets {
		targets[n] = rng.IntN(cols)
		grad32[n] = float32(rng.Float64() + 0.5)
		grad64[n] = float64(grad32[n])
	}
	// One row whose target stands 1,000 above the rest: their e^(v − lse)
	// lie below expFast's range, where math.Exp must take over.
	logits32[targets[0]] = 1000
	for i, v := range logits32 {
		logits64[i] = float64(v + bias32[i%cols])
	}
	nll32, nll64 := make([]float32, rows), make([]float64, rows)
	xentForward(nll32, logits32, bias32, targets, cols)
	xentForward(nll64, logits64, bias64, targets, cols)
	for n := range nll32 {
		if d := math.Abs(float64(nll32[n]) - nll64[n]); !(d <= 1e-6*math.Max(nll64[n], 1)) { // NaN fails too
			t.Errorf("loss of row %d: %v, float64 says %v", n, nll32[n], nll64[n])
		}
	}
	// The backward recovers each row's log-sum-exp from its loss, which
	// float32 holds to 2^-24 of its size: both sides start from those.
	for n, v := range nll32 {
		nll64[n] = float64(v)
	}
	dx32, dx64 := make([]float32, rows*cols), make([]float64, rows*cols)
	xentBackward(dx32, logits32, bias32, nll32, grad32, targets, cols)
	xentBackward(dx64, logits64, bias64, nll64, grad64, targets, cols)
	tiny := 0
	for i := range dx32 {
		if d := math.Abs(float64(dx32[i]) - dx64[i]); !(d <= 1e-6*math.Abs(dx64[i])+1e-12) {
			t.Fatalf("gradient element %d: %v, float64 says %v", i, dx32[i], dx64[i])
		}
		if dx64[i] != 0 && math.Abs(dx64[i]) < 0x1p-126 {
			tiny++
		}
	}
	if tiny == 0 {
		t.Fatal("no probability below float32's normals: the test misses expFast's range check")
	}
}

// BenchmarkSoftmaxXent times the cross-entropy's forward and backward on a
// default training step's logits (64 poems × 21 steps, 5,984 characters):
// float32 takes its exponentials from expFast, float64 from math.Exp.
func BenchmarkSoftmaxXent(b *testing.B) {
	b.Run("float32", func(b *testing.B) { benchXent[float32](b) })
	b.Run("float64", func(b *testing.B) { benchXent[float64](b) })
}

func benchXent[F float32 | float64](b *testing.B) {
	const rows, cols = 64 * 21, 5984
	rng := rand.New(rand.NewPCG(1, 2))
	logits, bias := make([]F, rows*cols), make([]F, cols)
	for i := range logits {
		logits[i] = F(rng.NormFloat64() * 3)
	}
	for j := range bias {
		bias[j] = F(rng.NormFloat64())
	}
	targets, nll, grad := make([]int, rows), make([]F, rows), make([]F, rows)
	for n := range targets {
		targets[n], grad[n] = rng.IntN(cols), 1
	}
	dx := make([]F, rows*cols)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			xentForward(nll, logits, bias, targets, cols)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			xentBackward(dx, logits, bias, nll, grad, targets, cols)
		}
	})
}

// sweep32 calls f with about four million float32s spread evenly over
// (lo, hi) and with every float32 in a stride of 97 over ±[2^-20, 1), and
// returns the largest relative error of f against want, and where.
func sweep32(lo, hi float64, f func(float32) float32, want func(float64) float64) (worst float64, at float32) {
	check := func(x float32) {
		w := want(float64(x))
		if math.Abs(w) < 0x1p-126 { // float32 holds no more than a few digits there
			return
		}
		if rel := math.Abs(float64(f(x))-w) / math.Abs(w); rel > worst || math.IsNaN(rel) {
			worst, at = rel, x
		}
	}
	for i := 0; i <= 1<<22; i++ {
		if x := float32(lo + (hi-lo)*float64(i)/(1<<22)); float64(x) > lo && float64(x) < hi {
			check(x)
		}
	}
	for b := math.Float32bits(0x1p-20); b < math.Float32bits(1); b += 97 {
		if x := math.Float32frombits(b); float64(x) > lo && float64(x) < hi {
			check(x)
			check(-x)
		}
	}
	return worst, at
}

// TestFloat32Functions asserts the bounds that fastmath.go states for the
// LSTM gates' functions, against math's float64 functions.
func TestFloat32Functions(t *testing.T) {
	for _, c := range []struct {
		name   string
		lo, hi float64
		f      func(float32) float32
		want   func(float64) float64
		bound  float64
	}{
		{"expFast32", -87, 87, expFast32, math.Exp, 2e-7},
		{"sigmoid32", -100, 100, sigmoid32, sigmoid64, 3e-7},
		{"tanh32", -20, 20, tanh32, math.Tanh, 4e-7},
	} {
		worst, at := sweep32(c.lo, c.hi, c.f, c.want)
		if !(worst <= c.bound) {
			t.Errorf("%s(%v): relative error %.3g, want ≤ %.3g", c.name, at, worst, c.bound)
		}
		t.Logf("%s: largest relative error %.3g at %v", c.name, worst, at)
	}
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, c := range []struct {
		name    string
		got     float32
		want    float32
		signbit bool
	}{
		{"sigmoid32(-Inf)", sigmoid32(-inf), 0, false}, {"sigmoid32(+Inf)", sigmoid32(inf), 1, false},
		{"tanh32(-Inf)", tanh32(-inf), -1, true}, {"tanh32(+Inf)", tanh32(inf), 1, false},
		{"tanh32(-0)", tanh32(float32(math.Copysign(0, -1))), 0, true}, {"tanh32(30)", tanh32(30), 1, false},
	} {
		if c.got != c.want || math.Signbit(float64(c.got)) != c.signbit {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, f := range []func(float32) float32{sigmoid32, tanh32} {
		if got := f(nan); got == got {
			t.Errorf("NaN in, %v out", got)
		}
	}
}

// BenchmarkLSTMGates times the gates of one LSTM step of the default
// decoder (64 poems × 256 units), forward and backward, on one core: at
// float32 on the functions above, at float64 on math's.
func BenchmarkLSTMGates(b *testing.B) {
	b.Run("float32", func(b *testing.B) { benchGates[float32](b) })
	b.Run("float64", func(b *testing.B) { benchGates[float64](b) })
}

func benchGates[F float32 | float64](b *testing.B) {
	const B, H = 64, 256
	n := B * H
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(size int, scale float64) []F {
		v := make([]F, size)
		for i := range v {
			v[i] = F(rng.NormFloat64() * scale)
		}
		return v
	}
	pre, cPrev, dhs := random(B*4*H, 2), random(n, 1), random(n, 0.1)
	state, dpre := make([]F, lstmBlocks*n), make([]F, B*4*H)
	dh, dc := make([]F, n), make([]F, n)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			lstmGates(pre, cPrev, state, 0, n, H, 0, B)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			lstmGatesBack(dpre, dh, dc, cPrev, state, dhs, 0, n, H, 0, B)
		}
	})
}
