package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/poetry"
)

// Poems of the built-in sample corpus.
const (
	jingYeSi  = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
	dengGuanQ = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
	chunXiao  = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"
)

// tinyTrain trains a model small enough for the tests to stay fast.
// mentions fails the test for each word that stderr does not contain.
func mentions(t *testing.T, args []string, stderr string, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(stderr, w) {
			t.Errorf("poetvae %s: stderr %q does not mention %q", strings.Join(args, " "), stderr, w)
		}
	}
}

// failed checks a run that must fail: its status, an empty stdout, and the
// words its message must hold.
func failed(t *testing.T, args []string, code int, stdout, stderr string, wantCode int, words ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("poetvae %s: status %d, want %d; stderr:\n%s", strings.Join(args, " "), code, wantCode, stderr)
	}
	mentions(t, args, stderr, words...)
	if stdout != "" {
		t.Errorf("poetvae %s: stdout not empty:\n%s", strings.Join(args, " "), stdout)
	}
}

var tinyTrain = []string{"train", "--sample", "--epochs", "2", "--batch", "32",
	"--embed", "16", "--enc-hidden", "16", "--dec-hidden", "16", "--latent", "4", "--quiet"}

// poetvae runs the command line with args and returns the exit status and
// what it wrote. A panic fails the test, and so does a stack trace on stderr.
func poetvae(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("poetvae %s panicked: %v\n%s", strings.Join(args, " "), r, debug.Stack())
			}
		}()
		code = run(append([]string{"poetvae"}, args...), &out, &errb)
	}()
	stdout, stderr = out.String(), errb.String()
	for _, s := range []string{"goroutine ", "panic:", "runtime error"} {
		if strings.Contains(stderr, s) {
			t.Errorf("poetvae %s: stderr holds %q:\n%s", strings.Join(args, " "), s, stderr)
		}
	}
	if code != 0 && !strings.HasPrefix(lastLine(stderr), "poetvae: ") {
		t.Errorf("poetvae %s: status %d, but stderr does not end with a line \"poetvae: ...\":\n%s",
			strings.Join(args, " "), code, stderr)
	}
	return code, stdout, stderr
}

func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// inTempDir makes a new temporary directory the working directory and clears
// the environment variables that would change what the commands read.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(modelEnv, "")
	t.Setenv(rhymeTableEnv, "")
	return dir
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var shared struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

// sharedModel returns the path of a tiny model trained once for all tests.
func sharedModel(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "poetvae-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		path := filepath.Join(dir, "m.ckpt")
		var out, errb bytes.Buffer
		if code := run(slices.Concat([]string{"poetvae"}, tinyTrain, []string{"--out", path}), &out, &errb); code != 0 {
			shared.err = fmt.Errorf("training the shared model: status %d: %s", code, errb.String())
			return
		}
		shared.path = path
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in the one line on stderr
	}{
		{"unknown flag", []string{"--bogus"}, []string{"-bogus", "(see poetvae --help)"}},
		{"unknown train flag", []string{"train", "--bogus", "--sample"}, []string{"-bogus", "poetvae train --help"}},
		{"unknown corpus stats flag", []string{"corpus", "stats", "--bogus", "c.txt"}, []string{"-bogus", "poetvae corpus stats --help"}},
		{"bad flag value", []string{"generate", "--count", "many"}, []string{`"many"`, "-count"}},
		{"flag after the poems", []string{"interpolate", "床前明月光，疑是地上霜。", "白日依山尽，黄河入海流。", "--steps", "4"}, []string{"--steps", "put flags first"}},
		{"flag after the corpus", []string{"train", "corpus.txt", "--epochs=2"}, []string{"--epochs=2", "put flags first"}},
		{"subcommand flag after its argument", []string{"corpus", "check", "床前明月光，疑是地上霜。", "--json"}, []string{"--json", "poetvae corpus check --help"}},
		{"unknown command", []string{"trian", "--sample"}, []string{`unknown command "trian"`, "train"}},
		{"unknown corpus command", []string{"corpus", "stat", "c.txt"}, []string{`unknown command "stat"`, "stats"}},
		{"train without corpus", []string{"train"}, []string{"corpus files", "--sample"}},
		{"train corpus and sample", []string{"train", "--sample", "file.txt"}, []string{"--sample", "not both"}},
		{"train valid split", []string{"train", "--sample", "--valid-split", "1"}, []string{"--valid-split"}},
		{"train epochs", []string{"train", "--sample", "--epochs", "0"}, []string{"epochs"}},
		{"train min count", []string{"train", "--sample", "--min-count", "0"}, []string{"--min-count"}},
		{"train latent", []string{"train", "--sample", "--latent", "0"}, []string{"latent"}},
		{"generate count", []string{"generate", "--count", "0"}, []string{"--count"}},
		{"generate argument", []string{"generate", jingYeSi}, []string{"no arguments"}},
		{"generate theme and like", []string{"generate", "--theme", "明月", "--like", jingYeSi}, []string{"--like", "--theme"}},
		{"generate theme not Chinese", []string{"generate", "--theme", "moon"}, []string{"--theme", "Chinese"}},
		{"generate theme spread", []string{"generate", "--theme", "明月", "--theme-spread", "-1"}, []string{"--theme-spread"}},
		{"generate theme spread without theme", []string{"generate", "--theme-spread", "0.5"}, []string{"--theme-spread", "needs --theme"}},
		{"generate theme k", []string{"generate", "--theme", "明月", "--theme-k", "0"}, []string{"--theme-k"}},
		{"interpolate one poem", []string{"interpolate", jingYeSi}, []string{"two poems", "interpolate"}},
		{"interpolate three poems", []string{"interpolate", jingYeSi, dengGuanQ, chunXiao}, []string{"two poems"}},
		{"interpolate steps", []string{"interpolate", "--steps", "0", jingYeSi, dengGuanQ}, []string{"--steps"}},
		{"reconstruct no poem", []string{"reconstruct"}, []string{"one poem", "reconstruct"}},
		{"corpus check no poem", []string{"corpus", "check"}, []string{"one poem", "corpus check"}},
		{"corpus check a file", []string{"corpus", "check", "c.txt"}, []string{"c.txt is a file", "corpus stats c.txt"}},
		{"corpus stats no file", []string{"corpus", "stats"}, []string{"corpus file"}},
		{"corpus stats negative top", []string{"corpus", "stats", "--top", "-1", "c.txt"}, []string{"--top"}},
		{"corpus stats negative rejects", []string{"corpus", "stats", "--rejects", "-1", "c.txt"}, []string{"--rejects"}},
		{"corpus import no file", []string{"corpus", "import", "-o", "out.txt"}, []string{"JSON file"}},
		{"corpus import no output", []string{"corpus", "import", "x.json"}, []string{"--output"}},
		{"corpus import lines", []string{"corpus", "import", "-o", "out.txt", "--lines", "5", "x.json"}, []string{"--lines", "4 or 8"}},
	}
	inTempDir(t)
	writeFile(t, "c.txt", jingYeSi+"\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := poetvae(t, tt.args...)
			if l := lines(stderr); len(l) != 1 {
				t.Errorf("poetvae %s: stderr has %d lines, want 1:\n%s", strings.Join(tt.args, " "), len(l), stderr)
			}
			failed(t, tt.args, code, stdout, stderr, 2, tt.want...)
		})
	}
	if _, err := os.Stat("out.txt"); err == nil {
		t.Error("a usage error of corpus import created out.txt")
	}
}

