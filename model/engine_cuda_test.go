//go:build gpu

package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"gorgonia.org/tensor"

	"poetvae/corpus"
	"poetvae/cuda"
	"poetvae/model/noise"
)

// The GPU engine against the Gorgonia graph. With -tags 'gpu emu' these run
// on the emulated device at small sizes; `make gpu-check` runs the same
// tests on a GPU, where they add the default model size and a longer run.

// stepTol bounds the relative error of a whole step (loss and every
// gradient, FP32 on the GPU against float64 on the CPU).
const stepTol = 1e-4

// tf32StepTol bounds the same in TF32 mode (measured on the emulator at the
// default size: 4.5e-4).
const tf32StepTol = 1e-2

func openTestGPU(t *testing.T) *cuda.Device {
	t.Helper()
	n := 0
	if s := os.Getenv("POETVAE_GPU"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("POETVAE_GPU=%q: %v", s, err)
		}
	}
	d, err := cuda.Open(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// fromFlat returns model parameter i from the engine's flat buffer.
func (l *gpuLayout) fromFlat(flat []float32, i int) []float64 {
	pt := l.parts[i][0]
	v := make([]float64, pt.rows*pt.cols)
	unflatten(l, v, flat, i)
	return v
}

func relTo(got, want float64) float64 { return math.Abs(got-want) / math.Max(math.Abs(want), 1e-30) }

func TestGPUStepMatchesGorgonia(t *testing.T) {
	// The real sizes, where the large products take the 64×64 and TF32
	// kernels (two minutes on the emulator; -short leaves them out there).
	testGPUSteps(t, !cuda.Emulated || !testing.Short())
}

// testGPUSteps compares whole steps of small models, and of the default
// one when withDefault.
func testGPUSteps(t *testing.T, withDefault bool) {
	dev := openTestGPU(t)
	poems := samplePoems(t, 13)
	v := corpus.BuildVocab(poems, 1)
	type tc struct {
		name string
		c    Config
		B    int
		tf32 bool
	}
	cases := []tc{
		{"vae", Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 2, EncHidden: 24, DecHidden: 20, Latent: 6, Dropout: 0.3}, 5, false},
		{"no-highway", Config{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 0, EncHidden: 12, DecHidden: 10, Latent: 3, Dropout: 0}, 4, false},
		{"lm", Config{Vocab: v.Size(), Lines: 4, Embed: 16, EncHidden: 1, DecHidden: 20, Latent: 1, Dropout: 0.3, LM: true}, 5, false},
		// A vocabulary long enough that the gradient of the output
		// layer's input is computed in slices of K (cuda's gemmSplit).
		{"wide-vocab", Config{Vocab: 2600, Lines: 4, Embed: 8, Highway: 1, EncHidden: 12, DecHidden: 16, Latent: 4, Dropout: 0.3}, 5, false},
		// A batch large enough that the weight gradients summed over all
		// steps (K = steps × batch ≥ 2,048) are computed in slices of K,
		// added to the gradients already there.
		{"long-batch", Config{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 1, EncHidden: 12, DecHidden: 16, Latent: 4, Dropout: 0.3}, 110, false},
		// The bag-of-characters loss from z.
		{"bag-of-chars", Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 24, DecHidden: 20, Latent: 6, Dropout: 0.3, BagOfChars: true}, 5, false},
		// The rhyme loss: the bag over two steps of each poem, one at a time.
		{"rhyme-chars", Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 24, DecHidden: 20, Latent: 6, Dropout: 0.3, RhymeChars: true}, 5, false},
		// z fed to the output layer too, with the rhyme loss.
		{"code-to-output", Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 24, DecHidden: 20, Latent: 6, Dropout: 0.3, RhymeChars: true, CodeToOutput: true}, 5, false},
	}
	if withDefault {
		cases = append(cases, tc{"default", DefaultConfig(v.Size(), 4), 64, false},
			tc{"default-tf32", DefaultConfig(v.Size(), 4), 64, true})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			p, err := NewParams(c, tensor.Float64, 3)
			if err != nil {
				t.Fatal(err)
			}
			randomCodeToOutput(p, 3)
			batches := corpus.Batches(poems, v, tc.B, -1, false)
			b := &batches[len(batches)-1] // the last batch has padding rows
			if b.Rows == tc.B {
				t.Fatalf("want a padded batch, got %d of %d rows", b.Rows, tc.B)
			}
			const beta, freeBits, wordDropout = 0.7, 0.02, 0.2
			src := noise.New(9, 4)

			feed := NewFeed(c, b, src, c.Dropout, wordDropout)
			feed.Beta, feed.FreeBits = beta, freeBits
			g := testGraph(t, p, tc.B)
			want := runGraph(t, g, feed)

			e, err := newGPUEngine(dev, p, tc.B)
			if err != nil {
				t.Fatal(err)
			}
			defer e.tr.Close()
			dev.TF32 = tc.tf32
			defer func() { dev.TF32 = false }()
			// TF32 keeps 10 mantissa bits: a looser bound, and the
			// errors logged for the record.
			tol := stepTol
			if tc.tf32 {
				tol = tf32StepTol
			}
			if err := e.push(p, nil); err != nil {
				t.Fatal(err)
			}
			e.layIDs(b)
			got, err := e.tr.Gradients(e.ids, cuda.StepParams{Noise: src, Rows: b.Rows, Dropout: c.Dropout,
				WordDropout: wordDropout, Beta: beta, FreeBits: freeBits})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				what      string
				got, want float64
			}{{"loss", got.Loss, want.Loss}, {"NLL", got.NLL, want.NLL}, {"KL", got.KL, want.KL}, {"bag", got.Bag, want.Bag}} {
				if e := relTo(x.got, x.want); !(e <= tol) {
					t.Errorf("%s: GPU %.8g, Gorgonia %.8g (relative error %.2g)", x.what, x.got, x.want, e)
				}
			}
			grads, err := e.tr.Grads()
			if err != nil {
				t.Fatal(err)
			}
			var sq, worst float64
			for i, name := range p.Names {
				ref := g.Grad(i).Float64s()
				for _, x := range ref {
					sq += x * x
				}
				e := cuda.MaxRelErr(e.conv.fromFlat(grads, i), ref)
				if !(e <= tol) {
					t.Errorf("gradient of %s: relative error %.3g", name, e)
				}
				worst = math.Max(worst, e)
			}
			t.Logf("largest relative error of a gradient: %.3g", worst)
			if e := relTo(got.GradNorm, math.Sqrt(sq)); !(e <= tol) {
				t.Errorf("gradient norm: GPU %.6g, Gorgonia %.6g", got.GradNorm, math.Sqrt(sq))
			}
		})
	}
}

