package model

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckpointWriter: writes happen in the background in the order
// handed over, each file ends with the latest checkpoint handed over for
// it (one still waiting when a newer one comes is never written), the
// checkpoints are snapshots that later training does not change, and a
// failed write is returned by every later call.
func TestCheckpointWriter(t *testing.T) {
	tr := smallSetup(t, samplePoems(t, 8), DefaultTrainConfig())
	m, st := tr.Model, tr.State
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ckpt"), filepath.Join(dir, "b.ckpt")

	w := newCheckpointWriter()
	var gate sync.WaitGroup // holds the writes back until all is handed over
	gate.Add(1)
	var writes atomic.Int32
	w.before = func() { writes.Add(1); gate.Wait() }
	hand := func(path string, step int) {
		t.Helper()
		st.Step = step
		m.Params.Values[0].Data().([]float32)[0] = float32(step)
		sm, ss := snapshot(m, st)
		if err := w.write(path, &Checkpoint{Model: sm, Train: ss}); err != nil {
			t.Fatal(err)
		}
	}
	hand(a, 1) // taken by the writer at once, held back by before
	for deadline := time.Now().Add(10 * time.Second); writes.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not start")
		}
	}
	hand(b, 2)
	hand(a, 3) // waits behind b…
	hand(a, 4) // …and is replaced by this
	// Training goes on.
	m.Params.Values[0].Data().([]float32)[0] = -1
	st.Step = -1
	gate.Done()
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 3 {
		t.Errorf("%d writes, want 3: a at step 1, b, a at step 4", n)
	}
	for path, want := range map[string]int{a: 4, b: 2} {
		ck, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		got := ck.Train.Step
		if got != want || ck.Model.Params.Values[0].Data().([]float32)[0] != float32(want) {
			t.Errorf("%s holds the checkpoint of step %d (first weight %v), want %d",
				filepath.Base(path), got, ck.Model.Params.Values[0].Data().([]float32)[0], want)
		}
	}

	missing := filepath.Join(dir, "missing", "c.ckpt")
	if err := w.write(missing, &Checkpoint{Model: m}); err != nil {
		t.Fatalf("handing over: %v", err)
	}
	err := w.flush()
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("flush after a failed write: %v, want an error naming %s", err, missing)
	}
	if w.failed() != err {
		t.Errorf("failed() = %v, want %v", w.failed(), err)
	}
	if err2 := w.write(b, &Checkpoint{Model: m}); err2 != err {
		t.Errorf("write after a failure: %v, want %v", err2, err)
	}
	if err := w.flush(); err == nil {
		t.Error("the failure was forgotten")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the failed write left a file")
	}
}
