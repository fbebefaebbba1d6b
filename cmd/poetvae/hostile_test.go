package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
)

// The hostile-input tests: every command that reads numbers or text from
// the command line is run with values chosen to break it, and each run
// must end in the documented behaviour or in a one-line usage error
// (status 2) that names the flag, never in a panic or a stack trace.

// hostileInts are the values every integer flag is given: below any
// sensible range, the zero value, and one so large that memory sized by it
// cannot be allocated (2^62).
var hostileInts = []string{"-1", "0", "4611686018427387904"}

// hostileFloats are those of the real-valued flags: the same, and the
// values strconv.ParseFloat reads that are no ordinary numbers.
var hostileFloats = []string{"-1", "0", "4611686018427387904", "NaN", "Inf", "-Inf"}

// hostileDurations are those of the duration flags (serve --timeout):
// below zero, zero, and 2^62 nanoseconds (some 146 years).
var hostileDurations = []string{"-1ns", "0s", "4611686018427387904ns"}

// hostileTexts are those of the text flags and of the poem arguments:
// empty, blank, no Chinese at all, and far longer than any poem.
var hostileTexts = []string{"", "   ", "abc", strings.Repeat("月", 100000)}

// hostileSkip are the flags the table leaves out, and why: each names a
// file, a directory or a device, whose failures are the environment's
// (status 1) and have tests of their own; TestHostileFiles gives the file
// flags of the commands it covers an empty name, a missing file and a
// directory.
var hostileSkip = map[string]string{
	"model":       "names a model file: TestDamagedModel, TestBuiltinModel, TestHostileFiles",
	"device":      "names a device: TestDeviceFlag, TestDeviceNames",
	"rhyme-table": "names a rhyme table file: TestEvalTableOnlyJudges, TestCorpusStats, TestHostileFiles",
	"jieba-dict":  "names a directory: TestThemeNeedsDictionaries",
	"check":       "names corpus files: TestGenerateCheck",
	"valid":       "names corpus files: TestTrain, TestPrior, TestHostileFiles (pack)",
	"train":       "names corpus files (eval --train): TestEval",
	"corpus":      "names a corpus file (neighbors, serve): TestHostileFiles",
	"baseline":    "names a model file: TestEvalBaseline",
	"from-lm":     "names a model file: TestTrainFromLM",
	"meta":        "names a metadata file: TestPlotLatent, TestHostileFiles",
	"font":        "names a font file: TestPlotLatentNoCJKFont, TestHostileFiles",
	"output":      "names the file to write: TestHostileExplicit, TestHostileFiles",
	"out":         "names the model to write: TestHostileExplicit, TestHostileFiles (pack)",
}

// hostileCommand is a command of the table with what makes a quick run of
// it that succeeds; the hostile value of one flag is added after base.
type hostileCommand struct {
	path []string // the command's words, such as plot latent
	base []string // flags of a quick run
	args []string // the arguments, after the flags
	// poems says that the arguments are poems, each of which is also
	// replaced by the hostile texts.
	poems bool
	// needs gives the flags without which a flag is not read at all, so
	// that its value reaches the code that uses it.
	needs map[string][]string
	// prepare, when set, changes the application before each run
	// (stopServeAtOnce).
	prepare func(*cli.App)
}

// hostileOutputCap bounds what a run may write on stdout: a command that
// writes as long as it is asked (generate --count 2^62) stops at the write
// that fails, as it would at the end of a pipe closed by head.
const hostileOutputCap = 64 << 10

var errHostileOutputCap = errors.New("the test's output limit is reached")

// cappedBuffer is a bytes.Buffer whose writes fail past hostileOutputCap.
type cappedBuffer struct{ bytes.Buffer }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > hostileOutputCap {
		return 0, errHostileOutputCap
	}
	return b.Buffer.Write(p)
}

// hostileRun runs the command line as the poetvae helper does, with
// stdout capped, and fails the test on what no input may cause: a
// recovered panic (status 70), a stack trace, or an error that is not one
// line of its own.
func hostileRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return hostileRunApp(t, nil, args...)
}

