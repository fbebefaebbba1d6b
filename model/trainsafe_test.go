package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSavedOnlyWhenOnDisk: OnSaved tells of each epoch once, in order,
// after its OnEpoch, and only when its files are on disk: the state to
// resume from is that epoch's, and the best model holds the weights of the
// epoch that improved.
func TestSavedOnlyWhenOnDisk(t *testing.T) {
	poems := samplePoems(t, 24)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.AnnealSteps = 8, 3, 4
	tr := validatedSetup(t, poems, 16, tc, "cpu")
	dir := t.TempDir()
	tr.BestPath, tr.LastPath = filepath.Join(dir, "best.ckpt"), filepath.Join(dir, "last.ckpt")
	// Each write waits for a step taken after it began (the last epoch's,
	// with no step to come, for a second): an OnSaved that came before the
	// writes would find the files missing or old every time, not only when
	// the writes happen to be slow.
	var steps atomic.Int64
	tr.OnStep = func(StepInfo) { steps.Add(1) }
	tr.beforeWrite = func() {
		s := steps.Load()
		for deadline := time.Now().Add(time.Second); steps.Load() == s && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	var events []string
	weights := map[int][][]float64{} // of each epoch that improved
	tr.OnEpoch = func(ep EpochInfo) {
		events = append(events, fmt.Sprint("epoch ", ep.Epoch))
		if ep.Improved {
			for i := range tr.Model.Params.Values {
				weights[ep.Epoch] = append(weights[ep.Epoch], tr.Model.Params.Float64s(i))
			}
		}
	}
	best := 0
	tr.OnSaved = func(epoch int, err error) {
		events = append(events, fmt.Sprint("saved ", epoch))
		if err != nil {
			t.Errorf("epoch %d: %v", epoch, err)
			return
		}
		last, err := Load(tr.LastPath)
		if err != nil {
			t.Fatalf("epoch %d told saved: %v", epoch, err)
		}
		if last.Train.Epoch != epoch {
			t.Errorf("epoch %d told saved while %s holds the state after epoch %d", epoch, tr.LastPath, last.Train.Epoch)
		}
		if w, ok := weights[epoch]; ok {
			best = epoch
			b, err := Load(tr.BestPath)
			if err != nil {
				t.Fatalf("epoch %d told saved: %v", epoch, err)
			}
			for i := range w {
				if !slices.Equal(b.Model.Params.Float64s(i), w[i]) {
					t.Fatalf("epoch %d told saved while %s does not hold its weights", epoch, tr.BestPath)
				}
			}
		}
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"epoch 1", "saved 1", "epoch 2", "saved 2", "epoch 3", "saved 3"}
	if !slices.Equal(events, want) {
		t.Errorf("callbacks %q, want %q", events, want)
	}
	if best == 0 {
		t.Error("no epoch improved")
	}
}

// TestSaveFailureTold: an epoch whose files cannot be written is told to
// OnSaved with the error, after its OnEpoch, never as saved, and the run
// fails with an error that names the epoch and the file.
func TestSaveFailureTold(t *testing.T) {
	poems := samplePoems(t, 16)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 3
	tr := smallSetup(t, poems, tc)
	tr.LastPath = filepath.Join(t.TempDir(), "missing", "last.ckpt")
	var events []string
	tr.OnEpoch = func(ep EpochInfo) { events = append(events, fmt.Sprint("epoch ", ep.Epoch)) }
	var told error
	tr.OnSaved = func(epoch int, err error) {
		events = append(events, fmt.Sprint("saved ", epoch))
		told = err
	}
	err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "epoch 1 was not saved") || !strings.Contains(err.Error(), tr.LastPath) {
		t.Fatalf("Run returned %v, want an error naming epoch 1 and %s", err, tr.LastPath)
	}
	if want := []string{"epoch 1", "saved 1"}; !slices.Equal(events, want) {
		t.Errorf("callbacks %q, want %q", events, want)
	}
	if told == nil || told.Error() != err.Error() {
		t.Errorf("OnSaved was told %v, want the run's error %v", told, err)
	}
}