// TestGPULossCurve trains the same model from the same start on both
// engines and compares the loss curves, averaged over windows of ten steps.
// POETVAE_CURVE_CPU names a file holding the CPU engine's curve of the same
// run (make gpu-curve-ref), which then is not trained again here.
func TestGPULossCurve(t *testing.T) {
	r := newCurveRun(t, cuda.Emulated)
	var cpu []float64
	if path := os.Getenv("POETVAE_CURVE_CPU"); path != "" {
		var err error
		if cpu, err = readCurve(path, r); err != nil {
			t.Fatal(err)
		}
		t.Logf("cpu: the curve of %d steps from %s", r.steps, path)
	} else {
		cpu = r.losses(t, "cpu")
	}
	gpu := r.losses(t, testGPUName())
	const window = 10
	worst, worstStep := 0.0, 0
	for i := 0; i < r.steps; i += window {
		var a, b float64
		end := min(i+window, r.steps)
		for j := i; j < end; j++ {
			a += cpu[j]
			b += gpu[j]
		}
		if e := relTo(b, a); e > worst {
			worst, worstStep = e, i+1
		}
	}
	last := r.steps - 1
	t.Logf("%d steps: first loss CPU %.4f GPU %.4f, last CPU %.4f GPU %.4f; largest difference of a %d-step mean %.3f%% (from step %d)",
		r.steps, cpu[0], gpu[0], cpu[last], gpu[last], window, 100*worst, worstStep)
	if worst > 0.01 {
		t.Errorf("loss curves differ by %.2f%% (steps %d…): want within 1%%", 100*worst, worstStep)
	}
}

