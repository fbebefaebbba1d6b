package model

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// TestResetDecoderResetsExactlyTheDecoder trains a few steps, resets the
// decoder, and checks each parameter: the decoder's are those of a new
// model of the same seed, every other is what training made it.
func TestResetDecoderResetsExactlyTheDecoder(t *testing.T) {
	poems := samplePoems(t, 16)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := smallSetup(t, poems, tc)
	fresh := smallSetup(t, poems, tc).Model.Params
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	trained := tr.Model.Params.clone()
	if err := ResetDecoder(tr.Model, tc.Seed); err != nil {
		t.Fatal(err)
	}
	var reset, kept int
	for i, name := range tr.Model.Params.Names {
		got := tr.Model.Params.Float64s(i)
		if slices.Equal(fresh.Float64s(i), trained.Float64s(i)) {
			t.Fatalf("%s did not change in training: the test cannot tell reset from kept", name)
		}
		switch {
		case decoderParam(name):
			reset++
			if !slices.Equal(got, fresh.Float64s(i)) {
				t.Errorf("decoder parameter %s was not reset to its initial value", name)
			}
		default:
			kept++
			if !slices.Equal(got, trained.Float64s(i)) {
				t.Errorf("parameter %s, not the decoder's, changed", name)
			}
		}
	}
	// The decoder: z's map to the first state, 4 gates × (Wx, Wz, Wh, b),
	// the output layer.
	if reset != 2+16+2 || kept == 0 {
		t.Errorf("%d parameters reset and %d kept; want the decoder's 20 reset", reset, kept)
	}
}

// TestPretrainingThenVAE: the pretraining epochs train with β = 0 and are
// never kept as the best; at their end the decoder is reset and Adam starts
// afresh, and the VAE's β ramp starts from 0 again.
func TestPretrainingThenVAE(t *testing.T) {
	poems := samplePoems(t, 28)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.PretrainEpochs, tc.AnnealSteps = 8, 3, 2, 4
	tr := validatedSetup(t, poems, 24, tc, "cpu")
	dir := t.TempDir()
	tr.BestPath, tr.LastPath = filepath.Join(dir, "best.ckpt"), filepath.Join(dir, "last.ckpt")
	var betas []float64
	var epochs []EpochInfo
	var atReset [][]float64 // the decoder's output weights after the last pretraining step
	tr.OnStep = func(s StepInfo) {
		betas = append(betas, s.Beta)
	}
	tr.OnEpoch = func(e EpochInfo) {
		epochs = append(epochs, e)
		if e.Epoch == 2 {
			atReset = append(atReset, tr.Model.Params.Float64s(tr.Model.Params.index["out.W"]))
			for i := range tr.State.adamM {
				if slices.ContainsFunc(tr.State.adamM[i], func(x float64) bool { return x != 0 }) ||
					slices.ContainsFunc(tr.State.adamV[i], func(x float64) bool { return x != 0 }) {
					t.Errorf("Adam's moments of %s not zeroed at the end of pretraining", tr.Model.Params.Names[i])
					break
				}
			}
		}
	}
	fresh := smallSetup(t, poems[:24], tc).Model.Params
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	steps := 3 // 24 poems in batches of 8
	if len(betas) != 3*steps {
		t.Fatalf("%d steps, want %d", len(betas), 3*steps)
	}
	for i, b := range betas[:2*steps] {
		if b != 0 {
			t.Errorf("pretraining step %d has β %v, want 0", i+1, b)
		}
	}
	if want, _ := Beta(tc.Anneal, tc.AnnealSteps, 0); betas[2*steps] != want {
		t.Errorf("first VAE step has β %v, want the ramp's first %v", betas[2*steps], want)
	}
	if !epochs[0].Pretraining || !epochs[1].Pretraining || epochs[2].Pretraining {
		t.Errorf("pretraining marks %v %v %v, want true true false", epochs[0].Pretraining, epochs[1].Pretraining, epochs[2].Pretraining)
	}
	if epochs[0].Improved || epochs[1].Improved || !epochs[2].Improved {
		t.Error("a pretraining epoch was kept as the best, or the first VAE epoch was not")
	}
	if tr.State.BestEpoch != 3 || tr.State.PhaseStart != 2*steps {
		t.Errorf("best epoch %d, phase start %d; want 3 and %d", tr.State.BestEpoch, tr.State.PhaseStart, 2*steps)
	}
	if len(atReset) != 1 || !slices.Equal(atReset[0], fresh.Float64s(fresh.index["out.W"])) {
		t.Error("the output layer was not reset when pretraining ended")
	}
	if _, err := Load(tr.BestPath); err != nil {
		t.Errorf("no best model after the VAE epoch: %v", err)
	}
}