// hostileRunApp is hostileRun with the application changed by prepare
// (if not nil) before it runs.
func hostileRunApp(t *testing.T, prepare func(*cli.App), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out cappedBuffer
	var errb bytes.Buffer
	app := newApp(&out, &errb)
	if prepare != nil {
		prepare(app)
	}
	code = runApp(app, append([]string{"poetvae"}, args...), &errb)
	stdout, stderr = out.String(), errb.String()
	if code == exitInternal {
		t.Errorf("poetvae %s: internal error: %s", hostileArgs(args), stderr)
	}
	for _, s := range []string{"goroutine ", "panic:", "runtime error"} {
		if strings.Contains(stderr, s) {
			t.Errorf("poetvae %s: stderr holds %q:\n%s", hostileArgs(args), s, stderr)
		}
	}
	if code != 0 && !strings.HasPrefix(lastLine(stderr), "poetvae: ") {
		t.Errorf("poetvae %s: status %d, but stderr does not end with a line \"poetvae: ...\":\n%s", hostileArgs(args), code, stderr)
	}
	return code, stdout, stderr
}

// hostileArgs writes a command line for a message, long values cut short.
func hostileArgs(args []string) string {
	short := make([]string, len(args))
	for i, a := range args {
		short[i] = shortText(a)
	}
	return strings.Join(short, " ")
}

// maxMessage is the longest error line accepted: a message may quote what
// was typed, cut short, but never the whole of a long value.
const maxMessage = 1000

// checkHostile judges one run: it succeeded and wrote something, or it is
// a usage error (status 2) whose message names what was wrong (flag: a
// flag's name with its dashes, or "poem"), or it stopped at the capped
// output.
func checkHostile(t *testing.T, args []string, flag string, code int, stdout, stderr string) {
	t.Helper()
	msg := lastLine(stderr)
	switch code {
	case 0:
		if stdout == "" {
			t.Errorf("poetvae %s: status 0 but nothing on stdout", hostileArgs(args))
		}
	case 2:
		if stdout != "" {
			t.Errorf("poetvae %s: status 2 but stdout %q", hostileArgs(args), shortText(stdout))
		}
		// urfave/cli's own parse errors name a flag with one dash.
		if !strings.Contains(msg, strings.TrimPrefix(flag, "-")) {
			t.Errorf("poetvae %s: the message %q does not name %s", hostileArgs(args), shortText(msg), flag)
		}
		if len(msg) > maxMessage {
			t.Errorf("poetvae %s: a message of %d bytes: %s", hostileArgs(args), len(msg), shortText(msg))
		}
	case 1:
		if !strings.Contains(msg, errHostileOutputCap.Error()) {
			t.Errorf("poetvae %s: status 1 (%s); want success or a usage error (2)", hostileArgs(args), shortText(msg))
		}
	default:
		t.Errorf("poetvae %s: status %d (%s); want success or a usage error (2)", hostileArgs(args), code, shortText(msg))
	}
}

// findCommand returns the command of the path in app.
func findCommand(app *cli.App, path []string) *cli.Command {
	cmds := app.Commands
	var cmd *cli.Command
	for _, name := range path {
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.Name == name })
		if i < 0 {
			return nil
		}
		cmd = cmds[i]
		cmds = cmd.Subcommands
	}
	return cmd
}

// hostileValues returns the values a flag is given by its type, and
// whether the table knows the type at all.
func hostileValues(f cli.Flag) ([]string, bool) {
	switch f.(type) {
	case *cli.IntFlag, *cli.Uint64Flag, *cli.Int64Flag, *cli.UintFlag:
		return hostileInts, true
	case *cli.Float64Flag:
		return hostileFloats, true
	case *cli.DurationFlag:
		return hostileDurations, true
	case *cli.StringFlag, *cli.GenericFlag:
		return hostileTexts, true
	case *cli.BoolFlag:
		return nil, true // takes no value
	}
	return nil, false
}