// TestGPUCheckpoint trains on the GPU, saves, and checks that the loaded
// checkpoint holds exactly the device's parameters and decodes the same
// greedy poem as the model in memory.
func TestGPUCheckpoint(t *testing.T) {
	poems := samplePoems(t, 40)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := smallSetup(t, poems, tc)
	tr.Device = testGPUName()
	dir := t.TempDir()
	tr.BestPath, tr.LastPath = filepath.Join(dir, "best.ckpt"), filepath.Join(dir, "last.ckpt")
	before := tr.Model.Params.Float64s(0)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cuda.MaxRelErr(tr.Model.Params.Float64s(0), before) == 0 {
		t.Fatal("training on the GPU left the embedding unchanged")
	}
	ck, err := Load(tr.LastPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range tr.Model.Params.Names {
		if cuda.MaxRelErr(ck.Model.Params.Float64s(i), tr.Model.Params.Float64s(i)) != 0 {
			t.Fatalf("saved %s differs from the trained one", name)
		}
	}
	if ck.Train.Step != len(poems)/tc.BatchSize {
		t.Fatalf("saved step %d, want %d", ck.Train.Step, len(poems)/tc.BatchSize)
	}
	a, err := tr.Model.Reconstruct(poems[:3])
	if err != nil {
		t.Fatal(err)
	}
	b, err := ck.Model.Reconstruct(poems[:3])
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			t.Fatalf("the loaded model decodes %s, the trained one %s", b[i], a[i])
		}
	}
}

// TestGPUInterruptAfterBackgroundSave: Ctrl-C in the epoch after one
// whose checkpoints are still being written in the background (held back
// until the interruption) saves the state at the step it stopped, over
// the epoch's, and leaves the best model.
func TestGPUInterruptAfterBackgroundSave(t *testing.T) {
	poems := samplePoems(t, 24)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 3
	tr := validatedSetup(t, poems, 16, tc, testGPUName())
	dir := t.TempDir()
	tr.BestPath, tr.LastPath = filepath.Join(dir, "best.ckpt"), filepath.Join(dir, "last.ckpt")
	perEpoch := 16 / tc.BatchSize
	stopAt := perEpoch + 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr.OnStep = func(s StepInfo) {
		if s.Step == stopAt {
			cancel()
		}
	}
	tr.beforeWrite = func() { <-ctx.Done() }
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run returned %v", err)
	}
	last, err := Load(tr.LastPath)
	if err != nil {
		t.Fatal(err)
	}
	if last.Train == nil {
		t.Fatal("the resume file holds no training state")
	}
	if st := last.Train; st.Step != stopAt || st.Epoch != 1 || st.Pos != 1 {
		t.Fatalf("resume state at step %d, epoch %d, batch %d; want step %d, epoch 1, batch 1", st.Step, st.Epoch, st.Pos, stopAt)
	}
	for i, name := range tr.Model.Params.Names {
		if cuda.MaxRelErr(last.Model.Params.Float64s(i), tr.Model.Params.Float64s(i)) != 0 {
			t.Fatalf("saved %s is not the weights at the interruption", name)
		}
	}
	if best, err := Load(tr.BestPath); err != nil || best.Train != nil {
		t.Fatalf("best model: %v (state %v)", err, best != nil && best.Train != nil)
	}
}