// TestPretrainingResumes: a run stopped in its pretraining resumes to the
// same weights as one that never stopped, the reset included.
func TestPretrainingResumes(t *testing.T) {
	poems := samplePoems(t, 24)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.PretrainEpochs, tc.AnnealSteps = 8, 3, 1, 4
	full := smallSetup(t, poems, tc)
	if err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := smallSetup(t, poems, tc)
	tr.LastPath = filepath.Join(t.TempDir(), "last.ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	tr.OnStep = func(s StepInfo) {
		if s.Step == 2 {
			cancel()
		}
	}
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run returned %v", err)
	}
	ck, err := Load(tr.LastPath)
	if err != nil {
		t.Fatal(err)
	}
	resumed := &Trainer{Model: ck.Model, State: ck.Train, Train: poems}
	if err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, name := range full.Model.Params.Names {
		if !slices.Equal(full.Model.Params.Float64s(i), resumed.Model.Params.Float64s(i)) {
			t.Errorf("%s differs after a resume in pretraining", name)
		}
	}
}

// TestLRDecayOnPlateau: every epoch that does not improve on the best
// validation ELBO multiplies the learning rate by the decay, and the next
// epoch's steps take that rate.
func TestLRDecayOnPlateau(t *testing.T) {
	poems := samplePoems(t, 20)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.LRDecay, tc.Patience = 8, 3, 0.5, 0
	tr := validatedSetup(t, poems, 16, tc, "cpu")
	// A best no epoch can reach: every epoch is a plateau.
	tr.State.BestEpoch, tr.State.BestELBO = 1, -1
	var rates []float64
	tr.OnEpoch = func(e EpochInfo) {
		if e.Improved {
			t.Errorf("epoch %d improved on an unreachable best", e.Epoch)
		}
		rates = append(rates, e.LR)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []float64{1e-3, 5e-4, 2.5e-4}
	for i := range want {
		if math.Abs(rates[i]-want[i]) > 1e-12 {
			t.Fatalf("learning rates after each epoch %v, want %v", rates, want)
		}
	}
	if tr.State.LR() != 2.5e-4 {
		t.Errorf("state's rate %v", tr.State.LR())
	}
}

// A state saved before the schedule existed (no LRScale) trains at the
// configured rate.
func TestLRScaleZeroMeansConfigured(t *testing.T) {
	st := TrainState{Config: DefaultTrainConfig()}
	if st.LR() != st.Config.LR {
		t.Errorf("LR %v, want %v", st.LR(), st.Config.LR)
	}
	st.LRScale = 0.25
	if st.LR() != st.Config.LR/4 {
		t.Errorf("LR %v, want %v", st.LR(), st.Config.LR/4)
	}
}

// TestMinGain: with a least gain no epoch reaches, every epoch after the
// first counts toward patience, improving or not, so the run ends after
// 1 + patience epochs; an epoch that improves is still kept as the best,
// and the epochs trained are those of the same run without the rule: the
// same validation figures, learning rates and weights.
func TestMinGain(t *testing.T) {
	// Validated on the poems it trains on, so that its epochs improve.
	poems := samplePoems(t, 64)
	setup := func(tc TrainConfig) *Trainer {
		tr := smallSetup(t, poems, tc)
		tr.Valid, tr.Device = poems, "cpu"
		return tr
	}
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.LR, tc.LRDecay, tc.FreeBits, tc.WordDropout = 4, 3, 5e-3, 0.5, 0, 0
	plain := setup(tc)
	var want []EpochInfo
	plain.OnEpoch = func(e EpochInfo) { want = append(want, e) }
	if err := plain.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	tc.Epochs, tc.Patience, tc.MinGain = 10, 2, 1e6
	tr := setup(tc)
	var got []EpochInfo
	tr.OnEpoch = func(e EpochInfo) { got = append(got, e) }
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !tr.State.Done {
		t.Fatalf("ran %d epochs (done %v), want 3: the first, then patience 2 of slight gains", len(got), tr.State.Done)
	}
	improved := 0
	for i, e := range got {
		w := want[i]
		if e.Valid.ELBO != w.Valid.ELBO || e.LR != w.LR || e.Improved != w.Improved {
			t.Errorf("epoch %d: ELBO %v, rate %v, improved %v; without the rule %v, %v, %v",
				e.Epoch, e.Valid.ELBO, e.LR, e.Improved, w.Valid.ELBO, w.LR, w.Improved)
		}
		if e.Slight != (i > 0 && e.Improved) {
			t.Errorf("epoch %d: slight %v, improved %v", e.Epoch, e.Slight, e.Improved)
		}
		if e.Improved {
			improved = e.Epoch
		}
	}
	if improved < 2 {
		t.Fatalf("no epoch after the first improved (%+v): the case tests nothing of a slight gain", got)
	}
	if tr.State.BestEpoch != improved || tr.State.BestEpoch != plain.State.BestEpoch {
		t.Errorf("best epoch %d, want %d (the last that improved) as without the rule (%d)", tr.State.BestEpoch, improved, plain.State.BestEpoch)
	}
	for i, name := range plain.Model.Params.Names {
		if !slices.Equal(plain.Model.Params.Float64s(i), tr.Model.Params.Float64s(i)) {
			t.Fatalf("%s differs from the run without the rule", name)
		}
	}

	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		tc.MinGain = bad
		if tc.Validate() == nil {
			t.Errorf("least gain %v accepted", bad)
		}
	}
}