// TestHostileInput runs each command with each hostile value of each of
// its flags, found from the commands themselves so that a new flag is
// covered (or must be named in hostileSkip), and each poem argument
// replaced by each hostile text.
func TestHostileInput(t *testing.T) {
	m := sharedModel(t)
	dir := inTempDir(t)
	t.Setenv(fontEnv, "")
	writeSampleCorpus(t, "test.txt", 3)
	writeSampleCorpus(t, "corpus.txt", 60) // prior fits a mixture of 3 to it
	writeFile(t, "poems.json", importFixture)
	writeFile(t, "run.metrics.jsonl", metricsLog)
	// prior rewrites its model: it gets a copy of its own.
	data, err := os.ReadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "prior.ckpt", string(data))
	hasTheme := true
	if _, err := corpus.DictDir(""); err != nil {
		hasTheme = false
		t.Logf("no jieba dictionaries: --theme and its flags left out (%v)", err)
	}

	theme := []string{"--theme", "明月"}
	commands := []hostileCommand{
		{path: []string{"generate"}, base: []string{"--model", m, "--seed", "1"},
			needs: map[string][]string{"spread": {"--like", jingYeSi}, "theme-spread": theme, "theme-k": theme}},
		{path: []string{"interpolate"}, base: []string{"--model", m, "--steps", "2"}, args: []string{jingYeSi, dengGuanQ}, poems: true},
		{path: []string{"reconstruct"}, base: []string{"--model", m}, args: []string{jingYeSi}, poems: true},
		{path: []string{"eval"}, base: []string{"--model", m, "--samples", "3", "--is-k", "2"}, args: []string{"test.txt"}},
		{path: []string{"prior"}, base: []string{"--model", "prior.ckpt"}, args: []string{"corpus.txt"}},
		{path: []string{"plot", "latent"}, base: []string{"--model", m, "-o", "map.svg"}, args: []string{"test.txt"},
			needs: map[string][]string{"path": {"--path", jingYeSi}}},
		{path: []string{"corpus", "stats"}, args: []string{"test.txt"}},
		{path: []string{"corpus", "check"}, args: []string{jingYeSi}, poems: true},
		{path: []string{"corpus", "import"}, base: []string{"-o", "imported.txt"}, args: []string{"poems.json"}},
		{path: []string{"neighbors"}, base: []string{"--model", m}, args: []string{jingYeSi}, poems: true},
		{path: []string{"pack"}, base: []string{"--model", m, "--out", "packed.ckpt", "--force"}},
		{path: []string{"plot", "curves"}, base: []string{"-o", "curves.svg"}, args: []string{"run.metrics.jsonl"}},
		// serve is stopped as soon as it listens, on a free port: its
		// flags are read as in a real run.
		{path: []string{"serve"}, base: []string{"--model", m, "--addr", "127.0.0.1:0"}, prepare: stopServeAtOnce},
		// export has no flags but the names of files, which
		// TestHostileFiles gives, and switches.
		// Training as small as the shared model's, one epoch, no keyword
		// index or sampler to build; --patience 1 ends a run of 2^62
		// epochs at the first that does not improve.
		{path: []string{"train"}, base: slices.Concat(tinyTrain[1:], []string{"--epochs", "1", "--patience", "1",
			"--no-keywords", "--sampler", "0", "--force", "--out", "t.ckpt"})},
	}
	app := newApp(io.Discard, io.Discard)
	start := time.Now()
	runs := 0
	for _, hc := range commands {
		name := strings.Join(hc.path, " ")
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			if name == "plot latent" {
				skipWithoutCJKFont(t)
			}
			t.Chdir(dir)
			cmd := findCommand(app, hc.path)
			if cmd == nil {
				t.Fatalf("no command %s", name)
			}
			// The quick run itself must succeed, or the table tests nothing.
			args := slices.Concat(hc.path, hc.base, hc.args)
			if code, _, stderr := hostileRunApp(t, hc.prepare, args...); code != 0 {
				t.Fatalf("poetvae %s: status %d: %s", hostileArgs(args), code, stderr)
			}
			for _, f := range cmd.Flags {
				flag := f.Names()[0]
				if _, ok := hostileSkip[flag]; ok {
					continue
				}
				values, known := hostileValues(f)
				if !known {
					t.Errorf("--%s is a %T: give the table its hostile values, or a reason in hostileSkip", flag, f)
					continue
				}
				needs := hc.needs[flag]
				if !hasTheme && (flag == "theme" || slices.Contains(needs, "--theme")) {
					continue
				}
				for _, v := range values {
					args := slices.Concat(hc.path, hc.base, needs, []string{"--" + flag + "=" + v}, hc.args)
					code, stdout, stderr := hostileRunApp(t, hc.prepare, args...)
					checkHostile(t, args, "--"+flag, code, stdout, stderr)
					runs++
				}
			}
			if !hc.poems {
				return
			}
			for i := range hc.args {
				for _, v := range hostileTexts {
					poems := slices.Clone(hc.args)
					poems[i] = v
					args := slices.Concat(hc.path, hc.base, poems)
					code, stdout, stderr := hostileRunApp(t, hc.prepare, args...)
					checkHostile(t, args, "poem", code, stdout, stderr)
					runs++
				}
			}
		})
	}
	t.Logf("%d runs in %s", runs, time.Since(start).Round(time.Millisecond))
}

