package model

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestFitGradient checks the gradient that FitCodes descends, the
// decoder's −log p(x|z) under teacher forcing plus the rhyme loss, against
// central finite differences, on a small random model of four lines.
func TestFitGradient(t *testing.T) {
	c := tinyConfig()
	c.Lines, c.Latent, c.DecHidden, c.RhymeChars = 4, 3, 5, true
	t.Run("plain", func(t *testing.T) { checkFitGradient(t, c) })
	c.CodeToOutput = true
	t.Run("code to output", func(t *testing.T) { checkFitGradient(t, c) })
}

func checkFitGradient(t *testing.T, c Config) {
	p, err := NewParams(c, tensor.Float64, 7)
	if err != nil {
		t.Fatal(err)
	}
	randomCodeToOutput(p, 7)
	n := NewNet(p)
	bow := n.bowWeights(p)
	const B = 2
	f := randomFeed(c, B, 3, false)
	Td, Z := c.DecSteps(), c.Latent
	decIn, targets := make([]int, B*Td), make([]int, B*Td)
	for b := range B { // the feed is time-major; the decoder batch-major
		for s := range Td {
			decIn[b*Td+s], targets[b*Td+s] = f.DecIDs[s*B+b], f.Targets[s*B+b]
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	z := make([]float64, B*Z)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	loss := func(z []float64) ([]float64, []float64) {
		f, g := n.nllGradZ(z, decIn, targets, B)
		addBagLoss(f, g, z, bow, c, targets, B)
		return f, g
	}
	f0, g := loss(z)
	if nll := n.NLL(z, decIn, targets, B); math.Abs(nll[0]+nll[1]-f0[0]-f0[1]) < 1e-6 {
		t.Fatalf("the rhyme loss adds nothing to −log p(x|z) %v: %v", nll, f0)
	}
	const h = 1e-5
	for i := range z {
		zp, zm := append([]float64(nil), z...), append([]float64(nil), z...)
		zp[i] += h
		zm[i] -= h
		fp, _ := loss(zp)
		fm, _ := loss(zm)
		b := i / Z // only poem b's loss depends on its code
		want := (fp[b] - fm[b]) / (2 * h)
		if math.Abs(g[i]-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("d loss/d z[%d] = %.9f, finite differences %.9f", i, g[i], want)
		}
	}
	// Without the rhyme loss the objective is NLL's, value for value.
	plain, _ := n.nllGradZ(z, decIn, targets, B)
	nll := n.NLL(z, decIn, targets, B)
	for b := range B {
		if math.Abs(plain[b]-nll[b]) > 1e-9 {
			t.Errorf("poem %d: nllGradZ's −log p(x|z) %.9f, NLL's %.9f", b, plain[b], nll[b])
		}
	}
}

// TestFitCodes: on a model trained for a little while, fitting lowers every
// poem's objective, leaves the codes at the posterior means with no steps,
// and rebuilds the poems at least as well as the means do.
func TestFitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	poems := samplePoems(t, 40)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.LR = 8, 15, 1e-2
	tr := smallSetup(t, poems, tc)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := tr.Model
	mu, _, err := m.Encode(poems)
	if err != nil {
		t.Fatal(err)
	}
	same, _, _, err := m.FitCodes(poems, FitOptions{Steps: 0, LR: 0.1, PriorWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range poems {
		for d := range mu[i] {
			if same[i][d] != mu[i][d] {
				t.Fatalf("poem %d: no steps moved the code from its mean (%v, %v)", i, same[i], mu[i])
			}
		}
	}
	z, before, after, err := m.FitCodes(poems, FitOptions{Steps: 60, LR: 0.1, PriorWeight: 0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range poems {
		if !(after[i] < before[i]) {
			t.Errorf("poem %d: fitting its code took −log p(x|z) from %.3f to %.3f", i, before[i], after[i])
		}
	}
	fromMean, err := m.Decode(mu, reconOptions(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFit, err := m.Decode(z, reconOptions(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	meanShare, fitShare := charsRecovered(poems, fromMean), charsRecovered(poems, fromFit)
	t.Logf("characters recovered: %.1f%% from the means, %.1f%% from the fitted codes", 100*meanShare, 100*fitShare)
	if fitShare < meanShare {
		t.Errorf("fitted codes rebuild %.1f%% of the characters, the means %.1f%%", 100*fitShare, 100*meanShare)
	}
	if _, _, _, err := m.FitCodes(poems, FitOptions{Steps: 1, LR: math.NaN()}); err == nil {
		t.Error("a step size of NaN was accepted")
	}
}
