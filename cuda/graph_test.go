//go:build gpu

package cuda

import (
	"errors"
	"fmt"
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
		if !sameStats(stats[0], stats[1], stepTol(d)) {
			t.Errorf("step %d: figures %+v with launches, %+v with the graph", step, stats[0], stats[1])
		}
	}
	if g := trainers[1].graph; g.builds != 2 {
		t.Errorf("the graph was built %d times over %d steps with one switch to TF32, want 2", g.builds, steps)
	}
	tol := stepTol(d)
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

// noGraphs is a backend whose driver offers no graphs.
type noGraphs struct{ backend }

func (noGraphs) newGraph([]node) (graphExec, error) {
	return nil, fmt.Errorf("%w: the driver has no cuGraphCreate", errNoGraphs)
}

// unbuildable is a backend whose driver has graphs but fails to build one.
type unbuildable struct{ backend }

func (unbuildable) newGraph([]node) (graphExec, error) {
	return nil, errors.New("CUDA_ERROR_NOT_SUPPORTED")
}

// TestStepWithoutGraphs: where the driver has no graphs, or fails to build
// the step's, a step turns them off, says why, and launches its kernels
// one by one, computing what a step with graphs off from the start
// computes.
func TestStepWithoutGraphs(t *testing.T) {
	for _, c := range []struct {
		b      backend
		reason string
	}{
		{noGraphs{testDevice.b}, "no cuGraphCreate"},
		{unbuildable{testDevice.b}, "nodes failed: CUDA_ERROR_NOT_SUPPORTED"},
	} {
		without := &Device{b: c.b, Graphs: true}
		stats, params := compareSteps(t, without, 1)
		if without.Graphs || !strings.Contains(without.GraphsOff, c.reason) {
			t.Errorf("%T: after a step: Graphs %v, GraphsOff %q, want it to say %q", c.b, without.Graphs, without.GraphsOff, c.reason)
		}
		if !sameStats(stats[0], stats[1], stepTol(testDevice)) {
			t.Errorf("%T: figures %+v with graphs off, %+v after failing to build one", c.b, stats[0], stats[1])
		}
		if e := MaxRelErr(params[1], params[0]); e > stepTol(testDevice) {
			t.Errorf("%T: parameters differ by %.3g", c.b, e)
		}
	}
}

// refusedUpdates is a backend whose graphs refuse every update in place.
type refusedUpdates struct{ backend }

func (r refusedUpdates) newGraph(nodes []node) (graphExec, error) {
	exec, err := r.backend.newGraph(nodes)
	return refusingExec{exec}, err
}

type refusingExec struct{ graphExec }

func (refusingExec) set(int, node) error { return errors.New("CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE") }

// TestStepGraphRebuiltWhenUpdateRefused: where the driver refuses to
// update the built graph, each step builds it anew and computes what
// launches compute.
func TestStepGraphRebuiltWhenUpdateRefused(t *testing.T) {
	d := &Device{b: refusedUpdates{testDevice.b}, Graphs: true}
	const steps = 3
	stats, params := compareSteps(t, d, steps)
	if !d.Graphs {
		t.Fatalf("graphs turned off: %s", d.GraphsOff)
	}
	if !sameStats(stats[0], stats[1], stepTol(testDevice)) {
		t.Errorf("figures %+v with launches, %+v with rebuilt graphs", stats[0], stats[1])
	}
	if e := MaxRelErr(params[1], params[0]); e > stepTol(testDevice) {
		t.Errorf("parameters differ by %.3g", e)
	}
}

// compareSteps trains two trainers from the same weights for steps steps,
// one on testDevice with graphs off, one on d (over testDevice's backend),
// and returns the last step's figures and the final parameters of each.
func compareSteps(t *testing.T, d *Device, steps int) (stats [2]Stats, params [2][]float64) {
	t.Helper()
	s := Shape{Vocab: 40, Embed: 8, Highway: 1, EncHidden: 6, DecHidden: 8, Latent: 4, EncSteps: 4}
	const B = 8
	rng := rand.New(rand.NewPCG(9, 10))
	defer func(graphs bool) { testDevice.Graphs = graphs }(testDevice.Graphs)
	testDevice.Graphs = false
	defer d.release(d.splitWork) // the backend is testDevice's, closed by TestMain
	var w []float32
	ids := make([]int32, B*(s.EncSteps+2*s.DecSteps()))
	for i := range ids {
		ids[i] = int32(rng.IntN(s.Vocab))
	}
	for i, dev := range []*Device{testDevice, d} {
		tr, err := NewTrainer(dev, s, B)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if w == nil {
			w = random(rng, tr.Size(), 0.3)
		}
		if err := tr.SetParams(w); err != nil {
			t.Fatal(err)
		}
		for step := 1; step <= steps; step++ {
			p := StepParams{Noise: noise.New(3, step), Rows: B, Dropout: 0.1, Beta: 0.5, Clip: 5, LR: 0.01, Step: step}
			if stats[i], err = tr.Step(ids, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := tr.Params()
		if err != nil {
			t.Fatal(err)
		}
		params[i] = f64(got)
	}
	return stats, params
}

// stepTol is how far two runs of the same steps may part: not at all on
// the emulated device, by rounding on a GPU, where the embeddings'
// gradients are summed by atomic adds in no fixed order.
func stepTol(d *Device) float64 {
	if strings.Contains(d.Name(), "emulated") {
		return 0
	}
	return 1e-5
}

func sameStats(a, b Stats, tol float64) bool {
	x := []float64{a.Loss, a.NLL, a.KL, a.GradNorm}
	y := []float64{b.Loss, b.NLL, b.KL, b.GradNorm}
	return MaxRelErr(x, y) <= tol
}
