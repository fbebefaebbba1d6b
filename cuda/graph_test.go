//go:build gpu

package cuda

import (
	"math/rand/v2"
	"strings"
	"testing"

	"poetvae/model/noise"
)

// TestStepGraphs: training steps run as a CUDA graph compute what the same
// steps' separate launches compute, while every argument that changes from
// step to step (the noise, β, the real rows of a short batch, the learning
// rate and Adam's step) is updated in the built graph, and when the work
// changes shape (TF32 switched on) the graph is rebuilt. A node left with
// a stale argument computes with it (the emulator replays its graphs as
// updated), so that the parameters and moments part.
func TestStepGraphs(t *testing.T) {
	// A vocabulary wide enough for the output product to count as large,
	// so that TF32 moves it to another kernel.
	s := Shape{Vocab: 1700, Embed: 8, Highway: 1, EncHidden: 6, DecHidden: 8, Latent: 4, EncSteps: 4}
	const B, steps = 64, 5
	rng := rand.New(rand.NewPCG(7, 8))
	d := testDevice
	defer func(graphs, tf32 bool) { d.Graphs, d.TF32 = graphs, tf32 }(d.Graphs, d.TF32)

	trainers := [2]*Trainer{} // launches, graphs
	for i := range trainers {
		tr, err := NewTrainer(d, s, B)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		trainers[i] = tr
	}
	w := random(rng, trainers[0].Size(), 0.3)
	for _, tr := range trainers {
		if err := tr.SetParams(w); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]int32, trainers[0].ids.n)
	for step := 1; step <= steps; step++ {
		for i := range ids {
			ids[i] = int32(rng.IntN(s.Vocab))
		}
		p := StepParams{Noise: noise.New(11, step), Rows: B - 7*step, Dropout: 0.2, WordDropout: 0.25,
			Beta: 0.1 * float64(step), FreeBits: 0.05, Clip: 5, LR: 0.01 / float64(step), Step: step}
		d.TF32 = step >= 4
		var stats [2]Stats
		for i, tr := range trainers {
			d.Graphs = i == 1
			var err error
			if stats[i], err = tr.Step(ids, p); err != nil {
				t.Fatalf("step %d, graphs %v: %v", step, d.Graphs, err)
			}
		}
		if !d.Graphs {
			t.Fatalf("graphs turned off: %s", d.GraphsOff)
		}
		if stats[0] != stats[1] {
			t.Errorf("step %d: figures %+v with launches, %+v with the graph", step, stats[0], stats[1])
		}
	}
	if g := trainers[1].graph; g.builds != 2 {
		t.Errorf("the graph was built %d times over %d steps with one switch to TF32, want 2", g.builds, steps)
	}
	// On a GPU the embeddings' gradients are summed by atomic adds, in no
	// fixed order.
	tol := 0.0
	if !strings.Contains(d.Name(), "emulated") {
		tol = 1e-5
	}
	fetchAll := func(tr *Trainer) [3][]float64 {
		w, err := tr.Params()
		if err != nil {
			t.Fatal(err)
		}
		m, v, err := tr.Moments()
		if err != nil {
			t.Fatal(err)
		}
		return [3][]float64{f64(w), f64(m), f64(v)}
	}
	launched, graphed := fetchAll(trainers[0]), fetchAll(trainers[1])
	for i, what := range []string{"parameters", "first moments", "second moments"} {
		if e := MaxRelErr(graphed[i], launched[i]); e > tol {
			t.Errorf("%s after %d steps: the graph's differ from the launches' by %.3g, want ≤ %g", what, steps, e, tol)
		}
	}
}
