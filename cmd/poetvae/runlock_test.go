package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestTrainLock: while a run holds the lock of an output, a second train
// on it, a --resume of it and a --force are refused with the holder's pid
// and leave the files alone; once the lock is given back, training works,
// and removes the temporary files of a run killed while saving.
func TestTrainLock(t *testing.T) {
	inTempDir(t)
	release, err := lockRun("m.ckpt", "m.last.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	pid := fmt.Sprintf("process %d", os.Getpid())
	for _, extra := range [][]string{nil, {"--resume"}, {"--force"}} {
		args := slices.Concat(tinyTrain, extra, []string{"--out", "m.ckpt"})
		code, _, stderr := poetvae(t, args...)
		if code != 1 || !strings.Contains(stderr, "still going") || !strings.Contains(stderr, pid) || !strings.Contains(stderr, "m.ckpt.lock") {
			t.Errorf("poetvae %s under a held lock: status %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		if _, err := os.Stat("m.ckpt"); err == nil {
			t.Errorf("poetvae %s under a held lock wrote m.ckpt", strings.Join(args, " "))
		}
	}
	release()
	if _, err := os.Stat("m.ckpt.lock"); !os.IsNotExist(err) {
		t.Errorf("the lock file is still there after the run: %v", err)
	}

	writeFile(t, "m.ckpt.tmp123", "half a checkpoint")
	writeFile(t, "m.last.ckpt.tmp456", "half a checkpoint")
	writeFile(t, "other.ckpt.tmp789", "another output's")
	args := slices.Concat(tinyTrain, []string{"--out", "m.ckpt"})
	if code, _, stderr := poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
	}
	for _, gone := range []string{"m.ckpt.tmp123", "m.last.ckpt.tmp456", "m.ckpt.lock"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the run: %v", gone, err)
		}
	}
	if _, err := os.Stat("other.ckpt.tmp789"); err != nil {
		t.Errorf("a run on m.ckpt removed another output's file: %v", err)
	}
}