func TestHelp(t *testing.T) {
	inTempDir(t)
	for _, args := range [][]string{nil, {"--help"}, {"help", "train"}, {"generate", "--help"}, {"corpus"}} {
		code, stdout, stderr := poetvae(t, args...)
		if code != 0 || !strings.Contains(stdout, "USAGE") || stderr != "" {
			t.Errorf("poetvae %s: status %d, stdout %q…, stderr %q; want status 0 and usage on stdout",
				strings.Join(args, " "), code, stdout[:min(len(stdout), 60)], stderr)
		}
	}

	// Every command's help, each flag's default said once: a Usage that
	// names its own default needs DefaultText, or cli adds "(default: 0)".
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Name == "help" {
				continue
			}
			args := append(append([]string{}, path...), cmd.Name)
			walk(args, cmd.Subcommands)
			_, stdout, _ := poetvae(t, append(args, "--help")...)
			for _, line := range strings.Split(stdout, "\n") {
				if strings.Count(line, "(default:") > 1 {
					t.Errorf("poetvae %s --help gives a default twice:\n%s", strings.Join(args, " "), line)
				}
			}
		}
	}
	walk(nil, newApp(io.Discard, io.Discard).Commands)
}

// corpusFixture is a corpus with every kind of line; the comments on the
// right give the line numbers.
const corpusFixture = "# 唐诗\n" + // 1 comment
	jingYeSi + "\n" + // 2
	"\n" + // 3 blank
	dengGuanQ + "\n" + // 4
	chunXiao + "\n" + // 5
	jingYeSi + "\n" + // 6 duplicate
	"床前明月，疑是地上霜。举头望明月，低头思故乡。\n" + // 7 a line of four
	"白日依山尽，黄河入海流。欲穷千里A，更上一层楼。\n" // 8 a Latin letter

func TestCorpusStats(t *testing.T) {
	inTempDir(t)
	writeFile(t, "c.txt", corpusFixture)

	code, stdout, stderr := poetvae(t, "corpus", "stats", "c.txt")
	if code != 0 {
		t.Fatalf("corpus stats: status %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"lines read     8\n",
		"3 accepted, 2 rejected, 1 duplicate dropped",
		"3 of 4 lines",
		"line length: 1",
		"non-Han character: 1",
		`c.txt:7: line length: "床前明月，`,
		`c.txt:8: non-Han character: "白日依山尽，`,
		"characters     60 ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("corpus stats output lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = poetvae(t, "corpus", "stats", "--json", "c.txt")
	if code != 0 {
		t.Fatalf("corpus stats --json: status %d, stderr:\n%s", code, stderr)
	}
	var f corpusFigures
	if err := json.Unmarshal([]byte(stdout), &f); err != nil {
		t.Fatalf("corpus stats --json: %v:\n%s", err, stdout)
	}
	if f.Lines != 8 || f.Accepted != 3 || f.Rejected != 2 || f.Duplicates != 1 {
		t.Errorf("corpus stats --json: lines %d, accepted %d, rejected %d, duplicates %d; want 8, 3, 2, 1",
			f.Lines, f.Accepted, f.Rejected, f.Duplicates)
	}
	if want := map[string]int{"line length": 1, "non-Han character": 1}; !mapsEqual(f.ByReason, want) {
		t.Errorf("corpus stats --json: rejected_by_reason = %v, want %v", f.ByReason, want)
	}
	if want := map[int]int{4: 3}; !mapsEqual(f.ByLines, want) {
		t.Errorf("corpus stats --json: poems_by_lines = %v, want %v", f.ByLines, want)
	}
	if f.Chars != 60 || len(f.Top) == 0 || f.Top[0].Count < 2 {
		t.Errorf("corpus stats --json: characters %d, most frequent %v; want 60 and a character seen twice or more", f.Chars, f.Top)
	}
	if f.Form.Rhyme < 0 || f.Form.Rhyme > 1 || f.Form.Pattern < 0 || f.Form.Pattern > 1 || f.Form.WellFormed != 1 {
		t.Errorf("corpus stats --json: rates out of [0, 1] or malformed poems: %+v", f.Form)
	}

	// --top and --rejects limit the lists.
	code, stdout, _ = poetvae(t, "corpus", "stats", "--top", "0", "--rejects", "1", "c.txt")
	if code != 0 || strings.Contains(stdout, "c.txt:8") || !strings.Contains(stdout, "c.txt:7") {
		t.Errorf("corpus stats --top 0 --rejects 1: status %d, want 0 and the first reject only:\n%s", code, stdout)
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCorpusStatsErrors(t *testing.T) {
	inTempDir(t)
	writeFile(t, "bad.txt", "# nothing but junk\nabc\n床前明月\n\n")
	writeFile(t, "good.txt", jingYeSi+"\n")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{"missing.txt"}, []string{"missing.txt"}},
		{"missing second file", []string{"good.txt", "missing.txt"}, []string{"missing.txt"}},
		{"only bad lines", []string{"bad.txt"}, []string{"bad.txt", "no valid poem"}},
		{"rhyme table missing", []string{"--rhyme-table", "table.tsv", "good.txt"}, []string{"table.tsv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"corpus", "stats"}, tt.args...)
			code, stdout, stderr := poetvae(t, args...)
			failed(t, args, code, stdout, stderr, 1, tt.want...)
		})
	}
}

var rhymeLine = regexp.MustCompile(`(?m)^rhyme +lines ([0-9, ]+) rhyme`)

func TestCorpusCheck(t *testing.T) {
	inTempDir(t)
	code, stdout, stderr := poetvae(t, "corpus", "check", jingYeSi)
	if code != 0 {
		t.Fatalf("corpus check: status %d, stderr:\n%s", code, stderr)
	}
	out := lines(stdout)
	if len(out) < 8 {
		t.Fatalf("corpus check: %d lines of output, want at least 8:\n%s", len(out), stdout)
	}
	for i, want := range []string{"床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"} {
		if !strings.HasPrefix(out[2*i], want) {
			t.Errorf("corpus check: line %d = %q, want poem line %q", 2*i+1, out[2*i], want)
		}
		if tones := []rune(out[2*i+1]); len(tones) != 5 || strings.Trim(out[2*i+1], "平仄中?") != "" {
			t.Errorf("corpus check: line %d = %q, want the five tones of %q", 2*i+2, out[2*i+1], want)
		}
	}
	m := rhymeLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("corpus check: no line \"rhyme lines ... rhyme\":\n%s", stdout)
	}
	var rhymes []int
	for f := range strings.SplitSeq(m[1], ", ") {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("corpus check: rhyme line %q: %v", m[0], err)
		}
		rhymes = append(rhymes, n)
	}
	if !slices.Contains(rhymes, 2) || !slices.Contains(rhymes, 4) {
		t.Errorf("corpus check: rhyme lines %v, want 2 and 4 among them", rhymes)
	}

	code, stdout, stderr = poetvae(t, "corpus", "check", "--json", jingYeSi)
	if code != 0 {
		t.Fatalf("corpus check --json: status %d, stderr:\n%s", code, stderr)
	}
	var a struct {
		Poem       string   `json:"poem"`
		Tones      []string `json:"tones"`
		RhymeLines []int    `json:"rhyme_lines"`
		Rhymed     bool     `json:"rhymed"`
	}
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("corpus check --json: %v:\n%s", err, stdout)
	}
	if a.Poem != jingYeSi || len(a.Tones) != 4 || !a.Rhymed ||
		!slices.Contains(a.RhymeLines, 2) || !slices.Contains(a.RhymeLines, 4) {
		t.Errorf("corpus check --json = %+v; want the poem, 4 tone lines, rhymed on lines 2 and 4", a)
	}
}