// TestGPUDecoding holds the GPU decoder to the CPU's: the same logits step
// by step (beam reordering included), and the same poems from greedy and
// beam decoding, for a VAE and a language model.
func TestGPUDecoding(t *testing.T) {
	poems := samplePoems(t, 30)
	v := corpus.BuildVocab(poems, 1)
	for _, c := range []Config{
		{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 12, DecHidden: 20, Latent: 6},
		{Vocab: v.Size(), Lines: 4, Embed: 16, EncHidden: 1, DecHidden: 20, Latent: 1, LM: true},
		{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 12, DecHidden: 20, Latent: 6, CodeToOutput: true},
	} {
		m, err := NewModel(c, v, 5)
		if err != nil {
			t.Fatal(err)
		}
		randomCodeToOutput(m.Params, 5)
		const B = 5
		rng := rand.New(rand.NewPCG(1, 2))
		z := m.SamplePrior(B, rng)
		flat := make([]float64, 0, B*c.Latent)
		for _, row := range z {
			flat = append(flat, row...)
		}
		cpu := m.Forward().NewDecoder(flat, B)
		if err := m.UseDevice(testGPUName()); err != nil {
			t.Fatal(err)
		}
		gpu, err := m.newDecoder(flat, B)
		if err != nil {
			t.Fatal(err)
		}
		// A second GPU decoder takes each step's softmax on the device.
		gpuNLL, err := m.newDecoder(flat, B)
		if err != nil {
			t.Fatal(err)
		}
		prev := []int{corpus.BOS, corpus.BOS, corpus.BOS, corpus.BOS, corpus.BOS}
		for s := 0; s < 6; s++ {
			want := slices.Clone(cpu.Step(prev))
			got := gpu.Step(prev)
			if e := cuda.MaxRelErr(got, want); !(e <= stepTol) {
				t.Fatalf("LM=%v step %d: logits differ by %.3g", c.LM, s, e)
			}
			targets := make([]int, B)
			wantNLL := make([]float64, B)
			for b := range targets {
				targets[b] = (s*5 + b*11) % c.Vocab
				row := want[b*c.Vocab : (b+1)*c.Vocab]
				wantNLL[b] = logSumExp(row) - row[targets[b]]
			}
			if e := cuda.MaxRelErr(gpuNLL.(nllStepper).stepNLL(prev, targets), wantNLL); !(e <= stepTol) {
				t.Fatalf("LM=%v step %d: −log p(target) taken on the device differs by %.3g", c.LM, s, e)
			}
			for b := range prev {
				prev[b] = corpus.NumSpecial + (s*7+b*3)%(c.Vocab-corpus.NumSpecial)
			}
			if s == 2 {
				src := []int{4, 4, 0, 2, 1}
				cpu.Reorder(src)
				gpu.Reorder(src)
				gpuNLL.Reorder(src)
			}
		}
		for _, d := range []stepDecoder{gpu, gpuNLL} {
			if err := d.Err(); err != nil {
				t.Fatal(err)
			}
			d.Close()
		}
		for _, opt := range []DecodeOptions{{Lines: 4, Greedy: true}, {Lines: 4, Beam: 3}} {
			onGPU, err := m.Decode(z, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			m.Close()
			onCPU, err := m.Decode(z, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range onCPU {
				if onCPU[i].String() != onGPU[i].String() {
					t.Errorf("LM=%v %+v: poem %d is %s on the CPU, %s on the GPU", c.LM, opt, i, onCPU[i], onGPU[i])
				}
			}
			if err := m.UseDevice(testGPUName()); err != nil {
				t.Fatal(err)
			}
		}
		m.Close()
	}
}

// TestGPUEncode holds the GPU encoder's posteriors to the CPU's, for two
// shapes (one and two highway layers) and a batch that is not a power of
// two.
func TestGPUEncode(t *testing.T) {
	poems := samplePoems(t, 7)
	v := corpus.BuildVocab(poems, 1)
	for _, c := range []Config{
		{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 12, DecHidden: 20, Latent: 6},
		{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 2, EncHidden: 20, DecHidden: 8, Latent: 3},
	} {
		m, err := NewModel(c, v, 7)
		if err != nil {
			t.Fatal(err)
		}
		spreadPosterior(m, 0.5) // posteriors far from the prior's zeros
		wantMu, wantLV, err := m.Encode(poems)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.UseDevice(testGPUName()); err != nil {
			t.Fatal(err)
		}
		gotMu, gotLV, err := m.Encode(poems)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i := range poems {
			if e := cuda.MaxRelErr(gotMu[i], wantMu[i]); !(e <= stepTol) {
				t.Errorf("highway %d, poem %d: means differ by %.3g: GPU %v, CPU %v", c.Highway, i, e, gotMu[i], wantMu[i])
			}
			if e := cuda.MaxRelErr(gotLV[i], wantLV[i]); !(e <= stepTol) {
				t.Errorf("highway %d, poem %d: log-variances differ by %.3g", c.Highway, i, e)
			}
		}
	}
}

// TestGPUEvaluate holds poetvae eval's figures with encoding and decoding
// on the GPU to the CPU's: the importance-sampled NLL (two decoder batches
// of K samples, each step's softmax taken on the device), the ELBO's terms
// and the mutual information within stepTol, the same active units and the
// same reconstructions.
func TestGPUEvaluate(t *testing.T) {
	poems := samplePoems(t, 12)
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 12, DecHidden: 20, Latent: 6}
	m, err := NewModel(c, v, 5)
	if err != nil {
		t.Fatal(err)
	}
	// One poem a batch of the decoder: two batches. (The emulated device
	// runs each step's softmax as one block of threads per row.)
	poems = poems[:2]
	const k = evalRows/2 + 1
	onCPU, err := Evaluate(m, poems, k, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UseDevice(testGPUName()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	onGPU, err := Evaluate(m, poems, k, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := relTo(onGPU.ISNLL, onCPU.ISNLL); !(e <= stepTol) {
		t.Errorf("IS-NLL %v on the GPU, %v on the CPU (relative error %.3g)", onGPU.ISNLL, onCPU.ISNLL, e)
	}
	if e := relTo(onGPU.NLL, onCPU.NLL); !(e <= stepTol) {
		t.Errorf("reconstruction NLL %v on the GPU, %v on the CPU (relative error %.3g)", onGPU.NLL, onCPU.NLL, e)
	}
	if e := max(relTo(onGPU.KL, onCPU.KL), relTo(onGPU.MI, onCPU.MI)); !(e <= stepTol) || onGPU.ActiveUnits != onCPU.ActiveUnits {
		t.Errorf("the encoder's figures differ (relative error %.3g): GPU %+v, CPU %+v", e, onGPU, onCPU)
	}
	if onGPU.CharsRecovered != onCPU.CharsRecovered || onGPU.ReconBLEU != onCPU.ReconBLEU {
		t.Errorf("reconstructions differ: GPU %+v, CPU %+v", onGPU, onCPU)
	}
}

// TestGPUValidation: a run on the GPU validates there. Its figures match
// the CPU's validation of the same weights within stepTol, and are not the
// CPU's to the bit, which they would be had validation run there (float32
// against float64).
func TestGPUValidation(t *testing.T) {
	poems := samplePoems(t, 20)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := validatedSetup(t, poems, 12, tc, testGPUName())
	var got ValidStats
	tr.OnEpoch = func(ep EpochInfo) { got = ep.Valid }
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr.Model.gpu != nil {
		t.Fatal("the model still runs on the training GPU after the run")
	}
	want, err := Validate(tr.Model, tr.Valid, tc.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if got == want {
		t.Fatalf("validation gave the CPU's figures to the bit: %+v", got)
	}
	for _, f := range [][2]float64{{got.NLL, want.NLL}, {got.KL, want.KL}, {got.ELBO, want.ELBO}, {got.PPL, want.PPL}} {
		if e := relTo(f[0], f[1]); !(e <= stepTol) {
			t.Errorf("validation on the GPU %+v, on the CPU %+v (relative error %.3g)", got, want, e)
		}
	}
	if got.ActiveUnits != want.ActiveUnits || got.Poems != want.Poems {
		t.Errorf("validation on the GPU %+v, on the CPU %+v", got, want)
	}
}

// TestGPUResumeAcrossEngines: a run saved by the GPU engine continues on the
// CPU and back, the optimiser's moments surviving the trip through the
// device's layout.
func TestGPUResumeAcrossEngines(t *testing.T) {
	poems := samplePoems(t, 24)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := smallSetup(t, poems, tc)
	for i := range tr.State.adamM { // moments of every size, to see them come back
		for j := range tr.State.adamM[i] {
			tr.State.adamM[i][j] = float64(j%7) * 1e-3
			tr.State.adamV[i][j] = float64(j%5) * 1e-6
		}
	}
	e, err := openEngine(testGPUName(), false, tr.Model, tr.State)
	if err != nil {
		t.Fatal(err)
	}
	m0 := [][]float64{slices.Clone(tr.State.adamM[0]), slices.Clone(tr.State.adamM[len(tr.State.adamM)-1])}
	e.(*gpuEngine).dirty = true // pull as if it had trained
	if err := e.pull(tr.Model, tr.State); err != nil {
		t.Fatal(err)
	}
	e.close()
	for k, i := range []int{0, len(tr.State.adamM) - 1} {
		if err := cuda.MaxRelErr(tr.State.adamM[i], m0[k]); err > 1e-6 {
			t.Fatalf("moments of parameter %d changed on the round trip by %.3g", i, err)
		}
	}

	tr = smallSetup(t, poems, tc) // a fresh run: those moments were for show
	dir := t.TempDir()
	last := filepath.Join(dir, "last.ckpt")
	run := func(device string, epochs int) *Checkpoint {
		t.Helper()
		ck, err := Load(last)
		if err != nil {
			t.Fatal(err)
		}
		ck.Train.Config.Epochs = epochs
		r := &Trainer{Model: ck.Model, State: ck.Train, Train: poems, LastPath: last, Device: device}
		if err := r.Run(context.Background()); err != nil {
			t.Fatalf("%s: %v", device, err)
		}
		return ck
	}
	tr.Device, tr.LastPath = testGPUName(), last
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	perEpoch := len(poems) / tc.BatchSize
	if ck := run("cpu", 2); ck.Train.Step != 2*perEpoch {
		t.Fatalf("after resuming on the CPU: step %d, want %d", ck.Train.Step, 2*perEpoch)
	}
	if ck := run(testGPUName(), 3); ck.Train.Step != 3*perEpoch {
		t.Fatalf("after resuming on the GPU: step %d, want %d", ck.Train.Step, 3*perEpoch)
	}
}

// TestGPUPretrainingAndDecay: the schedule around the steps (autoencoder
// pretraining, the decoder's reset and Adam's fresh start between phases,
// the learning rate halved on a plateau) runs the same on the GPU as on
// the CPU: step for step, the losses agree.
func TestGPUPretrainingAndDecay(t *testing.T) {
	poems := samplePoems(t, 28)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.PretrainEpochs, tc.AnnealSteps, tc.LRDecay = 8, 3, 1, 4, 0.5
	run := func(device string) ([]float64, *Trainer) {
		tr := validatedSetup(t, poems, 24, tc, device)
		var losses []float64
		tr.OnStep = func(s StepInfo) { losses = append(losses, s.Loss) }
		tr.OnEpoch = func(e EpochInfo) {
			if e.Epoch == 2 { // a plateau from here: the third epoch trains at half the rate
				tr.State.BestELBO = -1
			}
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return losses, tr
	}
	cpu, ct := run("cpu")
	gpu, gt := run(testGPUName())
	if len(cpu) != len(gpu) || len(cpu) != 9 {
		t.Fatalf("%d steps on the CPU, %d on the GPU; want 9", len(cpu), len(gpu))
	}
	for i := range cpu {
		if e := relTo(gpu[i], cpu[i]); !(e <= 1e-3) {
			t.Errorf("step %d: loss %.6f on the GPU, %.6f on the CPU", i+1, gpu[i], cpu[i])
		}
	}
	if ct.State.PhaseStart != 3 || gt.State.PhaseStart != 3 || gt.State.LR() != tc.LR/2 || ct.State.LR() != tc.LR/2 {
		t.Errorf("phase starts %d and %d, rates %v and %v; want 3 and half of %v",
			ct.State.PhaseStart, gt.State.PhaseStart, ct.State.LR(), gt.State.LR(), tc.LR)
	}
}
