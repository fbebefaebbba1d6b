package noise

import (
	"math"
	"testing"
)

// splitmix64 seeded with 0 first returns mix64(0x9e3779b97f4a7c15), a value
// published with the generator (Steele, Lea & Flood 2014; Vigna's reference
// code): the hash is the real splitmix64 finaliser.
func TestMixIsSplitmix64(t *testing.T) {
	if got := mix64(0x9e3779b97f4a7c15); got != 0xe220a8397b1dcdaf {
		t.Fatalf("mix64 = %#x, want 0xe220a8397b1dcdaf", got)
	}
	if New(0, 1).Key() != 0xe220a8397b1dcdaf {
		t.Fatal("the key of step 1 under seed 0 is not the first splitmix64 output")
	}
}

func TestDropRateAndIndependence(t *testing.T) {
	const n = 200000
	for _, p := range []float64{0, 0.2, 0.5} {
		src := New(7, 3)
		th := Threshold(p)
		dropped, both := 0, 0
		for i := 0; i < n; i++ {
			a := src.Dropped(EncDropout, i, th)
			b := src.Dropped(DecDropout, i, th)
			if a {
				dropped++
			}
			if a && b {
				both++
			}
		}
		rate := float64(dropped) / n
		if math.Abs(rate-p) > 0.005 {
			t.Errorf("p=%g: dropped %.4f", p, rate)
		}
		if joint := float64(both) / n; math.Abs(joint-p*p) > 0.005 {
			t.Errorf("p=%g: streams not independent: joint rate %.4f, want %.4f", p, joint, p*p)
		}
	}
}

func TestNormalMoments(t *testing.T) {
	const n = 200000
	src := New(1, 0)
	var s, sq, q4 float64
	for i := 0; i < n; i++ {
		x := src.Normal(Eps, i)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("draw %d is %v", i, x)
		}
		s += x
		sq += x * x
		q4 += x * x * x * x
	}
	mean, variance, kurt := s/n, sq/n, q4/n
	if math.Abs(mean) > 0.01 || math.Abs(variance-1) > 0.02 || math.Abs(kurt-3) > 0.1 {
		t.Fatalf("mean %.4f variance %.4f fourth moment %.3f; want 0, 1, 3", mean, variance, kurt)
	}
}

func TestStepsDiffer(t *testing.T) {
	a, b := New(1, 0), New(1, 1)
	same := 0
	for i := 0; i < 1000; i++ {
		if a.Bits(Eps, i) == b.Bits(Eps, i) {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d of 1000 draws repeat between steps", same)
	}
	if New(1, 5).Bits(0, 9) != New(1, 5).Bits(0, 9) {
		t.Fatal("the same step, stream and index gave different bits")
	}
}
