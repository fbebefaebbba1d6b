package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/model"
)

// tinyRun is a run small enough for the tests that trains until it is
// stopped, on the sample, with messages (no --quiet).
var tinyRun = []string{"train", "--sample", "--epochs", "100000", "--patience", "0", "--batch", "32",
	"--embed", "16", "--enc-hidden", "16", "--dec-hidden", "16", "--latent", "4", "--out", "m.ckpt"}

// trainWith runs poetvae with args in the test, calling hook at the start
// of each phase of train (see trainHook) with a function that stands for
// Ctrl-C: the context train's own signal handling derives from is
// cancelled. It returns the status run would exit with and the output.
func trainWith(t *testing.T, hook func(phase string, interrupt func()), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	if hook != nil {
		ctx = context.WithValue(ctx, trainHookKey{}, func(phase string) { hook(phase, interrupt) })
	}
	var out, errb bytes.Buffer
	err := newApp(&out, &errb).RunContext(ctx, append([]string{"poetvae"}, args...))
	var ee *exitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
	}
	if err != nil {
		fmt.Fprintf(&errb, "poetvae: %s\n", oneLine(err.Error()))
	}
	return code, out.String(), errb.String()
}

// checkRunFiles fails the test for a file in dir that a stopped run must
// not leave: a checkpoint that does not load, a temporary file of a save,
// the lock. It returns the checkpoints found.
func checkRunFiles(t *testing.T, dir string) (ckpts []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.Contains(name, ".tmp"), strings.HasSuffix(name, ".lock"):
			t.Errorf("the stopped run left %s", name)
		case strings.HasSuffix(name, ".ckpt"):
			if _, err := model.Load(filepath.Join(dir, name)); err != nil {
				t.Errorf("the stopped run left a checkpoint that does not load: %v", err)
			}
			ckpts = append(ckpts, name)
		}
	}
	return ckpts
}

// TestTrainInterruptedInEachPhase: Ctrl-C in any phase of train, however
// long the phase would take (here it never ends: the hook blocks it until
// the test is over), ends the run at once with status 130 and a line that
// says what was kept; the files left are whole, or none.
func TestTrainInterruptedInEachPhase(t *testing.T) {
	// A run to resume, for the phase of reading its state.
	base := t.TempDir()
	t.Chdir(base)
	t.Setenv(modelEnv, "")
	first := slices.Concat(tinyRun, []string{"--epochs", "1", "--quiet"})
	if code, _, stderr := poetvae(t, first...); code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(first, " "), code, stderr)
	}
	before := map[string][]byte{}
	for _, name := range []string{"m.ckpt", "m.last.ckpt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = b
	}

	for _, tt := range []struct {
		phase  string
		extra  []string // flags beside the tiny run's
		resume bool
		blocks bool     // the phase runs aside, and is left behind
		want   []string // in the last line
		files  []string // the checkpoints left in a new run's directory
	}{
		{"corpus", nil, false, true, []string{"interrupted before training began", "no file was written"}, nil},
		{"keywords", nil, false, true, []string{"interrupted before training began"}, nil},
		{"rhymes", nil, false, true, []string{"interrupted before training began"}, nil},
		{"state", nil, true, true, []string{"interrupted before training resumed", "m.last.ckpt is as it was", "train --resume"}, nil},
		{"train", nil, false, false, []string{"interrupted at step 0", "state saved to", "m.last.ckpt", "train --resume"}, []string{"m.last.ckpt"}},
		{"sampler", nil, false, true, []string{"interrupted while fitting the sampling distribution", "m.ckpt holds the trained model", "poetvae prior --model m.ckpt and"},
			[]string{"m.ckpt", "m.last.ckpt"}},
		// The mixture a --halves run fits is the one prior --halves fits.
		{"sampler", []string{"--halves"}, false, true, []string{"interrupted while fitting the sampling distribution", "poetvae prior --model m.ckpt --halves"},
			[]string{"m.ckpt", "m.last.ckpt"}},
	} {
		t.Run(strings.Join(append([]string{tt.phase}, tt.extra...), " "), func(t *testing.T) {
			dir := base
			if !tt.resume {
				dir = t.TempDir()
			}
			t.Chdir(dir)
			// The phases left behind wait for the end of the test, as a
			// phase that never ends would.
			over, end := context.WithCancel(context.Background())
			t.Cleanup(end)
			reached := false
			hook := func(phase string, interrupt func()) {
				if phase != tt.phase {
					return
				}
				reached = true
				interrupt()
				if tt.blocks {
					<-over.Done()
				}
			}
			args := slices.Concat(tinyRun, tt.extra)
			if tt.resume {
				args = append(args, "--resume")
			} else {
				// The sampler's phase comes after the last epoch.
				args = append(args, "--epochs", "1")
			}
			type result struct {
				code           int
				stdout, stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, stdout, stderr := trainWith(t, hook, args...)
				done <- result{code, stdout, stderr}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("the run interrupted in the phase %q did not end", tt.phase)
			}
			code, stdout, stderr := r.code, r.stdout, r.stderr
			if !reached {
				t.Fatalf("the run never reached the phase %q; stderr:\n%s", tt.phase, stderr)
			}
			if code != 130 {
				t.Errorf("status %d, want 130; stderr:\n%s", code, stderr)
			}
			mentions(t, args, lastLine(stderr), tt.want...)
			if strings.Contains(stdout, "model written") {
				t.Errorf("an interrupted run reports its model written: %q", stdout)
			}
			ckpts := checkRunFiles(t, dir)
			if tt.resume {
				for name, b := range before {
					if now, err := os.ReadFile(name); err != nil || !bytes.Equal(now, b) {
						t.Errorf("%s changed: %v", name, err)
					}
				}
			} else if !slices.Equal(ckpts, tt.files) {
				t.Errorf("the run left %q, want %q", ckpts, tt.files)
			}
		})
	}
}