func TestCorpusCheckMalformed(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		poem string
		want string
	}{
		{"床前明月光，疑是地上霜。举头望月，低头思故乡。", "line 3"},
		{"床前明月光，疑是地上霜。举头望明月，低头思故X。", "line 4"},
		{"床前明月光，疑是地上霜。举头望明月。", "3 lines"},
		{"", "empty"},
	}
	for _, tt := range tests {
		code, stdout, stderr := poetvae(t, "corpus", "check", tt.poem)
		// A poem that cannot be read is a usage mistake (status 2), as it
		// is for every command that takes one.
		if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("corpus check %q: status %d, stdout %q, stderr %q; want status 2 and an error naming %q",
				tt.poem, code, stdout, stderr, tt.want)
		}
	}
}

// importFixture is in the layout of the chinese-poetry collection: a
// quatrain, a poem of eight lines and one of seven characters a line.
const importFixture = `[
  {"author": "李白", "title": "靜夜思", "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]},
  {"author": "杜甫", "title": "春望", "paragraphs": ["國破山河在，城春草木深。", "感時花濺淚，恨別鳥驚心。", "烽火連三月，家書抵萬金。", "白頭搔更短，渾欲不勝簪。"]},
  {"author": "王之渙", "title": "涼州詞", "paragraphs": ["黃河遠上白雲間，一片孤城萬仞山。", "羌笛何須怨楊柳，春風不度玉門關。"]}
]`

func TestCorpusImport(t *testing.T) {
	const (
		quatrain = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。\n"
		lushi    = "國破山河在，城春草木深。感時花濺淚，恨別鳥驚心。烽火連三月，家書抵萬金。白頭搔更短，渾欲不勝簪。\n"
	)
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantMeta string // "" for no --meta
		wantSaid string // the summary on stdout
	}{
		{"quatrains", []string{"--meta", "meta.tsv"}, quatrain, "李白\t靜夜思\tx.json\t" + quatrain, "1 poem written to out.txt from 3 records in 1 file (0 duplicates dropped)"},
		{"eight lines", []string{"--lines", "8"}, lushi, "", ""},
		{"simplified", []string{"--simplified", "--meta", "meta.tsv"},
			"床前明月光，疑是地上霜。举头望明月，低头思故乡。\n",
			"李白\t静夜思\tx.json\t床前明月光，疑是地上霜。举头望明月，低头思故乡。\n", ""},
		{"same file twice", []string{"x.json"}, quatrain, "", "1 poem written to out.txt from 6 records in 2 files (1 duplicate dropped)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			writeFile(t, "x.json", importFixture)
			args := append(append([]string{"corpus", "import", "-o", "out.txt"}, tt.args...), "x.json")
			code, stdout, stderr := poetvae(t, args...)
			if code != 0 {
				t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
			}
			want := cmp.Or(tt.wantSaid, "1 poem written to out.txt from ")
			if !strings.Contains(stdout, want) {
				t.Errorf("poetvae %s: stdout %q does not say %q", strings.Join(args, " "), stdout, want)
			}
			got, err := os.ReadFile("out.txt")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.wantOut {
				t.Errorf("poetvae %s: out.txt = %q, want %q", strings.Join(args, " "), got, tt.wantOut)
			}
			if tt.wantMeta != "" {
				got, err := os.ReadFile("meta.tsv")
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.wantMeta {
					t.Errorf("poetvae %s: meta.tsv = %q, want %q", strings.Join(args, " "), got, tt.wantMeta)
				}
			}
			// The corpus written is one that train and stats accept.
			if code, _, stderr := poetvae(t, "corpus", "stats", "out.txt"); code != 0 {
				t.Errorf("corpus stats on the imported corpus: status %d, stderr:\n%s", code, stderr)
			}
			assertNoTempFiles(t)
		})
	}
}