// TestInterruptAnywhereResumesExactly: a run interrupted in the middle of
// an epoch, or while validating (which can take seconds on the CPU and is
// left behind rather than waited for), saves a state from which a resumed
// run reports the same epochs (train loss over all the epoch's steps,
// validation) and ends with the same weights, bit for bit, as the run that
// never stopped.
func TestInterruptAnywhereResumesExactly(t *testing.T) {
	poems := samplePoems(t, 40)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs, tc.AnnealSteps = 8, 2, 4
	type epochFigures struct {
		loss, nll, kl, beta float64
		valid               ValidStats
	}
	run := func(tr *Trainer, ctx context.Context) ([]epochFigures, error) {
		var eps []epochFigures
		tr.OnEpoch = func(e EpochInfo) {
			eps = append(eps, epochFigures{e.TrainLoss, e.TrainNLL, e.TrainKL, e.Beta, e.Valid})
		}
		return eps, tr.Run(ctx)
	}
	whole := validatedSetup(t, poems, 32, tc, "cpu")
	want, err := run(whole, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const batches = 4 // 32 poems, 8 a batch

	for _, tt := range []struct {
		name    string
		stopAt  func(tr *Trainer, cancel func())
		pos     int
		reports int // epochs reported before the stop
	}{
		{"mid-epoch", func(tr *Trainer, cancel func()) {
			tr.OnStep = func(s StepInfo) {
				if s.Step == 2 {
					cancel()
				}
			}
		}, 2, 0},
		{"validating", func(tr *Trainer, cancel func()) {
			// The validation never ends: the run must not wait for it.
			never, release := context.WithCancel(context.Background())
			t.Cleanup(release)
			tr.beforeValidate = func() {
				cancel()
				<-never.Done()
			}
		}, batches, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tr := validatedSetup(t, poems, 32, tc, "cpu")
			tr.LastPath = filepath.Join(dir, "last.ckpt")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.stopAt(tr, cancel)
			type result struct {
				eps []epochFigures
				err error
			}
			done := make(chan result, 1)
			go func() {
				eps, err := run(tr, ctx)
				done <- result{eps, err}
			}()
			var first result
			select {
			case first = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the interrupted run did not return")
			}
			if first.err != ErrInterrupted {
				t.Fatalf("interrupted run returned %v, want ErrInterrupted alone", first.err)
			}
			if len(first.eps) != tt.reports {
				t.Fatalf("%d epochs reported before the stop, want %d", len(first.eps), tt.reports)
			}
			ck, err := Load(tr.LastPath)
			if err != nil {
				t.Fatal(err)
			}
			if st := ck.Train; st.Epoch != 0 || st.Pos != tt.pos || st.Sums.Steps != tt.pos {
				t.Fatalf("saved state at epoch %d, batch %d, with %d steps summed; want epoch 0, batch %d, %d steps",
					st.Epoch, st.Pos, st.Sums.Steps, tt.pos, tt.pos)
			}
			resumed := &Trainer{Model: ck.Model, State: ck.Train, Train: poems[:32], Valid: poems[32:], Device: "cpu"}
			rest, err := run(resumed, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := append(first.eps, rest...); !slices.Equal(got, want) {
				t.Errorf("epochs of the resumed run\n%+v\nwant those of the run that never stopped\n%+v", got, want)
			}
			for i := range whole.Model.Params.Values {
				if !slices.Equal(whole.Model.Params.Float64s(i), resumed.Model.Params.Float64s(i)) {
					t.Errorf("parameter %s differs after the resume", whole.Model.Params.Names[i])
				}
			}
		})
	}
}

// TestResumeOfAStateWithoutSums: a state saved before the epoch's sums
// were (its JSON has no epoch_sums) still loads and resumes.
func TestResumeOfAStateWithoutSums(t *testing.T) {
	poems := samplePoems(t, 16)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := smallSetup(t, poems, tc)
	path := filepath.Join(t.TempDir(), "last.ckpt")
	if err := (&Checkpoint{Model: tr.Model, Train: tr.State}).Save(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "epoch_sums") {
		t.Error("a state with nothing summed writes epoch_sums")
	}
	ck, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &Trainer{Model: ck.Model, State: ck.Train, Train: poems}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestValidationPanicOnRunsGoroutine: a panic of the validation, which
// runs in a goroutine of its own on the CPU, is raised again by Run, where
// its caller can recover it, rather than ending the program.
func TestValidationPanicOnRunsGoroutine(t *testing.T) {
	poems := samplePoems(t, 24)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Epochs = 8, 1
	tr := validatedSetup(t, poems, 16, tc, "cpu")
	tr.beforeValidate = func() { panic("a bug in validation") }
	defer func() {
		if r := recover(); r != "a bug in validation" {
			t.Errorf("Run panicked with %v, want the validation's panic", r)
		}
	}()
	tr.Run(context.Background())
	t.Error("Run returned")
}