// TestHostileExplicit: the cases of the issue that the table does not
// reach, and the messages that say what the limits are.
func TestHostileExplicit(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeSampleCorpus(t, "test.txt", 3)
	huge := "4611686018427387904"
	tests := []struct {
		args []string
		want []string // in the one line on stderr
	}{
		// What names a file cannot be empty.
		{[]string{"train", "--sample", "--out", ""}, []string{"--out must name a file"}},
		{[]string{"plot", "latent", "--model", m, "-o", "", "test.txt"}, []string{"--output", ".png or .svg"}},
		// A poem that is not one is the user's mistake, wherever it is given.
		{[]string{"generate", "--model", m, "--like", "abc"}, []string{"--like", "non-Han"}},
		{[]string{"reconstruct", "--model", m, "abc"}, []string{"the poem", "non-Han"}},
		{[]string{"interpolate", "--model", m, jingYeSi, "abc"}, []string{"poem B", "non-Han"}},
		{[]string{"generate", "--model", m, "--lines", "3"}, []string{"--lines", "3-line"}},
		{[]string{"generate", "--model", m, "--lines", "8"}, []string{"--lines", "8-line", "4-line"}},
		// NaN reaches no decoder.
		{[]string{"generate", "--model", m, "--spread", "NaN", "--like", jingYeSi}, []string{"--spread", "NaN"}},
		// Limits say what the value would cost, and what the limit is.
		{[]string{"generate", "--model", m, "--beam", "100000"}, []string{"--beam 100000", "limit of 1000"}},
		{[]string{"interpolate", "--model", m, "--steps", "1000000000", jingYeSi, dengGuanQ}, []string{"--steps 1000000000 would need about", "GB", "the limit is"}},
		{[]string{"eval", "--model", m, "--is-k", "10000000000000000", "test.txt"}, []string{"--is-k 10000000000000000 would need about", "the limit is"}},
		{[]string{"eval", "--model", m, "--samples", huge, "test.txt"}, []string{"--samples " + huge + " would need about", "the limit is"}},
		{[]string{"train", "--sample", "--embed", huge}, []string{"--embed " + huge, "would need about", "to train"}},
		{[]string{"train", "--sample", "--batch", huge}, []string{"--batch " + huge, "would need about", "to train"}},
		// Every real-valued training setting is checked before training.
		{[]string{"train", "--sample", "--dropout", "NaN"}, []string{"--dropout", "NaN"}},
		{[]string{"train", "--sample", "--kl-anneal-steps", "-5"}, []string{"--kl-anneal-steps", "-5"}},
		{[]string{"train", "--sample", "--lr", "Inf"}, []string{"--lr", "+Inf"}},
		{[]string{"train", "--sample", "--free-bits", "Inf"}, []string{"--free-bits", "+Inf"}},
		{[]string{"train", "--sample", "--word-dropout", "NaN"}, []string{"--word-dropout", "NaN"}},
		{[]string{"train", "--sample", "--clip", "NaN"}, []string{"--clip", "NaN"}},
		{[]string{"train", "--sample", "--valid-split", "NaN"}, []string{"--valid-split", "NaN"}},
		// An empty value given on purpose is refused, not read as absent.
		{[]string{"generate", "--model", m, "--like", ""}, []string{"--like is empty"}},
		{[]string{"generate", "--model", m, "--acrostic", ""}, []string{"--acrostic is empty"}},
		{[]string{"generate", "--model", m, "--first-line", ""}, []string{"--first-line is empty"}},
		{[]string{"generate", "--model", m, "--template", ""}, []string{"--template is empty"}},
		{[]string{"generate", "--model", m, "--theme", ""}, []string{"--theme is empty"}},
		{[]string{"generate", "--model", m, "--rhyme", ""}, []string{"--rhyme is empty"}},
		{[]string{"generate", "--model", m, "--rhyme-char", ""}, []string{"--rhyme-char is empty"}},
		// A long value is quoted cut short.
		{[]string{"generate", "--model", m, "--acrostic", strings.Repeat("春", 100000)}, []string{"--acrostic", "100000 characters"}},
		{[]string{"neighbors", "--model", m, "--metric", strings.Repeat("m", 100000), jingYeSi}, []string{"--metric", "100000 characters", "cosine or euclidean"}},
		{[]string{"serve", "--model", m, "--addr", strings.Repeat("8", 100000)}, []string{"--addr", "100000 characters", "HOST:PORT"}},
		{[]string{"corpus", "check", strings.Repeat("月", 100000)}, []string{"the poem has 100000 characters"}},
		// corpus check reads its poem as the other commands do theirs.
		{[]string{"corpus", "check", "abc"}, []string{"the poem", "non-Han"}},
		{[]string{"corpus", "check", ""}, []string{"the poem", "empty"}},
		// The names of files: --corpus "" is not the sample corpus, and one
		// to write is named before the work.
		{[]string{"neighbors", "--model", m, "--corpus", "", jingYeSi}, []string{"--corpus is empty"}},
		{[]string{"pack", "--model", m, "--out", " "}, []string{"--out must name a file"}},
		{[]string{"corpus", "import", "-o", "out.txt", "--meta", "", "x.json"}, []string{"--meta is empty"}},
		{[]string{"corpus", "import", "-o", " ", "x.json"}, []string{"--output FILE"}},
		{[]string{"export", "--model", m, "--safetensors", " "}, []string{"--safetensors is empty"}},
		{[]string{"export", "--model", m, "--projector", ""}, []string{"--projector is empty"}},
		{[]string{"export", "--model", m, "--projector", "test.txt", "--out", " "}, []string{"--out needs a directory"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := hostileRun(t, tt.args...)
		failed(t, tt.args, code, stdout, stderr, 2, tt.want...)
		if n := len(lines(stderr)); n != 1 {
			t.Errorf("poetvae %s: %d lines on stderr, want 1:\n%s", hostileArgs(tt.args), n, stderr)
		}
		if len(stderr) > maxMessage {
			t.Errorf("poetvae %s: a message of %d bytes", hostileArgs(tt.args), len(stderr))
		}
	}
}

// TestHostileCountStreams: generate writes its poems as it decodes them,
// so that --count 2^62 is a stream that stops where the output does (here
// at the test's cap, in a pipe at head), and --json writes a valid
// document of the poems however many they are.
func TestHostileCountStreams(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	args := []string{"generate", "--model", m, "--seed", "3", "--count", "4611686018427387904"}
	code, stdout, stderr := hostileRun(t, args...)
	if code != 1 || !strings.Contains(stderr, errHostileOutputCap.Error()) {
		t.Fatalf("poetvae %s: status %d, stderr %q; want it to stop at the output's end", hostileArgs(args), code, stderr)
	}
	// Poems came out before the end: more than one chunk's worth.
	if n := len(lines(stdout)); n <= generateChunk {
		t.Errorf("poetvae %s: %d poems before the output closed, want more than a chunk (%d)", hostileArgs(args), n, generateChunk)
	}

	// The streamed JSON is what writeJSON writes of the same poems, for
	// more poems than a chunk.
	n := generateChunk + 3
	code, stdout, stderr = poetvae(t, "generate", "--model", m, "--seed", "3", "--count", fmt.Sprint(n), "--json")
	if code != 0 {
		t.Fatalf("generate --json: status %d: %s", code, stderr)
	}
	var doc struct {
		Seed  uint64     `json:"seed"`
		Poems []poemJSON `json:"poems"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("generate --json --count %d: %v", n, err)
	}
	if len(doc.Poems) != n || doc.Seed != 3 {
		t.Fatalf("generate --json --count %d: %d poems, seed %d", n, len(doc.Poems), doc.Seed)
	}
	var want bytes.Buffer
	if err := writeJSON(&want, doc); err != nil {
		t.Fatal(err)
	}
	if stdout != want.String() {
		t.Errorf("generate --json --count %d is not what writeJSON writes of its poems", n)
	}
	_, text, _ := poetvae(t, "generate", "--model", m, "--seed", "3", "--count", fmt.Sprint(n))
	for i, line := range lines(text) {
		if line != doc.Poems[i].Poem {
			t.Fatalf("poem %d: %s as text, %s as JSON", i+1, line, doc.Poems[i].Poem)
		}
	}
}

// TestHostileInternalError: a panic in a command, here one a test adds,
// is reported in one line as an internal error to report, with where it
// happened, and status 70.
func TestHostileInternalError(t *testing.T) {
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	app.Commands = append(app.Commands, &cli.Command{Name: "crash", Hidden: true, Action: func(c *cli.Context) error {
		var codes []int
		return fmt.Errorf("%d", codes[c.NArg()+1]) // index out of range
	}})
	code := runApp(app, []string{"poetvae", "crash"}, &errb)
	if code != exitInternal {
		t.Errorf("status %d, want %d", code, exitInternal)
	}
	stderr := errb.String()
	if n := len(lines(stderr)); n != 1 {
		t.Errorf("%d lines on stderr, want 1:\n%s", n, stderr)
	}
	for _, want := range []string{"poetvae: internal error", "report", "index out of range", "hostile_test.go"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "goroutine ") {
		t.Errorf("stderr holds a stack trace:\n%s", stderr)
	}
}

// BenchmarkGenerateMemory measures what generate holds while it writes
// 10,000 and 100,000 poems of the tiny model: the peak of the live heap
// (peak-heap-MB), which must not grow with --count now that the poems are
// written a chunk at a time, beside all that was allocated
// (alloc-MB), which does. Run it once each:
//
//	go test -run '^$' -bench GenerateMemory -benchtime=1x ./cmd/poetvae
func BenchmarkGenerateMemory(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.ckpt")
	var errb bytes.Buffer
	if code := run(slices.Concat([]string{"poetvae"}, tinyTrain, []string{"--out", path}), io.Discard, &errb); code != 0 {
		b.Fatalf("training the model: status %d: %s", code, errb.String())
	}
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("count=%d", n), func(b *testing.B) {
			args := []string{"poetvae", "generate", "--model", path, "--seed", "1", "--count", fmt.Sprint(n)}
			var peak, allocated uint64
			for b.Loop() {
				p, a := heapPeak(func() {
					if code := run(args, io.Discard, io.Discard); code != 0 {
						b.Fatalf("generate --count %d: status %d", n, code)
					}
				})
				peak, allocated = max(peak, p), a
			}
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
			b.ReportMetric(float64(allocated)/1e6, "alloc-MB")
		})
	}
}

// heapPeak runs f and returns the largest live heap seen while it ran
// (sampled every millisecond, from a heap collected just before), and the
// bytes it allocated in all.
func heapPeak(f func()) (peak, allocated uint64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&after)
	return peak, after.TotalAlloc - before.TotalAlloc
}