// assertNoTempFiles fails if an atomic write left its temporary file behind.
func assertNoTempFiles(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".poetvae-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestCorpusImportErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  []string
	}{
		{"syntax error", map[string]string{"bad.json": "[{\"author\": \"李白\",\n"}, []string{"bad.json"}, []string{"bad.json"}},
		{"not an array", map[string]string{"bad.json": `{"author": "李白"}`}, []string{"bad.json"}, []string{"bad.json", "array"}},
		{"wrong field type", map[string]string{"bad.json": `[{"paragraphs": "床前明月光"}]`}, []string{"bad.json"}, []string{"bad.json", "paragraphs"}},
		{"bad second file", map[string]string{"x.json": importFixture, "bad.json": "["}, []string{"x.json", "bad.json"}, []string{"bad.json"}},
		{"missing file", nil, []string{"missing.json"}, []string{"missing.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			for name, content := range tt.files {
				writeFile(t, name, content)
			}
			args := append([]string{"corpus", "import", "-o", "out.txt", "--meta", "meta.tsv"}, tt.args...)
			code, stdout, stderr := poetvae(t, args...)
			failed(t, args, code, stdout, stderr, 1, tt.want...)
			for _, name := range []string{"out.txt", "meta.tsv"} {
				if _, err := os.Stat(name); err == nil {
					t.Errorf("poetvae %s: failed, but created %s", strings.Join(args, " "), name)
				}
			}
			assertNoTempFiles(t)
		})
	}

	// A failed import leaves an existing corpus as it was.
	t.Run("keeps old output", func(t *testing.T) {
		inTempDir(t)
		writeFile(t, "out.txt", "old\n")
		writeFile(t, "bad.json", "[")
		if code, _, _ := poetvae(t, "corpus", "import", "-o", "out.txt", "bad.json"); code != 1 {
			t.Errorf("corpus import of bad JSON: status %d, want 1", code)
		}
		if got, err := os.ReadFile("out.txt"); err != nil || string(got) != "old\n" {
			t.Errorf("after a failed import, out.txt = %q, %v; want it unchanged", got, err)
		}
	})
}

