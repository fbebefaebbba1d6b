//go:build gpu

package cuda

import (
	"math/rand/v2"
	"strings"
	"testing"

	"poetvae/model/noise"
)

// TestWeightsEncode: Encode's posteriors are what a training step's
// forward pass computes for the same poems and weights without dropout,
// the poems given as they read rather than time-major; and bad arguments
// are errors that say what is wrong.
func TestWeightsEncode(t *testing.T) {
	s := Shape{Vocab: 50, Embed: 8, Highway: 2, EncHidden: 6, DecHidden: 8, Latent: 4, EncSteps: 5}
	const B = 3
	rng := rand.New(rand.NewPCG(3, 4))
	d := testDevice
	tr, err := NewTrainer(d, s, B)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	w := random(rng, tr.Size(), 0.5)
	if err := tr.SetParams(w); err != nil {
		t.Fatal(err)
	}
	ws, err := UploadWeights(d, s, w)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	T := s.EncSteps
	stepIDs := make([]int32, tr.ids.n) // time-major, then the decoder's
	for i := range stepIDs {
		stepIDs[i] = int32(rng.IntN(s.Vocab))
	}
	poems := make([]int32, B*T)
	for b := range B {
		for k := range T {
			poems[b*T+k] = stepIDs[k*B+b]
		}
	}
	if _, err := tr.Gradients(stepIDs, StepParams{Noise: noise.New(1, 1), Rows: B, Clip: 5, LR: 0.01, Step: 1}); err != nil {
		t.Fatal(err)
	}
	wantMu, wantLV := make([]float32, B*s.Latent), make([]float32, B*s.Latent)
	if err := d.download(wantMu, tr.mu, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.download(wantLV, tr.logvar, 0); err != nil {
		t.Fatal(err)
	}
	mu, logvar, err := ws.Encode(poems, B)
	if err != nil {
		t.Fatal(err)
	}
	if e := MaxRelErr(f64(mu), f64(wantMu)); e > 1e-6 {
		t.Errorf("means differ from the training step's by %.3g:\n%v\n%v", e, mu, wantMu)
	}
	if e := MaxRelErr(f64(logvar), f64(wantLV)); e > 1e-6 {
		t.Errorf("log-variances differ from the training step's by %.3g", e)
	}

	bad := append([]int32(nil), poems...)
	bad[T+2] = int32(s.Vocab)
	for _, c := range []struct {
		ids  []int32
		B    int
		want string
	}{
		{poems[:B*T-1], B, "14 character ids for 3 poems of 5"},
		{poems, 0, "15 character ids for 0 poems"},
		{bad, B, "poem 2: character id 50 outside the vocabulary of 50"},
	} {
		if _, _, err := ws.Encode(c.ids, c.B); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Encode(%d ids, %d poems): error %v, want %q", len(c.ids), c.B, err, c.want)
		}
	}
	lm := Shape{Vocab: 50, Embed: 8, DecHidden: 8, EncSteps: 5, LM: true}
	lmw, err := UploadWeights(d, lm, random(rng, layoutSize(lm), 0.5))
	if err != nil {
		t.Fatal(err)
	}
	defer lmw.Close()
	if _, _, err := lmw.Encode(poems, B); err == nil || !strings.Contains(err.Error(), "no encoder") {
		t.Errorf("a language model encoded: error %v", err)
	}
}

func layoutSize(s Shape) int {
	n := 0
	for _, t := range Layout(s) {
		n += t.Rows * t.Cols
	}
	return n
}
