package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// The hostile-input tests of file names: every file that a command reads
// or writes, named by a flag or an argument, is given an empty name, a
// name where there is no file, and a directory, and each run must end in
// the documented behaviour or in a one-line error that names the file.

// stopServeAtOnce makes serve stop as soon as it listens, as though
// interrupted then: its flags and files are checked as in a real run,
// and no server is left waiting for requests.
func stopServeAtOnce(app *cli.App) {
	cmd := findCommand(app, []string{"serve"})
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		ctx, cancel := context.WithCancel(c.Context)
		cancel()
		c.Context = ctx
		return action(c)
	}
}

// fileUse says what a command does with a file it is given.
type fileUse int

const (
	readsFile  fileUse = iota
	writesFile         // made, or replaced with --force
	writesDir          // a directory the command writes files in, made if missing
)

// fileSlot marks, in a hostileFile's command line, where the name goes.
const fileSlot = "\x00FILE"

// hostileFile is a file named on a command line that succeeds with good
// in fileSlot.
type hostileFile struct {
	what string   // in messages: the flag, or what the argument is
	args []string // the command line, fileSlot where the name goes
	good string   // a name with which it succeeds
	use  fileUse
	// emptyMeans is what an empty name is documented to mean ("the
	// built-in model"), where it means something: the run then succeeds.
	// Otherwise it fails.
	emptyMeans string
}

// with returns the command line with name in the slot.
func (hf hostileFile) with(name string) []string {
	args := slices.Clone(hf.args)
	args[slices.Index(args, fileSlot)] = name
	return args
}

// checkFileFailure judges a run given a bad name: status 1 (the
// environment's failure) or 2 (a usage error), nothing on stdout, and a
// message that names what it must (the file; for an empty name, the flag
// if a usage error). The one-line form hostileRun has checked.
func checkFileFailure(t *testing.T, args []string, code int, stdout, stderr string, names ...string) {
	t.Helper()
	msg := lastLine(stderr)
	if code != 1 && code != 2 {
		t.Errorf("poetvae %s: status %d (%s); want an error, status 1 or 2", hostileArgs(args), code, shortText(msg))
		return
	}
	if stdout != "" {
		t.Errorf("poetvae %s: status %d but stdout %q", hostileArgs(args), code, shortText(stdout))
	}
	for _, name := range names {
		if !strings.Contains(msg, name) {
			t.Errorf("poetvae %s: the message %q does not mention %s", hostileArgs(args), msg, name)
		}
	}
	if len(msg) > maxMessage {
		t.Errorf("poetvae %s: a message of %d bytes: %s", hostileArgs(args), len(msg), shortText(msg))
	}
}

