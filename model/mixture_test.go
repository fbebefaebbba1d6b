package model

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// twoClusters draws n codes of size z, half around +3 and half around −3
// in the first dimension (spread 0.5), standard normal in the others.
func twoClusters(n, z int, rng *rand.Rand) [][]float64 {
	codes := make([][]float64, n)
	for i := range codes {
		codes[i] = make([]float64, z)
		for d := range codes[i] {
			codes[i][d] = rng.NormFloat64()
		}
		centre := 3.0
		if i%2 == 1 {
			centre = -3
		}
		codes[i][0] = centre + 0.5*rng.NormFloat64()
	}
	return codes
}

func TestFitMixtureFindsTheClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	codes := twoClusters(4000, 3, rng)
	mx, ll, err := FitMixture(codes, 2, rng)
	if err != nil {
		t.Fatal(err)
	}
	if err := mx.Validate(3); err != nil {
		t.Fatal(err)
	}
	means := []float64{mx.Means[0][0], mx.Means[1][0]}
	slices.Sort(means)
	if math.Abs(means[0]+3) > 0.1 || math.Abs(means[1]-3) > 0.1 {
		t.Errorf("component means in dimension 0 = %.3f, want about −3 and 3", means)
	}
	for k := range mx.Weights {
		if math.Abs(mx.Weights[k]-0.5) > 0.03 {
			t.Errorf("weight %d = %.3f, want about 0.5", k, mx.Weights[k])
		}
		if v := mx.Vars[k][0]; math.Abs(v-0.25) > 0.03 {
			t.Errorf("component %d variance in dimension 0 = %.3f, want about 0.25", k, v)
		}
		if v := mx.Vars[k][1]; math.Abs(v-1) > 0.1 {
			t.Errorf("component %d variance in dimension 1 = %.3f, want about 1", k, v)
		}
	}
	// The mixture must explain the codes better than one Gaussian can.
	one, ll1, err := FitMixture(codes, 1, rng)
	if err != nil {
		t.Fatal(err)
	}
	if !(ll > ll1+0.5) {
		t.Errorf("two components reach %.3f nats a code, one %.3f: want the two clearly better", ll, ll1)
	}
	if v := one.Vars[0][0]; math.Abs(v-9.25) > 0.5 { // 3² + 0.5²
		t.Errorf("one component's variance in dimension 0 = %.2f, want about 9.25", v)
	}
}

func TestMixtureSamplesFollowTheFit(t *testing.T) {
	mx := &Mixture{Weights: []float64{0.25, 0.75}, Means: [][]float64{{-5, 0}, {5, 1}}, Vars: [][]float64{{1, 1}, {0.04, 4}}}
	z := mx.Sample(20000, rand.New(rand.NewPCG(3, 4)))
	var right, sum, sq float64
	for _, c := range z {
		if c[0] > 0 {
			right++
			sum += c[1]
			sq += c[1] * c[1]
		}
	}
	if share := right / float64(len(z)); math.Abs(share-0.75) > 0.01 {
		t.Errorf("share from the second component = %.3f, want 0.75", share)
	}
	mean := sum / right
	if v := sq/right - mean*mean; math.Abs(mean-1) > 0.05 || math.Abs(v-4) > 0.15 {
		t.Errorf("second component's dimension 1: mean %.3f variance %.3f, want 1 and 4", mean, v)
	}
}

func TestMixtureLogDensity(t *testing.T) {
	// One standard component is the prior.
	mx := &Mixture{Weights: []float64{1}, Means: [][]float64{{0, 0, 0}}, Vars: [][]float64{{1, 1, 1}}}
	z := [][]float64{{0.3, -1.2, 2}}
	if got, want := mx.LogDensity(z[0]), PriorLogDensity(z); math.Abs(got-want) > 1e-9 {
		t.Errorf("log-density %v, prior's %v", got, want)
	}
	// Two equal halves of the same component: the same density.
	two := &Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{0, 0, 0}, {0, 0, 0}}, Vars: [][]float64{{1, 1, 1}, {1, 1, 1}}}
	if got, want := two.LogDensity(z[0]), mx.LogDensity(z[0]); math.Abs(got-want) > 1e-6 {
		t.Errorf("split component: %v, want %v", got, want)
	}
}

func TestFitMixtureRefusesTooFewCodes(t *testing.T) {
	if _, _, err := FitMixture(make([][]float64, 5), 3, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("5 codes fitted 3 components")
	}
	if _, _, err := FitMixture(make([][]float64, 5), 0, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("0 components accepted")
	}
}

func TestMixtureValidateRefusesNonsense(t *testing.T) {
	good := func() *Mixture {
		return &Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{0, 1}, {1, 0}}, Vars: [][]float64{{1, 1}, {1, 1}}}
	}
	if err := good().Validate(2); err != nil {
		t.Fatal(err)
	}
	for name, spoil := range map[string]func(*Mixture){
		"wrong size":        func(m *Mixture) { m.Means[1] = []float64{1} },
		"weights not one":   func(m *Mixture) { m.Weights[0] = 0.7 },
		"negative weight":   func(m *Mixture) { m.Weights = []float64{1.5, -0.5} },
		"zero variance":     func(m *Mixture) { m.Vars[0][1] = 0 },
		"NaN mean":          func(m *Mixture) { m.Means[0][0] = math.NaN() },
		"missing component": func(m *Mixture) { m.Vars = m.Vars[:1] },
	} {
		m := good()
		spoil(m)
		if err := m.Validate(2); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The fitted sampler is saved with the model, read back the same, and is
// what SampleLatent draws from; a model without one samples the prior.
func TestSamplerSavedLoadedAndSampled(t *testing.T) {
	poems := samplePoems(t, 20)
	m := smallSetup(t, poems, DefaultTrainConfig()).Model
	if _, err := FitSampler(m, poems, 2, 7); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := (&Checkpoint{Model: m}).Save(path); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := ck.Model.Sampler
	if got == nil {
		t.Fatal("the loaded model has no sampler")
	}
	if !slices.Equal(got.Weights, m.Sampler.Weights) || !slices.Equal(got.Means[1], m.Sampler.Means[1]) || !slices.Equal(got.Vars[0], m.Sampler.Vars[0]) {
		t.Error("the sampler changed on the way through the file")
	}
	a := ck.Model.SampleLatent(3, rand.New(rand.NewPCG(5, 5)))
	b := got.Sample(3, rand.New(rand.NewPCG(5, 5)))
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatal("SampleLatent does not draw from the sampler")
		}
	}
	ck.Model.Sampler = nil
	a = ck.Model.SampleLatent(3, rand.New(rand.NewPCG(5, 5)))
	b = ck.Model.SamplePrior(3, rand.New(rand.NewPCG(5, 5)))
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatal("without a sampler SampleLatent does not draw from the prior")
		}
	}
}