func TestTrain(t *testing.T) {
	inTempDir(t)
	args := slices.Concat(tinyTrain, []string{"--out", "m.ckpt"})
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	if _, err := corpus.DictDir(""); err != nil {
		// Without the jieba dictionaries, --quiet still warns that the
		// model gets no keyword index.
		if l := lines(stderr); len(l) != 1 || !strings.HasPrefix(l[0], "warning: ") {
			t.Errorf("train --quiet without dictionaries: stderr is not one warning:\n%s", stderr)
		}
	} else if stderr != "" {
		t.Errorf("train --quiet wrote to stderr:\n%s", stderr)
	}
	if !strings.Contains(stdout, "model written to m.ckpt") || !strings.Contains(stdout, "of 2") {
		t.Errorf("train: stdout %q does not report 2 epochs and the model file", stdout)
	}
	for _, name := range []string{"m.ckpt", "m.last.ckpt", "m.metrics.jsonl"} {
		if fi, err := os.Stat(name); err != nil || fi.Size() == 0 {
			t.Errorf("train did not write %s: %v", name, err)
		}
	}
	if steps, epochs := readMetrics(t, "m.metrics.jsonl"); steps == 0 || epochs != 2 {
		t.Errorf("m.metrics.jsonl has %d step and %d epoch records, want some steps and 2 epochs", steps, epochs)
	}

	// --resume continues the saved run and appends to its log.
	code, stdout, stderr = poetvae(t, "train", "--sample", "--resume", "--epochs", "3", "--quiet", "--out", "m.ckpt")
	if code != 0 {
		t.Fatalf("train --resume: status %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "of 3") {
		t.Errorf("train --resume --epochs 3: stdout %q does not report epoch 3", stdout)
	}
	if _, epochs := readMetrics(t, "m.metrics.jsonl"); epochs != 3 {
		t.Errorf("after --resume, m.metrics.jsonl has %d epoch records, want 3", epochs)
	}
}

// readMetrics checks that every line of a metrics log is a JSON object of
// kind "step" or "epoch" and counts them.
func readMetrics(t *testing.T, name string) (steps, epochs int) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		var rec struct {
			Kind  string `json:"kind"`
			Epoch int    `json:"epoch"`
			Step  int    `json:"step"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s:%d: %v: %s", name, n, err, sc.Text())
		}
		switch rec.Kind {
		case "step":
			steps++
		case "epoch":
			epochs++
		default:
			t.Errorf("%s:%d: kind %q, want step or epoch", name, n, rec.Kind)
		}
		if rec.Epoch < 1 || rec.Step < 1 {
			t.Errorf("%s:%d: epoch %d, step %d; want both positive", name, n, rec.Epoch, rec.Step)
		}
	}
	return steps, epochs
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  []string
	}{
		{"resume without saved run", nil, []string{"--sample", "--resume", "--out", "m.ckpt"}, []string{"resume", "m.last.ckpt"}},
		{"missing corpus", nil, []string{"missing.txt"}, []string{"missing.txt"}},
		{"corpus without poems", map[string]string{"bad.txt": "abc\n"}, []string{"bad.txt"}, []string{"bad.txt", "no valid poem"}},
		{"missing validation corpus", nil, []string{"--sample", "--valid", "valid.txt"}, []string{"valid.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			for name, content := range tt.files {
				writeFile(t, name, content)
			}
			args := append([]string{"train", "--quiet"}, tt.args...)
			code, _, stderr := poetvae(t, args...)
			if code != 1 {
				t.Errorf("poetvae %s: status %d, want 1", strings.Join(args, " "), code)
			}
			mentions(t, args, stderr, tt.want...)
		})
	}
}

// TestTrainMixedLengths: train keeps the poems of the most common line
// count and says, in words, how many of each it kept and left out.
func TestTrainMixedLengths(t *testing.T) {
	inTempDir(t)
	writeFile(t, "mixed.txt", "床前明月光，疑是地上霜。\n"+
		"白日依山尽，黄河入海流。\n"+
		"千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。\n")
	args := []string{"train", "--epochs", "1", "--embed", "8", "--enc-hidden", "8", "--dec-hidden", "8",
		"--latent", "2", "--no-keywords", "--out", "m.ckpt", "mixed.txt"}
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "training on the 2 poems of 2 lines; 1 poem of other lengths left out",
		"training on 1 poem from mixed.txt, validating on 1;")
}

// TestModelGivenAsCorpus: a model where a corpus belongs is named as one,
// with the command that was likely meant, not read as text with its every
// line rejected; a gzip corpus trains like its text.
func TestModelGivenAsCorpus(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--resume", m}, []string{m + " is a poetvae model, not a corpus", "train --resume --out " + m + " CORPUS"}},
		{[]string{"eval", "--model", m, m}, []string{m + " is a poetvae model, not a corpus", "a model goes to --model"}},
		{[]string{"corpus", "stats", m}, []string{m + " is a poetvae model, not a corpus"}},
	} {
		code, stdout, stderr := poetvae(t, tt.args...)
		failed(t, tt.args, code, stdout, stderr, 1, tt.want...)
		if strings.Contains(stderr, "malformed") || strings.Contains(stderr, "non-Han") {
			t.Errorf("poetvae %s read the model as text:\n%s", strings.Join(tt.args, " "), stderr)
		}
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(jingYeSi + "\n" + dengGuanQ + "\n" + chunXiao + "\n"))
	zw.Close()
	writeFile(t, "poems.txt.gz", gz.String())
	args := []string{"train", "--epochs", "1", "--embed", "8", "--enc-hidden", "8", "--dec-hidden", "8",
		"--latent", "2", "--no-keywords", "--out", "gz.ckpt", "poems.txt.gz"}
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "training on 2 poems from poems.txt.gz, validating on 1;")
}

// TestTrainKeepsAnEarlierRun: a new run refuses to start over an earlier
// run's model or state, which its first epoch would replace, unless told to
// with --force; the earlier files are left as they were.
func TestTrainKeepsAnEarlierRun(t *testing.T) {
	inTempDir(t)
	trainArgs := func(extra ...string) []string {
		return append([]string{"train", "--sample", "--epochs", "1", "--valid-split", "0", "--embed", "8",
			"--enc-hidden", "8", "--dec-hidden", "8", "--latent", "2", "--no-keywords", "--out", "m.ckpt"}, extra...)
	}
	args := trainArgs()
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	if !strings.HasPrefix(stdout, "trained 1 epoch (") {
		t.Errorf("poetvae %s: stdout %q, want it to start with \"trained 1 epoch (\"", strings.Join(args, " "), stdout)
	}
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	model, last := read("m.ckpt"), read("m.last.ckpt")

	args = trainArgs("--seed", "2")
	code, stdout, stderr = poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 1, "m.ckpt already exists", "--resume", "--out", "--force")
	if !bytes.Equal(read("m.ckpt"), model) || !bytes.Equal(read("m.last.ckpt"), last) {
		t.Errorf("poetvae %s changed the earlier run's files", strings.Join(args, " "))
	}

	// The state alone (a run stopped before its first epoch ended) is kept too.
	if err := os.Remove("m.ckpt"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 1, "m.last.ckpt already exists")

	args = trainArgs("--resume", "--force")
	code, stdout, stderr = poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 2, "--resume", "--force")

	args = trainArgs("--seed", "2", "--force")
	if code, _, stderr = poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	if bytes.Equal(read("m.last.ckpt"), last) {
		t.Errorf("poetvae %s left the earlier state in place", strings.Join(args, " "))
	}
}

// TestSplitByLines: train keeps the most common line count, and on a tie
// quatrains, then the shorter poems, whatever the order of the corpus.
func TestSplitByLines(t *testing.T) {
	const couplet, quatrain, octave = "床前明月光，疑是地上霜。",
		"白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
		"千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。"
	tests := []struct {
		poems     []string
		wantLines int
	}{
		{[]string{couplet, couplet, quatrain}, 2},
		{[]string{couplet, quatrain}, 4},
		{[]string{quatrain, couplet}, 4},
		{[]string{octave, quatrain}, 4},
		{[]string{octave, couplet}, 2},
		{[]string{couplet, octave}, 2},
		{[]string{octave, octave, quatrain, couplet}, 8},
	}
	for _, tt := range tests {
		var poems []poetry.Poem
		for _, text := range tt.poems {
			p, err := poetry.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			poems = append(poems, p)
		}
		kept, lines, dropped := splitByLines(poems)
		if lines != tt.wantLines {
			t.Errorf("splitByLines(%q) kept the %d-line poems, want the %d-line ones", tt.poems, lines, tt.wantLines)
		}
		for _, p := range kept {
			if p.NumLines() != lines {
				t.Errorf("splitByLines kept a %d-line poem among %d-line ones", p.NumLines(), lines)
			}
		}
		if len(kept)+dropped != len(poems) {
			t.Errorf("splitByLines kept %d and dropped %d of %d poems", len(kept), dropped, len(poems))
		}
	}
}

type generated struct {
	Seed  uint64 `json:"seed"`
	Poems []struct {
		Poem  string    `json:"poem"`
		Lines []string  `json:"lines"`
		Z     []float64 `json:"z"`
	} `json:"poems"`
}

func TestGenerate(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)

	gen := func(t *testing.T, args ...string) string {
		t.Helper()
		args = append([]string{"generate", "--model", model}, args...)
		code, stdout, stderr := poetvae(t, args...)
		if code != 0 {
			t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}

	for _, tt := range []struct {
		lines int
		args  []string
	}{
		{4, []string{"--count", "3", "--seed", "5"}},
		{2, []string{"--count", "3", "--seed", "5", "--lines", "2"}},
		{4, []string{"-n", "3", "--greedy"}},
		{4, []string{"-n", "3", "--seed", "1", "--temperature", "0.5", "--top-k", "10"}},
	} {
		out := lines(gen(t, tt.args...))
		if len(out) != 3 {
			t.Errorf("generate %s: %d lines, want 3:\n%s", strings.Join(tt.args, " "), len(out), strings.Join(out, "\n"))
		}
		for _, l := range out {
			if p, err := poetry.Parse(l); err != nil || p.NumLines() != tt.lines {
				t.Errorf("generate %s: %q is not a %d-line poem (%v)", strings.Join(tt.args, " "), l, tt.lines, err)
			}
		}
	}

	if a, b := gen(t, "--count", "3", "--seed", "5"), gen(t, "--count", "3", "--seed", "5"); a != b {
		t.Errorf("generate --seed 5 twice gave different poems:\n%s\n%s", a, b)
	}

	out := gen(t, "--count", "3", "--seed", "5", "--json")
	var g generated
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("generate --json: %v:\n%s", err, out)
	}
	if g.Seed != 5 || len(g.Poems) != 3 {
		t.Fatalf("generate --json: seed %d, %d poems; want seed 5 and 3 poems", g.Seed, len(g.Poems))
	}
	text := lines(gen(t, "--count", "3", "--seed", "5"))
	for i, p := range g.Poems {
		if len(p.Z) != 4 || len(p.Lines) != 4 {
			t.Errorf("generate --json: poem %d has z of length %d and %d lines, want 4 and 4", i, len(p.Z), len(p.Lines))
		}
		if i < len(text) && p.Poem != text[i] {
			t.Errorf("generate --json: poem %d = %q, but without --json the same seed gives %q", i, p.Poem, text[i])
		}
	}

	// Without --seed a seed is chosen and reported, so that a run can be
	// repeated.
	out = gen(t, "--json")
	g = generated{}
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("generate --json: %v:\n%s", err, out)
	}
	again := generated{}
	if err := json.Unmarshal([]byte(gen(t, "--json", "--seed", strconv.FormatUint(g.Seed, 10))), &again); err != nil {
		t.Fatal(err)
	}
	if len(g.Poems) != 1 || len(again.Poems) != 1 || g.Poems[0].Poem != again.Poems[0].Poem {
		t.Errorf("generate --seed %d does not repeat the run that reported that seed", g.Seed)
	}

	// POETVAE_MODEL names the model when --model is not given.
	t.Setenv(modelEnv, model)
	if code, stdout, stderr := poetvae(t, "generate", "--seed", "5"); code != 0 || len(lines(stdout)) != 1 {
		t.Errorf("generate with %s set: status %d, stdout %q, stderr %q; want one poem", modelEnv, code, stdout, stderr)
	}
}

func TestGenerateErrors(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--lines", "8"}, "8-line"},
		{[]string{"--lines", "3"}, "3-line"},
		{[]string{"--temperature", "0"}, "--greedy"},
		{[]string{"--temperature", "-1"}, "temperature"},
		{[]string{"--top-k", "-1"}, "top-k"},
	}
	for _, tt := range tests {
		args := append([]string{"generate", "--model", model}, tt.args...)
		code, stdout, stderr := poetvae(t, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("poetvae %s: status %d, stdout %q, stderr %q; want status 2 and an error about %q",
				strings.Join(args, " "), code, stdout, stderr, tt.want)
		}
	}
	// Sampling settings are usage mistakes (status 2), found before the
	// model is read: here there is none to read. Greedy decoding needs no
	// temperature.
	for _, args := range [][]string{
		{"generate", "--model", "missing.ckpt", "--temperature", "0"},
		{"generate", "--model", "missing.ckpt", "--top-k", "-2"},
		{"eval", "--model", "missing.ckpt", "--temperature", "0", "test.txt"},
	} {
		code, _, stderr := poetvae(t, args...)
		if code != 2 {
			t.Errorf("poetvae %s: status %d, want 2; stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	args := []string{"generate", "--model", model, "--greedy", "--temperature", "0"}
	if code, _, stderr := poetvae(t, args...); code != 0 {
		t.Errorf("poetvae %s: status %d, stderr %q", strings.Join(args, " "), code, stderr)
	}
}

func TestInterpolate(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)

	code, stdout, stderr := poetvae(t, "interpolate", "--model", model, "--steps", "4", jingYeSi, dengGuanQ)
	if code != 0 {
		t.Fatalf("interpolate: status %d, stderr:\n%s", code, stderr)
	}
	out := lines(stdout)
	if len(out) < 5 {
		t.Fatalf("interpolate --steps 4: %d lines, want at least 5:\n%s", len(out), stdout)
	}
	for i, ts := range []string{"0.000", "0.250", "0.500", "0.750", "1.000"} {
		f := strings.Fields(out[i])
		if len(f) < 2 || f[0] != ts {
			t.Errorf("interpolate: line %d = %q, want it to start with %s", i+1, out[i], ts)
			continue
		}
		if p, err := poetry.Parse(f[len(f)-1]); err != nil || p.NumLines() != 4 {
			t.Errorf("interpolate: line %d = %q does not end in a quatrain (%v)", i+1, out[i], err)
		}
	}
	for _, l := range out[5:] {
		if !strings.HasPrefix(l, "* poem ") {
			t.Errorf("interpolate: unexpected line after the path: %q", l)
		}
	}

	code, stdout, stderr = poetvae(t, "interpolate", "--model", model, "--steps", "4", "--slerp", "--json", jingYeSi, dengGuanQ)
	if code != 0 {
		t.Fatalf("interpolate --json: status %d, stderr:\n%s", code, stderr)
	}
	var path []struct {
		Poem string    `json:"poem"`
		Z    []float64 `json:"z"`
		T    *float64  `json:"t"`
	}
	if err := json.Unmarshal([]byte(stdout), &path); err != nil {
		t.Fatalf("interpolate --json: %v:\n%s", err, stdout)
	}
	if len(path) != 5 {
		t.Fatalf("interpolate --steps 4 --json: %d points, want 5", len(path))
	}
	for i, p := range path {
		if want := float64(i) / 4; p.T == nil || *p.T != want {
			t.Errorf("interpolate --json: point %d has t %v, want %g", i, p.T, want)
		}
		if len(p.Z) != 4 {
			t.Errorf("interpolate --json: point %d has z of length %d, want 4", i, len(p.Z))
		}
	}
}

func TestUnknownCharacters(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	odd := "龘前明月光，疑是地上霜。举头望明月，低头思故乡。"

	code, _, stderr := poetvae(t, "interpolate", "--model", model, "--steps", "2", odd, dengGuanQ)
	if code != 0 {
		t.Errorf("interpolate with an unknown character: status %d, want 0; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "龘") {
		t.Errorf("interpolate with an unknown character: stderr %q lacks a warning naming 龘", stderr)
	}

	for _, args := range [][]string{
		{"interpolate", "--strict", "--model", model, odd, dengGuanQ},
		{"reconstruct", "--strict", "--model", model, odd},
	} {
		code, stdout, stderr := poetvae(t, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "龘") {
			t.Errorf("poetvae %s: status %d, stdout %q, stderr %q; want status 2 (usage) and an error naming 龘",
				strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// A poem copied in traditional characters is read in the simplified ones
// of the sample corpus, with a note, and so are fixed characters.
func TestOtherScript(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	const traditional = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"

	code, stdout, stderr := poetvae(t, "reconstruct", "--model", model, "--strict", "--json", traditional)
	if code != 0 {
		t.Fatalf("reconstruct --strict of 靜夜思 in traditional characters: status %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		Input string `json:"input"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Input != jingYeSi {
		t.Errorf("reconstruct --json of %s read %q (%v), want %s", traditional, r.Input, err, jingYeSi)
	}
	args := []string{"reconstruct", traditional}
	mentions(t, args, stderr, "note: the poem read in", "舉→举, 頭→头, 鄉→乡")
	if strings.Contains(stderr, "warning") {
		t.Errorf("reconstruct of %s warns: %s", traditional, stderr)
	}

	code, stdout, stderr = poetvae(t, "generate", "--model", model, "--first-line", "舉頭望明月", "--count", "2")
	if code != 0 {
		t.Fatalf("generate --first-line 舉頭望明月: status %d, stderr:\n%s", code, stderr)
	}
	for _, poem := range lines(stdout) {
		if !strings.HasPrefix(poem, "举头望明月，") {
			t.Errorf("generate --first-line 舉頭望明月 wrote %s", poem)
		}
	}
	mentions(t, []string{"generate", "--first-line", "舉頭望明月"}, stderr, "note: the fixed characters", "舉→举, 頭→头")
}

func TestPoemArgumentErrors(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"interpolate", jingYeSi, "床前明月光，疑是地上霜。"}, []string{"poem B", "2 lines", "4-line"}},
		{[]string{"interpolate", "床前明月，疑是地上霜。举头望明月，低头思故乡。", dengGuanQ}, []string{"poem A", "line 1"}},
		{[]string{"reconstruct", "abc"}, []string{"the poem:", "non-Han"}},
	}
	for _, tt := range tests {
		args := append([]string{tt.args[0], "--model", model}, tt.args[1:]...)
		code, stdout, stderr := poetvae(t, args...)
		if code != 2 || stdout != "" {
			t.Errorf("poetvae %s: status %d, stdout %q; want status 2 (usage) and nothing on stdout", strings.Join(args, " "), code, stdout)
		}
		mentions(t, args, stderr, tt.want...)
	}
}