// TestTrainInterruptedBySignal: the program itself, sent SIGINT as Ctrl-C
// sends it, at moments from its start to its training and to the start of
// a resumed run, exits within seconds with status 130 and a line that says
// so, leaving whole files or none.
func TestTrainInterruptedBySignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	bin := filepath.Join(t.TempDir(), "poetvae")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building poetvae: %v\n%s", err, out)
	}
	dir := t.TempDir()
	lock := filepath.Join(dir, "m.ckpt.lock")
	for _, tt := range []struct {
		name string
		args []string
		// when stops the run at the first line of stderr for which it is
		// true; nil stops it once the run holds its lock, which it takes
		// right after the flags are read.
		when func(line string) bool
		want string // the start of the last line
	}{
		{"at the start", []string{"--force"}, nil, "poetvae: interrupted "},
		{"in the first epoch", []string{"--force"}, func(l string) bool { return strings.HasPrefix(l, "training on the CPU") },
			"poetvae: interrupted at step"},
		{"after an epoch", []string{"--force"}, func(l string) bool { return strings.HasPrefix(l, "epoch  1 ") },
			"poetvae: interrupted at step"},
		{"at the start of a resumed run", []string{"--resume"}, nil, "poetvae: interrupted "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var state []byte // the state to resume from, before the run
			if tt.name == "at the start of a resumed run" {
				var err error
				if state, err = os.ReadFile(filepath.Join(dir, "m.last.ckpt")); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, slices.Concat(tinyRun, tt.args)...)
			cmd.Dir = dir
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var seen []string
			deadline := time.After(60 * time.Second)
			for waiting := true; waiting; {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("the run ended before the moment to stop it; stderr:\n%s", strings.Join(seen, "\n"))
					}
					seen = append(seen, l)
					waiting = tt.when == nil || !tt.when(l)
				case <-time.After(time.Millisecond):
					if tt.when == nil {
						_, err := os.Stat(lock)
						waiting = err != nil
					}
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("the moment to stop the run never came; stderr:\n%s", strings.Join(seen, "\n"))
				}
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() {
				for l := range lines {
					seen = append(seen, l)
				}
				exited <- cmd.Wait()
			}()
			select {
			case err = <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("the run did not end within 10 s of SIGINT; stderr:\n%s", strings.Join(seen, "\n"))
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Fatalf("status %d (%v), want 130; stderr:\n%s", code, err, strings.Join(seen, "\n"))
			}
			last := seen[len(seen)-1]
			if !strings.HasPrefix(last, tt.want) {
				t.Errorf("last line %q, want it to start with %q", last, tt.want)
			}
			// The line says what the files are.
			ckpts := checkRunFiles(t, dir)
			switch {
			case strings.Contains(last, "no file was written"):
				if len(ckpts) > 0 {
					t.Errorf("%q, but the run left %q", last, ckpts)
				}
			case strings.Contains(last, "state saved to m.last.ckpt"):
				if !slices.Contains(ckpts, "m.last.ckpt") {
					t.Errorf("%q, but the run left %q", last, ckpts)
				}
			case strings.Contains(last, "m.last.ckpt is as it was"):
				if now, err := os.ReadFile(filepath.Join(dir, "m.last.ckpt")); err != nil || !bytes.Equal(now, state) {
					t.Errorf("%q, but m.last.ckpt changed (%v)", last, err)
				}
			default:
				t.Errorf("the last line %q does not say what was kept", last)
			}
		})
	}
}