// TestHostileFiles gives each file of neighbors, pack, export, corpus
// import, stats and check, plot curves and serve an empty name, the name
// of no file (of a file in a missing folder, where it is written) and a
// directory (a file, where a directory is wanted). A directory given as
// a file to write must be left as it was, without temporary files.
func TestHostileFiles(t *testing.T) {
	m := sharedModel(t)
	dir := inTempDir(t)
	t.Setenv(fontEnv, "")
	texts := writeSampleCorpus(t, "test.txt", 3)
	writeFile(t, "meta.tsv", "author\ttitle\ttext\n"+
		"甲\t一\t"+texts[0]+"\n乙\t二\t"+texts[1]+"\n丙\t三\t"+texts[2]+"\n")
	writeFile(t, "table.tsv", "char\ttone\tgroup\n光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n鄉\t平\t下平聲七陽\n")
	writeFile(t, "poems.json", importFixture)
	writeFile(t, "run.metrics.jsonl", metricsLog)
	// pack reads a corpus only for a model without a keyword index, such
	// as a packed one.
	if code, _, stderr := poetvae(t, "pack", "--model", m, "--out", "packed.ckpt"); code != 0 {
		t.Fatalf("pack: status %d: %s", code, stderr)
	}
	var font string // a font file to give --font, if this machine has one
	for _, path := range cjkFontPaths {
		if _, err := os.Stat(path); err == nil {
			font = path
			break
		}
	}

	serve := func(args ...string) []string {
		return slices.Concat([]string{"serve", "--model", m, "--addr", "127.0.0.1:0"}, args)
	}
	F := fileSlot
	files := []hostileFile{
		{what: "--model", args: []string{"neighbors", "--model", F, jingYeSi}, good: m, emptyMeans: "the built-in model"},
		{what: "--corpus", args: []string{"neighbors", "--model", m, "--corpus", F, jingYeSi}, good: "test.txt"},
		{what: "--meta", args: []string{"neighbors", "--model", m, "--corpus", "test.txt", "--meta", F, jingYeSi}, good: "meta.tsv", emptyMeans: "no metadata"},

		{what: "--model", args: []string{"pack", "--model", F, "--out", "p.ckpt", "--force"}, good: m},
		{what: "--out", args: []string{"pack", "--model", m, "--out", F, "--force"}, good: "p.ckpt", use: writesFile},
		{what: "--valid", args: []string{"pack", "--model", m, "--out", "p.ckpt", "--force", "--valid", F}, good: "test.txt"},
		{what: "the corpus", args: []string{"pack", "--model", "packed.ckpt", "--out", "p.ckpt", "--force", "--min-poems", "1", F}, good: "test.txt"},

		{what: "--model", args: []string{"export", "--model", F, "--force", "--safetensors", "m.safetensors"}, good: m, emptyMeans: "the built-in model"},
		{what: "--safetensors", args: []string{"export", "--model", m, "--force", "--safetensors", F}, good: "m.safetensors", use: writesFile},
		{what: "--projector", args: []string{"export", "--model", m, "--force", "--projector", F}, good: "test.txt"},
		{what: "--out", args: []string{"export", "--model", m, "--force", "--projector", "test.txt", "--out", F}, good: "proj", use: writesDir},
		{what: "--meta", args: []string{"export", "--model", m, "--force", "--projector", "test.txt", "--meta", F}, good: "meta.tsv", emptyMeans: "no metadata"},

		{what: "--output", args: []string{"corpus", "import", "--output", F, "poems.json"}, good: "imported.txt", use: writesFile},
		{what: "--meta", args: []string{"corpus", "import", "--output", "imported.txt", "--meta", F, "poems.json"}, good: "imported.tsv", use: writesFile},
		{what: "the JSON file", args: []string{"corpus", "import", "--output", "imported.txt", F}, good: "poems.json"},
		{what: "the corpus", args: []string{"corpus", "stats", F}, good: "test.txt"},
		{what: "--rhyme-table", args: []string{"corpus", "stats", "--rhyme-table", F, "test.txt"}, good: "table.tsv", emptyMeans: "modern pinyin tones"},
		{what: "--rhyme-table", args: []string{"corpus", "check", "--rhyme-table", F, jingYeSi}, good: "table.tsv", emptyMeans: "modern pinyin tones"},

		{what: "the metrics file", args: []string{"plot", "curves", "-o", "curves.svg", F}, good: "run.metrics.jsonl"},
		{what: "--output", args: []string{"plot", "curves", "-o", F, "run.metrics.jsonl"}, good: "curves.svg", use: writesFile},
		{what: "--font", args: []string{"plot", "curves", "-o", "curves.svg", "--font", F, "run.metrics.jsonl"}, good: font, emptyMeans: "the default fonts"},

		{what: "--model", args: []string{"serve", "--addr", "127.0.0.1:0", "--model", F}, good: m, emptyMeans: "the built-in model"},
		{what: "--corpus", args: serve("--corpus", F), good: "test.txt"},
		{what: "--meta", args: serve("--corpus", "test.txt", "--meta", F), good: "meta.tsv", emptyMeans: "no metadata"},
		{what: "--rhyme-table", args: serve("--rhyme-table", F), good: "table.tsv", emptyMeans: "modern pinyin tones"},
	}
	start := time.Now()
	runs := 0
	for _, hf := range files {
		// The command's words are those of the first two that are no flag.
		words := slices.DeleteFunc(slices.Clone(hf.args[:2]), func(a string) bool { return strings.HasPrefix(a, "-") })
		t.Run(strings.ReplaceAll(strings.Join(words, " ")+" "+hf.what, " ", "_"), func(t *testing.T) {
			if hf.good == "" {
				t.Skipf("no file to give %s", hf.what)
			}
			t.Chdir(dir)
			var prepare func(*cli.App)
			if hf.args[0] == "serve" {
				prepare = stopServeAtOnce
			}
			run := func(name string) (args []string, code int, stdout, stderr string) {
				args = hf.with(name)
				code, stdout, stderr = hostileRunApp(t, prepare, args...)
				runs++
				return args, code, stdout, stderr
			}
			// The good name succeeds, or the table tests nothing.
			if args, code, _, stderr := run(hf.good); code != 0 {
				t.Fatalf("poetvae %s: status %d: %s", hostileArgs(args), code, stderr)
			}

			// An empty name to read fails as a missing file does (status 1,
			// as for the corpus files of every command) or as a usage
			// error; one to write is a usage error before any work, as
			// train --out "" is.
			args, code, stdout, stderr := run("")
			switch {
			case hf.emptyMeans != "":
				if code != 0 {
					t.Errorf("poetvae %s: status %d (%s); an empty %s means %s", hostileArgs(args), code, lastLine(stderr), hf.what, hf.emptyMeans)
				}
			case hf.use != readsFile:
				if code != 2 {
					t.Errorf("poetvae %s: status %d, want a usage error (2)", hostileArgs(args), code)
				}
				checkFileFailure(t, args, code, stdout, stderr, hf.what)
			case code == 2 && strings.HasPrefix(hf.what, "--"):
				checkFileFailure(t, args, code, stdout, stderr, hf.what)
			default:
				checkFileFailure(t, args, code, stdout, stderr)
			}

			// A missing name is read as no file; one to write, in a
			// folder that does not exist.
			missing := "nowhere" + filepath.Ext(hf.good)
			if hf.use == writesFile {
				missing = filepath.Join("nowhere", hf.good)
			}
			args, code, stdout, stderr = run(missing)
			if hf.use == writesDir {
				if code != 0 { // it is made
					t.Errorf("poetvae %s: status %d (%s); want the directory made", hostileArgs(args), code, lastLine(stderr))
				}
				os.RemoveAll(missing)
			} else {
				checkFileFailure(t, args, code, stdout, stderr, missing)
			}

			// A directory given as a file, or a file as the directory.
			wrong := "folder" + filepath.Ext(hf.good)
			if hf.use == writesDir {
				wrong = "test.txt"
			} else if err := os.Mkdir(wrong, 0o755); err != nil {
				t.Fatal(err)
			}
			// The message says so, rather than, say, that the file exists.
			args, code, stdout, stderr = run(wrong)
			checkFileFailure(t, args, code, stdout, stderr, wrong, "directory")
			if hf.use == writesFile {
				if entries, err := os.ReadDir(wrong); err != nil || len(entries) > 0 {
					t.Errorf("poetvae %s: the directory %s holds %d files (%v)", hostileArgs(args), wrong, len(entries), err)
				}
				assertNoTempFiles(t)
			}
			if hf.use != writesDir {
				os.Remove(wrong)
			}
		})
	}
	t.Logf("%d runs in %s", runs, time.Since(start).Round(time.Millisecond))
}

// TestLongFileNameMessage: a file name of 100,000 characters gives an
// error line of bounded length that still says what failed and why.
func TestLongFileNameMessage(t *testing.T) {
	inTempDir(t)
	name := strings.Repeat("長", 100000) + ".txt"
	code, _, stderr := poetvae(t, "corpus", "stats", name)
	if code == 0 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("corpus stats LONG: status %d, stderr of %d lines", code, strings.Count(stderr, "\n"))
	}
	if n := len([]rune(stderr)); n > maxErrorRunes+50 {
		t.Errorf("error line of %d characters, want at most about %d", n, maxErrorRunes)
	}
	if !strings.Contains(stderr, "poetvae: corpus") || !strings.Contains(stderr, "…") {
		t.Errorf("the cut message lost its head or its mark: %.200q", stderr)
	}
}