var recoveredLine = regexp.MustCompile(`^(\d+) of 20 characters recovered \((\d+)%\)$`)

func TestReconstruct(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)

	code, stdout, stderr := poetvae(t, "reconstruct", "--model", model, chunXiao)
	if code != 0 {
		t.Fatalf("reconstruct: status %d, stderr:\n%s", code, stderr)
	}
	out := lines(stdout)
	if len(out) != 2 {
		t.Fatalf("reconstruct: %d lines, want 2:\n%s", len(out), stdout)
	}
	if p, err := poetry.Parse(out[0]); err != nil || p.NumLines() != 4 {
		t.Errorf("reconstruct: %q is not a quatrain (%v)", out[0], err)
	}
	if !recoveredLine.MatchString(out[1]) {
		t.Errorf("reconstruct: second line %q, want \"N of 20 characters recovered (P%%)\"", out[1])
	}

	code, stdout, stderr = poetvae(t, "reconstruct", "--model", model, "--json", chunXiao)
	if code != 0 {
		t.Fatalf("reconstruct --json: status %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		Input     string   `json:"input"`
		Poem      string   `json:"poem"`
		Recovered *float64 `json:"recovered"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("reconstruct --json: %v:\n%s", err, stdout)
	}
	if r.Input != chunXiao || r.Poem != out[0] || r.Recovered == nil || *r.Recovered < 0 || *r.Recovered > 1 {
		t.Errorf("reconstruct --json = %+v; want input %q, poem %q and a share in [0, 1]", r, chunXiao, out[0])
	}
}

// TestBuiltinModel: with no --model, no $POETVAE_MODEL and no
// ./poetvae.ckpt, the commands use the model built into the program and
// say so on stderr; a model named but missing is an error that says how
// to get one; ./poetvae.ckpt, then $POETVAE_MODEL, then --model win over
// the built-in model.
func TestBuiltinModel(t *testing.T) {
	inTempDir(t) // no poetvae.ckpt here, and POETVAE_MODEL empty
	for _, args := range [][]string{
		{"generate", "--count", "2", "--seed", "1"},
		{"interpolate", "--steps", "3", jingYeSi, dengGuanQ},
		{"reconstruct", jingYeSi},
	} {
		code, stdout, stderr := poetvae(t, args...)
		if code != 0 {
			t.Fatalf("poetvae %s with the built-in model: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stderr, "using the built-in model") || !strings.Contains(stderr, "--model FILE") {
			t.Errorf("poetvae %s: stderr %q does not name the built-in model", strings.Join(args, " "), stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if f := strings.Fields(line); len(f) == 0 {
				t.Errorf("poetvae %s: empty line in\n%s", strings.Join(args, " "), stdout)
			}
		}
	}
	code, stdout, stderr := poetvae(t, "generate", "--count", "3", "--seed", "1")
	if code != 0 || len(strings.Split(strings.TrimSpace(stdout), "\n")) != 3 {
		t.Fatalf("generate --count 3: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		p, err := poetry.Parse(line)
		if err != nil || p.NumLines() != 4 {
			t.Errorf("the built-in model wrote %q: %v", line, err)
		}
	}

	// A model named but missing is an error, not the built-in model.
	code, stdout, stderr = poetvae(t, "generate", "--model", "other.ckpt")
	if code != 1 || stdout != "" {
		t.Errorf("generate --model other.ckpt: status %d, stdout %q; want status 1", code, stdout)
	}
	for _, w := range []string{"no model at other.ckpt", "poetvae train", modelEnv} {
		if !strings.Contains(stderr, w) {
			t.Errorf("generate --model other.ckpt: stderr %q does not mention %q", stderr, w)
		}
	}
	// The built-in model cannot be rewritten.
	if code, _, stderr := poetvae(t, "prior", "--none"); code != 2 || !strings.Contains(stderr, "built-in model cannot be changed") {
		t.Errorf("prior --none on the built-in model: status %d, stderr %q", code, stderr)
	}

	// ./poetvae.ckpt, then POETVAE_MODEL, then --model.
	data, err := os.ReadFile(sharedModel(t))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "poetvae.ckpt", string(data))
	if code, _, stderr := poetvae(t, "generate", "--seed", "1"); code != 0 || strings.Contains(stderr, "built-in") {
		t.Errorf("with ./poetvae.ckpt: status %d, stderr %q; want it used", code, stderr)
	}
	t.Setenv(modelEnv, "from-env.ckpt")
	if _, _, stderr := poetvae(t, "generate"); !strings.Contains(stderr, "no model at from-env.ckpt") {
		t.Errorf("with $%s: stderr %q; want it tried first", modelEnv, stderr)
	}
	if code, _, stderr := poetvae(t, "generate", "--model", "poetvae.ckpt"); code != 0 {
		t.Errorf("--model over $%s: status %d, stderr %q", modelEnv, code, stderr)
	}
	if code, _, stderr := poetvae(t, "generate", "--model", "builtin"); code != 0 || !strings.Contains(stderr, "using the built-in model") {
		t.Errorf("--model builtin: status %d, stderr %q", code, stderr)
	}
}

// TestBuildWithoutBuiltinModel: a build without the built-in model (-tags
// nobuiltin, the binaries that travel to a GPU machine) says so where it
// would have used it, and how to name another, instead of failing to read
// an empty model.
func TestBuildWithoutBuiltinModel(t *testing.T) {
	inTempDir(t)
	saved := builtinCheckpoint
	builtinCheckpoint = nil
	t.Cleanup(func() { builtinCheckpoint = saved })
	for _, args := range [][]string{{"generate"}, {"reconstruct", "--model", "builtin", jingYeSi}} {
		code, stdout, stderr := poetvae(t, args...)
		if code != 2 || stdout != "" {
			t.Errorf("poetvae %s: status %d, stdout %q; want status 2", strings.Join(args, " "), code, stdout)
		}
		mentions(t, args, stderr, "built without the built-in model", "nobuiltin", "--model", modelEnv)
	}
}

func TestDamagedModel(t *testing.T) {
	data, err := os.ReadFile(sharedModel(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want []string // one of these
	}{
		{"truncated to half", data[:len(data)/2], []string{"truncated"}},
		{"truncated header", data[:10], []string{"truncated"}},
		{"last byte missing", data[:len(data)-1], []string{"truncated", "corrupted"}},
		{"flipped byte", flip(data, len(data)/2), []string{"corrupted"}},
		{"trailing data", append(slices.Clone(data), 0), []string{"trailing", "corrupted"}},
		{"empty", nil, []string{"not a poetvae checkpoint", "truncated"}},
		{"not a checkpoint", []byte("床前明月光\n"), []string{"not a poetvae checkpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			if err := os.WriteFile("m.ckpt", tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"generate", "--model", "m.ckpt"},
				{"reconstruct", "--model", "m.ckpt", jingYeSi},
			} {
				code, stdout, stderr := poetvae(t, args...)
				if code != 1 || stdout != "" {
					t.Errorf("poetvae %s: status %d, stdout %q; want status 1", strings.Join(args, " "), code, stdout)
				}
				if !strings.Contains(stderr, "m.ckpt") || !slices.ContainsFunc(tt.want, func(w string) bool { return strings.Contains(stderr, w) }) {
					t.Errorf("poetvae %s: stderr %q does not name m.ckpt and say %q", strings.Join(args, " "), stderr, strings.Join(tt.want, `" or "`))
				}
			}
		})
	}
}

func flip(data []byte, i int) []byte {
	d := slices.Clone(data)
	d[i] ^= 0x40
	return d
}

func TestNum(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"},
		{1234567, "1,234,567"}, {-1234, "-1,234"}, {-12, "-12"},
	}
	for _, tt := range tests {
		if got := num(tt.n); got != tt.want {
			t.Errorf("num(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestPadColumns(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"rhyme", 8, "rhyme   "},
		{"二四不同 (x)", 14, "二四不同 (x)  "}, // 8 columns of Chinese, 4 of the rest
		{"二四不同", 6, "二四不同"},            // wider than n: left as it is
		{"ＡＢ", 5, "ＡＢ "},               // full-width letters take two columns
	} {
		if got := padColumns(tt.s, tt.n); got != tt.want {
			t.Errorf("padColumns(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestResumeArgs: the command that an interrupted train prints to go on
// carries the flags that the saved state does not hold, quoted for a shell.
func TestResumeArgs(t *testing.T) {
	cmd := trainCommand()
	var got string
	cmd.Action = func(c *cli.Context) error { got = resumeArgs(c); return nil }
	app := &cli.App{Commands: []*cli.Command{cmd}}
	err := app.Run([]string{"poetvae", "train", "--out", "my runs/m.ckpt", "--device", "cuda:1", "--tf32",
		"--valid-split", "0.1", "--seed", "7", "--epochs", "4", "--no-keywords", "--valid", "v.txt", "a.txt", "it's.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want := `--out 'my runs/m.ckpt' --valid-split 0.1 --device cuda:1 --tf32 --no-keywords --valid v.txt a.txt 'it'\''s.txt'`
	if got != want {
		t.Errorf("resume arguments\n got %s\nwant %s", got, want)
	}
}

// TestResumeHoldsOutTheSamePoems: a run stopped after its first epoch and
// resumed without its --seed goes on as the run that never stopped, with
// the same poems held out for validation (the saved run's seed chooses
// them, not the default).
func TestResumeHoldsOutTheSamePoems(t *testing.T) {
	dir := t.TempDir()
	run := func(out string, args ...string) {
		t.Helper()
		code, _, stderr := poetvae(t, append(append(slices.Clone(tinyTrain), "--out", filepath.Join(dir, out)), args...)...)
		if code != 0 {
			t.Fatalf("train %v: status %d\n%s", args, code, stderr)
		}
	}
	run("whole.ckpt", "--seed", "7", "--valid-split", "0.2")
	run("split.ckpt", "--seed", "7", "--valid-split", "0.2", "--epochs", "1")
	run("split.ckpt", "--resume", "--valid-split", "0.2")
	whole, split := epochRecords(t, filepath.Join(dir, "whole.metrics.jsonl")), epochRecords(t, filepath.Join(dir, "split.metrics.jsonl"))
	if len(whole) != 2 || len(split) != 2 {
		t.Fatalf("epoch records: %d uninterrupted, %d resumed; want 2 each", len(whole), len(split))
	}
	for _, key := range []string{"train_loss", "valid"} {
		if fmt.Sprint(whole[1][key]) != fmt.Sprint(split[1][key]) {
			t.Errorf("epoch 2 %s: %v uninterrupted, %v resumed", key, whole[1][key], split[1][key])
		}
	}
}

// epochRecords reads the epoch records of a metrics log.
func epochRecords(t *testing.T, name string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var epochs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r["kind"] == "epoch" {
			epochs = append(epochs, r)
		}
	}
	return epochs
}