// TestTrainSaveFailure: an epoch whose files cannot be written is not
// reported saved, and the run fails with a line that names the epoch and
// the file, rather than reporting its model written; a Ctrl-C whose state
// cannot be written fails (status 1), saying so, rather than reporting
// the state saved.
func TestTrainSaveFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run", "m.ckpt")
	hook := func(phase string, _ func()) {
		if phase == "train" { // the output's directory goes from under the run
			if err := os.RemoveAll(filepath.Dir(out)); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := slices.Concat(tinyRun, []string{"--epochs", "2", "--out", out})
	code, stdout, stderr := trainWith(t, hook, args...)
	if code != 1 {
		t.Errorf("status %d, want 1; stderr:\n%s", code, stderr)
	}
	mentions(t, args, lastLine(stderr), "epoch 1 was not saved", filepath.Dir(out))
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	var epochLine string
	for _, l := range lines(stderr) {
		if strings.HasPrefix(l, "epoch ") {
			epochLine = l
		}
	}
	if !strings.HasSuffix(epochLine, "  not saved") || strings.HasPrefix(epochLine, "epoch  2") {
		t.Errorf("the last epoch line is %q, want epoch 1's, marked not saved; stderr:\n%s", epochLine, stderr)
	}

	hook = func(phase string, interrupt func()) {
		if phase == "train" {
			if err := os.RemoveAll(filepath.Dir(out)); err != nil {
				t.Fatal(err)
			}
			interrupt()
		}
	}
	code, stdout, stderr = trainWith(t, hook, args...)
	if code != 1 {
		t.Errorf("status %d, want 1; stderr:\n%s", code, stderr)
	}
	mentions(t, args, lastLine(stderr), "training interrupted", "saving the state failed", filepath.Dir(out), "at step 0", "m.last.ckpt is as it was")
	if strings.Contains(stderr, "state saved") || stdout != "" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
}

// TestTrainChecksTheModelWritten: the line "model written to" comes only
// after the model is read back whole: a model damaged after it was written
// fails the run, naming it.
func TestTrainChecksTheModelWritten(t *testing.T) {
	inTempDir(t)
	hook := func(phase string, _ func()) {
		if phase == "verify" {
			b, err := os.ReadFile("m.ckpt")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("m.ckpt", flip(b, len(b)/2), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := slices.Concat(tinyRun, []string{"--epochs", "1"})
	code, stdout, stderr := trainWith(t, hook, args...)
	if code != 1 {
		t.Errorf("status %d, want 1; stderr:\n%s", code, stderr)
	}
	mentions(t, args, lastLine(stderr), "could not be read back", "m.ckpt")
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
}

// TestResumeRestoresTheBestModel: a resumed run whose best model is
// missing or damaged writes it again from its state when the state holds
// the best epoch's weights; otherwise it says so, writes it at the next
// epoch that improves on the best, and, when none does, fails saying where
// the weights are rather than reporting the model written.
func TestResumeRestoresTheBestModel(t *testing.T) {
	inTempDir(t)
	run := slices.Concat(tinyRun, []string{"--epochs", "1"})
	// start trains one epoch; the state then holds the best weights.
	start := func() {
		t.Helper()
		args := append(slices.Clone(run), "--force", "--quiet")
		if code, _, stderr := poetvae(t, args...); code != 0 {
			t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	damage := map[string]func(){
		"missing": func() {
			if err := os.Remove("m.ckpt"); err != nil {
				t.Fatal(err)
			}
		},
		"damaged": func() {
			b, err := os.ReadFile("m.ckpt")
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, "m.ckpt", string(flip(b, len(b)-40)))
		},
	}
	// moveBest makes the state's best epoch one before its last, with a
	// validation ELBO of elbo: the state then no longer holds its weights.
	moveBest := func(elbo float64) {
		t.Helper()
		args := append(slices.Clone(tinyRun), "--resume", "--epochs", "2", "--quiet")
		if code, _, stderr := poetvae(t, args...); code != 0 {
			t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
		}
		ck, err := model.Load("m.last.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		ck.Train.BestEpoch, ck.Train.BestELBO = 1, elbo
		if err := ck.Save("m.last.ckpt"); err != nil {
			t.Fatal(err)
		}
	}
	loads := func(name string) bool {
		_, err := model.Load(name)
		return err == nil
	}
	for how, harm := range damage {
		t.Run(how+", rebuilt from the state", func(t *testing.T) {
			start()
			harm()
			// The model is whole again before the first epoch of the resumed run.
			var atTraining bool
			hook := func(phase string, _ func()) {
				if phase == "train" {
					atTraining = loads("m.ckpt")
				}
			}
			args := append(slices.Clone(tinyRun), "--resume", "--epochs", "2")
			code, stdout, stderr := trainWith(t, hook, args...)
			if code != 0 {
				t.Fatalf("status %d; stderr:\n%s", code, stderr)
			}
			mentions(t, args, stderr, "the best model m.ckpt was missing or damaged", "rebuilt it from m.last.ckpt", "best epoch, 1")
			if !atTraining {
				t.Error("m.ckpt was not whole when training resumed")
			}
			if !strings.Contains(stdout, "model written to m.ckpt") || !loads("m.ckpt") {
				t.Errorf("stdout %q; m.ckpt loads: %v", stdout, loads("m.ckpt"))
			}
		})
		t.Run(how+", not improved on", func(t *testing.T) {
			start()
			moveBest(1e-9) // no epoch can improve on it
			harm()
			args := append(slices.Clone(tinyRun), "--resume", "--epochs", "3")
			code, stdout, stderr := trainWith(t, nil, args...)
			if code != 1 {
				t.Errorf("status %d, want 1; stderr:\n%s", code, stderr)
			}
			mentions(t, args, stderr, "warning: the best model m.ckpt is missing or damaged", "cannot be rebuilt from the run's state",
				"its best epoch was 1")
			mentions(t, args, lastLine(stderr), "no epoch of this run improved on epoch 1", "m.ckpt", "was not written again",
				"latest weights are in m.last.ckpt")
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if how == "missing" && loads("m.ckpt") {
				t.Error("m.ckpt came back from nowhere")
			}

			// A finished run says the same when asked to go on.
			args = append(slices.Clone(tinyRun), "--resume", "--epochs", "3")
			code, stdout, stderr = poetvae(t, args...)
			failed(t, args, code, stdout, stderr, 2, "has finished its 3 epochs", "m.ckpt is missing or damaged", "cannot be rebuilt")
		})
		t.Run(how+", improved on", func(t *testing.T) {
			start()
			moveBest(1e9) // the next epoch improves on it
			harm()
			args := append(slices.Clone(tinyRun), "--resume", "--epochs", "3")
			code, stdout, stderr := trainWith(t, nil, args...)
			if code != 0 {
				t.Fatalf("status %d; stderr:\n%s", code, stderr)
			}
			mentions(t, args, stderr, "cannot be rebuilt from the run's state", "will be written again when an epoch improves on epoch 1")
			if !strings.Contains(stdout, "best epoch 3 of 3") || !strings.Contains(stdout, "model written to m.ckpt") || !loads("m.ckpt") {
				t.Errorf("stdout %q; m.ckpt loads: %v", stdout, loads("m.ckpt"))
			}
		})
	}
}

// TestResumeRefusesOtherSettings: --resume refuses the flags given with
// values other than the stored run's, naming each with the run's value,
// and changes nothing; it takes those it may change (--epochs,
// --patience, --min-gain, the flags that do not shape the run) and flags
// given with the run's own values.
func TestResumeRefusesOtherSettings(t *testing.T) {
	inTempDir(t)
	first := slices.Concat(tinyTrain, []string{"--epochs", "1", "--out", "m.ckpt"})
	if code, _, stderr := poetvae(t, first...); code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(first, " "), code, stderr)
	}
	state, err := os.ReadFile("m.last.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	resume := func(flags ...string) []string {
		return slices.Concat([]string{"train", "--sample", "--resume", "--out", "m.ckpt", "--quiet"}, flags)
	}
	for _, tt := range []struct {
		flags, want, not []string
	}{
		{[]string{"--seed", "9", "--lr", "0.1", "--batch", "32", "--embed", "64", "--epochs", "3"},
			[]string{"--resume continues the run as it was started", "--seed 9", "--lr 0.1", "--embed 64",
				"seed 1", "lr 0.002", "embed 16", "differ from the run's", "--force"},
			[]string{"--batch", "--epochs"}},
		{[]string{"--kl-anneal", "none", "--dropout", "0.1", "--bag-of-chars"},
			[]string{"--kl-anneal none", "--dropout 0.1", "--bag-of-chars differ", "kl-anneal linear", "dropout 0.3", "without --bag-of-chars"}, nil},
		{[]string{"--min-count", "3"}, []string{"--min-count 3 differs", "a vocabulary of", "where --min-count 3 keeps"}, nil},
	} {
		args := resume(tt.flags...)
		code, stdout, stderr := poetvae(t, args...)
		failed(t, args, code, stdout, stderr, 2, tt.want...)
		for _, w := range tt.not {
			if strings.Contains(lastLine(stderr), w) {
				t.Errorf("poetvae %s: names %s, given with the run's value or one that may change: %s", strings.Join(args, " "), w, stderr)
			}
		}
		if now, err := os.ReadFile("m.last.ckpt"); err != nil || !bytes.Equal(now, state) {
			t.Errorf("poetvae %s changed m.last.ckpt", strings.Join(args, " "))
		}
	}

	args := resume("--epochs", "2", "--patience", "5", "--min-gain", "0.25", "--sampler", "0", "--device", "cpu", "--min-count", "1",
		"--seed", "1", "--batch", "32", "--embed", "16", "--latent", "4")
	if code, _, stderr := poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
	}
	ck, err := model.Load("m.last.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if c := ck.Train.Config; c.Epochs != 2 || c.Patience != 5 || c.MinGain != 0.25 || ck.Train.Epoch != 2 {
		t.Errorf("after resuming with --epochs 2 --patience 5 --min-gain 0.25: epochs %d, patience %d, least gain %g, epoch %d",
			c.Epochs, c.Patience, c.MinGain, ck.Train.Epoch)
	}
}

// TestTrainHelpNamesWhatResumeMayChange: train --help says which flags a
// resumed run takes.
func TestTrainHelpNamesWhatResumeMayChange(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"poetvae", "train", "--help"}, &out, io.Discard); code != 0 {
		t.Fatalf("train --help: status %d", code)
	}
	help := strings.Join(strings.Fields(out.String()), " ")
	for _, w := range []string{"only --epochs, --patience and --min-gain may change", "--sampler, --no-keywords, --jieba-dict, --device, --tf32 and --quiet"} {
		if !strings.Contains(help, w) {
			t.Errorf("train --help does not say %q", w)
		}
	}
}

// TestTrainPanicInAPhaseAside: a panic in a phase of train that runs in a
// goroutine of its own (to be left behind by Ctrl-C) is still reported as
// an internal error (status 70) naming where it happened, not a crash.
func TestTrainPanicInAPhaseAside(t *testing.T) {
	inTempDir(t)
	var errb bytes.Buffer
	app := newApp(io.Discard, &errb)
	app.Before = func(c *cli.Context) error {
		c.Context = context.WithValue(c.Context, trainHookKey{}, func(phase string) {
			if phase == "keywords" {
				var words map[string]int
				words["月"]++ // a bug: assignment to a nil map
			}
		})
		return nil
	}
	args := slices.Concat(tinyRun, []string{"--epochs", "1"})
	code := runApp(app, append([]string{"poetvae"}, args...), &errb)
	if code != exitInternal {
		t.Errorf("status %d, want %d; stderr:\n%s", code, exitInternal, errb.String())
	}
	mentions(t, args, lastLine(errb.String()), "internal error", "assignment to entry in nil map", "trainsafe_test.go")
}
