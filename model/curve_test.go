package model

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"poetvae/corpus"
	"poetvae/poetry"
)

// The loss-curve comparison of the two engines (TestGPULossCurve) trains the
// same model from the same start on each. On a GPU machine the CPU half is
// the slow one (minutes of 300 default-size steps), so it can be run ahead
// of time on any machine (make gpu-curve-ref) and carried as a file: the
// CPU engine computes the same curve wherever it runs, to far better than
// the 1% the comparison allows.

// curveRun is one loss-curve run: a fresh model of size cfg (seed 1)
// trained with tc on poems for steps steps.
type curveRun struct {
	poems []poetry.Poem
	cfg   Config
	tc    TrainConfig
	steps int
}

// newCurveRun is the loss-curve run: the default model on
// POETVAE_CURVE_CORPUS (default: the sample corpus) for POETVAE_CURVE_STEPS
// steps (default 300), or, when small, a small model for 12 steps (for the
// emulated device).
func newCurveRun(t *testing.T, small bool) curveRun {
	t.Helper()
	r := curveRun{steps: 300, tc: DefaultTrainConfig()}
	if small {
		r.steps = 12
	}
	if s := os.Getenv("POETVAE_CURVE_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("POETVAE_CURVE_STEPS=%q: want a positive number", s)
		}
		r.steps = n
	}
	r.poems = samplePoems(t, 137)
	if path := os.Getenv("POETVAE_CURVE_CORPUS"); path != "" {
		var err error
		if r.poems, _, err = corpus.Read(path); err != nil {
			t.Fatal(err)
		}
	}
	vocab := corpus.BuildVocab(r.poems, 1).Size()
	r.cfg = DefaultConfig(vocab, 4)
	if small {
		r.cfg = Config{Vocab: vocab, Lines: 4, Embed: 16, Highway: 1, EncHidden: 16, DecHidden: 16, Latent: 4, Dropout: 0.3}
	}
	r.tc.Epochs = 1 + r.steps*r.tc.BatchSize/len(r.poems)
	return r
}

// losses trains the run on device and returns the loss of every step.
func (r curveRun) losses(t *testing.T, device string) []float64 {
	t.Helper()
	v := corpus.BuildVocab(r.poems, 1)
	m, err := NewModel(r.cfg, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewTrainState(r.tc, m, r.poems)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var losses []float64
	tr := &Trainer{Model: m, State: st, Train: r.poems, Device: device}
	start := time.Now()
	tr.OnStep = func(s StepInfo) {
		losses = append(losses, s.Loss)
		if n := len(losses); n%50 == 0 || n == r.steps { // progress, for long runs on the CPU
			t.Logf("%s: step %d of %d, loss %.3f, %s", device, n, r.steps, s.Loss, time.Since(start).Round(time.Second))
		}
		if len(losses) == r.steps {
			cancel()
		}
	}
	if err := tr.Run(ctx); err != nil && !errors.Is(err, ErrInterrupted) {
		t.Fatalf("%s: %v", device, err)
	}
	if len(losses) != r.steps {
		t.Fatalf("%s ran %d steps, want %d", device, len(losses), r.steps)
	}
	return losses
}

// curveMagic starts a loss-curve file; the rest of its first line is the
// run's identity (header), then one loss a line.
const curveMagic = "poetvae loss curve 1 "

// header identifies the run: a curve is only compared with a curve of the
// same corpus, sizes, settings and length.
func (r curveRun) header() string {
	h := sha256.New()
	for _, p := range r.poems {
		fmt.Fprintln(h, p.Text())
	}
	b, err := json.Marshal(struct {
		Steps  int         `json:"steps"`
		Poems  int         `json:"poems"`
		Corpus string      `json:"corpus_sha256"`
		Model  Config      `json:"model"`
		Train  TrainConfig `json:"train"`
	}{r.steps, len(r.poems), hex.EncodeToString(h.Sum(nil)), r.cfg, r.tc})
	if err != nil {
		panic(err) // plain structs of numbers and strings always encode
	}
	return string(b)
}

// writeCurve saves the losses of run r to path.
func writeCurve(path string, r curveRun, losses []float64) error {
	var b strings.Builder
	b.WriteString(curveMagic + r.header() + "\n")
	for _, l := range losses {
		b.WriteString(strconv.FormatFloat(l, 'g', -1, 64) + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// readCurve loads the losses of run r from path, refusing a file made for
// another run, a short one and anything unreadable.
func readCurve(path string, r curveRun) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), curveMagic) {
		return nil, fmt.Errorf("%s:1: not a poetvae loss-curve file", path)
	}
	if got, want := strings.TrimPrefix(sc.Text(), curveMagic), r.header(); got != want {
		return nil, fmt.Errorf("%s:1: made for another run (remake it with make gpu-curve-ref):\n file %s\n want %s", path, got, want)
	}
	var losses []float64
	for line := 2; sc.Scan(); line++ {
		l, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a loss", path, line, sc.Text())
		}
		losses = append(losses, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(losses) != r.steps {
		return nil, fmt.Errorf("%s: %d losses, want %d", path, len(losses), r.steps)
	}
	return losses, nil
}

// TestLossCurveReference writes the CPU engine's loss curve to the file
// POETVAE_CURVE_WRITE names (make gpu-curve-ref); without it, it is skipped.
func TestLossCurveReference(t *testing.T) {
	path := os.Getenv("POETVAE_CURVE_WRITE")
	if path == "" {
		t.Skip("POETVAE_CURVE_WRITE names no file to write")
	}
	r := newCurveRun(t, false)
	if err := writeCurve(path, r, r.losses(t, "cpu")); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote the CPU loss curve of %d steps to %s", r.steps, path)
}

func TestCurveFile(t *testing.T) {
	r := curveRun{poems: samplePoems(t, 5), cfg: DefaultConfig(100, 4), tc: DefaultTrainConfig(), steps: 3}
	path := filepath.Join(t.TempDir(), "curve.txt")
	want := []float64{7.25, 6.9, 1.0 / 3}
	if err := writeCurve(path, r, want); err != nil {
		t.Fatal(err)
	}
	got, err := readCurve(path, r)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %v, wrote %v", got, want)
	}

	// Another run: each difference that changes the curve is refused.
	other := func(change func(*curveRun)) curveRun {
		o := r
		o.poems = append([]poetry.Poem(nil), r.poems...)
		change(&o)
		return o
	}
	for name, o := range map[string]curveRun{
		"steps":  other(func(o *curveRun) { o.steps = 4 }),
		"corpus": other(func(o *curveRun) { o.poems[2] = samplePoems(t, 6)[5] }),
		"model":  other(func(o *curveRun) { o.cfg.Latent++ }),
		"train":  other(func(o *curveRun) { o.tc.LR /= 2 }),
	} {
		if _, err := readCurve(path, o); err == nil || !strings.Contains(err.Error(), "another run") {
			t.Errorf("another %s: error %v, want one saying the file is for another run", name, err)
		}
	}

	// Damaged files name the file and line.
	full, _ := os.ReadFile(path)
	for name, c := range map[string]struct{ text, err string }{
		"short":   {strings.TrimSuffix(string(full), strconv.FormatFloat(1.0/3, 'g', -1, 64)+"\n"), "2 losses, want 3"},
		"garbled": {strings.Replace(string(full), "6.9", "6.9x", 1), `curve.txt:3: "6.9x" is not a loss`},
		"foreign": {"hello\n", "curve.txt:1: not a poetvae loss-curve file"},
	} {
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readCurve(path, r); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s file: error %v, want %q", name, err, c.err)
		}
	}
}
