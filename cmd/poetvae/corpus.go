package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"golang.org/x/text/width"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

const rhymeTableEnv = "POETVAE_RHYME_TABLE"

func rhymeTableFlag() cli.Flag {
	return &cli.StringFlag{Name: "rhyme-table", EnvVars: []string{rhymeTableEnv},
		Usage: "classical rhyme table (TSV: char, tone 平/仄, group, e.g. the 106 groups of 平水韵); it wins over modern pinyin tones"}
}

func corpusCommand() *cli.Command {
	return &cli.Command{
		Name:  "corpus",
		Usage: "inspect, check and import poem corpora",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand(c)
			}
			return cli.ShowSubcommandHelp(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "stats",
				Usage:     "count, validate and describe corpus files",
				ArgsUsage: "FILE...",
				Description: `Reads the files as one corpus (one poem per line) and reports accepted
and rejected lines (with the first rejects and their line numbers), the
characters, how many distinct characters cover 95% and 99% of the text,
the most frequent characters, and how often the corpus keeps the rules of
rhyme and tone.

Example:
   poetvae corpus stats --rhyme-table pingshui.tsv tang_train.txt`,
				Flags: []cli.Flag{
					rhymeTableFlag(),
					&cli.IntFlag{Name: "top", Value: 20, Usage: "most frequent characters to show"},
					&cli.IntFlag{Name: "rejects", Value: 5, Usage: "rejected lines to show"},
					&cli.BoolFlag{Name: "json", Usage: "print the figures as JSON"},
				},
				Action: corpusStats,
			},
			{
				Name:      "import",
				Usage:     "turn chinese-poetry JSON files into a corpus",
				ArgsUsage: "JSON...",
				Description: `Keeps the five-character poems of the given number of lines from files in
the chinese-poetry layout ([{"author","title","paragraphs":[...]}], e.g.
全唐诗/poet.tang.0.json) and writes them one per line.

Example:
   poetvae corpus import -o tang.txt --meta tang.tsv 全唐诗/poet.tang.*.json`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "corpus file to write (required)"},
					&cli.IntFlag{Name: "lines", Value: 4, Usage: "lines per poem: 4 (绝句) or 8 (律诗)"},
					&cli.BoolFlag{Name: "simplified", Usage: "convert traditional characters to simplified (OpenCC t2s)"},
					&cli.StringFlag{Name: "meta", Usage: "also write author and title of each poem to this TSV file"},
				},
				Action: corpusImport,
			},
			{
				Name:      "check",
				Usage:     "analyse the form of one poem: tones, rhyme, tonal pattern",
				ArgsUsage: `"POEM"`,
				Description: `Example:
   poetvae corpus check "床前明月光，疑是地上霜。举头望明月，低头思故乡。"`,
				Flags:  []cli.Flag{rhymeTableFlag(), &cli.BoolFlag{Name: "json", Usage: "print the analysis as JSON"}},
				Action: corpusCheck,
			},
		},
	}
}

// loadProsody returns the prosody for the flag: pinyin tones, or a rhyme
// table when one is given. table selects the strict table-only judge that
// reproduces a table's published corpus figures.
func loadProsody(c *cli.Context, tableOnly bool) (*poetry.Prosody, string, error) {
	path := c.String("rhyme-table")
	if path == "" {
		return poetry.NewProsody(), "modern pinyin tones", nil
	}
	t, err := poetry.LoadRhymeTable(path)
	if err != nil {
		return nil, "", err
	}
	if tableOnly {
		return poetry.NewTableProsody(t), "rhyme table " + path, nil
	}
	return poetry.NewProsody().WithRhymeTable(t), "rhyme table " + path, nil
}

type charCount struct {
	Char  string `json:"char"`
	Count int    `json:"count"`
}

type corpusFigures struct {
	Files      []string       `json:"files"`
	Lines      int            `json:"lines"`
	Accepted   int            `json:"accepted"`
	Rejected   int            `json:"rejected"`
	Duplicates int            `json:"duplicates"`
	ByReason   map[string]int `json:"rejected_by_reason"`
	ByLines    map[int]int    `json:"poems_by_lines"`
	Chars      int            `json:"characters"`
	Vocab      int            `json:"vocabulary"`
	Cover95    int            `json:"chars_covering_95"`
	Cover99    int            `json:"chars_covering_99"`
	Top        []charCount    `json:"most_frequent"`
	Judge      string         `json:"judged_by"`
	Form       formRates      `json:"form"`
	Seconds    float64        `json:"seconds"`
}

func corpusStats(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("corpus stats needs at least one corpus file")
	}
	if c.Int("top") < 0 || c.Int("rejects") < 0 {
		return usageError("--top and --rejects cannot be negative")
	}
	start := time.Now()
	pros, judge, err := loadProsody(c, true)
	if err != nil {
		return err
	}
	poems, rep, err := readCorpus(c, c.Args().Slice()...)
	if err != nil {
		return err
	}
	f := corpusFigures{Files: rep.Files, Lines: rep.Lines, Accepted: rep.Accepted, Rejected: rep.Rejected(),
		Duplicates: rep.Duplicates, ByReason: rep.ByReason, ByLines: map[int]int{}, Judge: judge}
	counts := map[rune]int{}
	for _, p := range poems {
		f.ByLines[p.NumLines()]++
		for _, r := range p.Chars() {
			counts[r]++
		}
		f.Chars += len(p.Chars())
	}
	f.Form = measureForm(pros, poems)
	freq := make([]charCount, 0, len(counts))
	for r, n := range counts {
		freq = append(freq, charCount{string(r), n})
	}
	sort.Slice(freq, func(i, j int) bool {
		if freq[i].Count != freq[j].Count {
			return freq[i].Count > freq[j].Count
		}
		return freq[i].Char < freq[j].Char
	})
	f.Vocab = len(freq)
	f.Cover95, f.Cover99 = coverage(freq, f.Chars, 0.95), coverage(freq, f.Chars, 0.99)
	f.Top = freq[:min(c.Int("top"), len(freq))]
	f.Seconds = time.Since(start).Seconds()
	w := c.App.Writer
	if c.Bool("json") {
		return writeJSON(w, f)
	}
	fmt.Fprintf(w, "files          %s\n", strings.Join(f.Files, ", "))
	fmt.Fprintf(w, "lines read     %s\n", num(f.Lines))
	fmt.Fprintf(w, "poems          %s accepted, %s rejected, %s dropped\n", num(f.Accepted), num(f.Rejected), count(f.Duplicates, "duplicate"))
	for _, lines := range sortedKeys(f.ByLines) {
		fmt.Fprintf(w, "               %s of %d lines\n", num(f.ByLines[lines]), lines)
	}
	for _, reason := range sortedKeys(f.ByReason) {
		fmt.Fprintf(w, "  rejected     %s: %s\n", reason, num(f.ByReason[reason]))
	}
	for _, r := range rep.Rejects[:min(c.Int("rejects"), len(rep.Rejects))] {
		fmt.Fprintf(w, "  %s\n", r)
	}
	fmt.Fprintf(w, "characters     %s (%s distinct)\n", num(f.Chars), num(f.Vocab))
	fmt.Fprintf(w, "coverage       %s characters cover 95%% of the text, %s cover 99%%\n", num(f.Cover95), num(f.Cover99))
	var top strings.Builder
	for _, cc := range f.Top {
		top.WriteString(cc.Char)
	}
	fmt.Fprintf(w, "most frequent  %s\n", top.String())
	fmt.Fprintf(w, "form           (judged by %s)\n", f.Judge)
	fmt.Fprintf(w, "  rhyme        %.1f%% of poems: even lines end in one rhyme group\n", 100*f.Form.Rhyme)
	fmt.Fprintf(w, "  level rhyme  %.1f%% of poems: ... in one level-tone (平) group\n", 100*f.Form.LevelRhyme)
	fmt.Fprintf(w, "  二四不同     %.1f%% of lines where both characters have one known tone\n", 100*f.Form.ErSiBuTong)
	fmt.Fprintf(w, "  pattern      %.1f%% of poems keep a standard tonal pattern with no violation\n", 100*f.Form.Pattern)
	return nil
}

// coverage is how many of the most frequent characters cover share of the text.
func coverage(freq []charCount, total int, share float64) int {
	seen := 0
	for i, cc := range freq {
		seen += cc.Count
		if float64(seen) >= share*float64(total) {
			return i + 1
		}
	}
	return len(freq)
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// num formats an integer with thousands separators.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// padColumns pads s with spaces to n columns of a terminal, where a Chinese
// character takes two (fmt's %-36s counts it as one and breaks tables).
func padColumns(s string, n int) string {
	cols := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			cols += 2
		default:
			cols++
		}
	}
	return s + strings.Repeat(" ", max(0, n-cols))
}

// count counts things in words: count(1, "poem") is "1 poem",
// count(2345, "poem") "2,345 poems".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return num(n) + " " + noun + "s"
}

// readCorpus reads corpus files as corpus.Read does, and says so plainly
// when one of them is a model: an easy slip, as in train --resume m.ckpt
// for train --resume --out m.ckpt.
func readCorpus(c *cli.Context, files ...string) ([]poetry.Poem, *corpus.Report, error) {
	poems, rep, err := corpus.Read(files...)
	return poems, rep, explainCorpusError(c, err)
}

// explainCorpusError is err, of reading corpus files, where a file that is
// a model says so, and where the model goes.
func explainCorpusError(c *cli.Context, err error) error {
	nt, ok := errors.AsType[*corpus.NotTextError](err)
	if !ok || !model.IsCheckpointStart(nt.Head) {
		return err
	}
	msg := fmt.Sprintf("%s is a poetvae model, not a corpus (one poem per line)", nt.File)
	switch {
	case c.Command.Name == "train" && slices.Contains(c.Args().Slice(), nt.File):
		out := nt.File
		if base, ok := strings.CutSuffix(out, ".last.ckpt"); ok {
			out = base + ".ckpt" // runPaths's inverse
		}
		msg += fmt.Sprintf("; to continue its run: poetvae train --resume --out %s CORPUS", out)
	case hasFlag(c, "model"):
		msg += "; a model goes to --model"
	}
	return errors.New(msg)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func corpusImport(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("corpus import needs at least one JSON file")
	}
	if strings.TrimSpace(c.String("output")) == "" {
		return usageError("corpus import needs --output FILE, the corpus file to write")
	}
	// --meta "" would otherwise be read as no --meta, and the metadata
	// asked for never written.
	if err := refuseEmpty(c, "meta"); err != nil {
		return err
	}
	lines := c.Int("lines")
	if lines != 4 && lines != 8 {
		return usageError("--lines must be 4 or 8, not %d", lines)
	}
	for _, flag := range []string{"output", "meta"} {
		if err := refuseDirectory("--"+flag, c.String(flag)); err != nil {
			return err
		}
	}
	out, err := createAtomic(c.String("output"))
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.String("output"), err)
	}
	defer out.abort()
	var meta *atomicFile
	if path := c.String("meta"); path != "" {
		if meta, err = createAtomic(path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		defer meta.abort()
	}
	var metaW io.Writer
	if meta != nil {
		metaW = meta.w
	}
	st, err := corpus.Import(out.w, metaW, corpus.ImportOptions{Lines: lines, Simplify: c.Bool("simplified")}, c.Args().Slice()...)
	if err != nil {
		return err
	}
	if err := out.commit(); err != nil {
		return err
	}
	if meta != nil {
		if err := meta.commit(); err != nil {
			return err
		}
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s written to %s from %s in %s (%s dropped)\n",
		count(st.Kept, "poem"), c.String("output"), count(st.Records, "record"), count(st.Files, "file"), count(st.Duplicates, "duplicate"))
	for _, reason := range sortedKeys(st.Skipped) {
		fmt.Fprintf(w, "  skipped %s: %s\n", reason, num(st.Skipped[reason]))
	}
	return nil
}

// atomicFile is written to a temporary file and renamed into place on
// commit, so a failed import never leaves half a corpus behind.
type atomicFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(dirOf(path), ".poetvae-*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// refuseDirectory reports a directory named by flag where a file is to be
// written: createAtomic would write the whole file beside it and only then
// fail, to rename it onto the directory, with a message about the rename.
func refuseDirectory(flag, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %s is a directory: name the file to write", flag, path)
	}
	return nil
}

func (a *atomicFile) commit() error {
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	a.done = true
	return nil
}

func (a *atomicFile) abort() {
	if !a.done {
		a.f.Close()
		os.Remove(a.f.Name())
	}
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func corpusCheck(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError(`corpus check needs one poem in quotes, e.g. poetvae corpus check "床前明月光，疑是地上霜。举头望明月，低头思故乡。"`)
	}
	arg := c.Args().First()
	// The parser quotes a line that is too long whole: a pasted text of any
	// length would make a message as long.
	if n := utf8.RuneCountInString(arg); n > maxPoemLen {
		return usageError("the poem has %d characters, more than a poem of eight lines ever needs (%d)", n, maxPoemLen)
	}
	p, err := poetry.Parse(arg)
	if err != nil {
		if fi, statErr := os.Stat(arg); statErr == nil && !fi.IsDir() {
			return usageError("corpus check analyses one poem, and %s is a file: poetvae corpus stats %s checks a corpus file", arg, arg)
		}
		// A poem that cannot be read is the user's mistake, as it is for
		// the commands that take poems (parsePoems).
		return usageError("the poem: %v", err)
	}
	pros, judge, err := loadProsody(c, false)
	if err != nil {
		return err
	}
	a := pros.Analyze(p)
	w := c.App.Writer
	if c.Bool("json") {
		tones := make([]string, len(a.Tones))
		for i, line := range a.Tones {
			for _, t := range line {
				tones[i] += t.String()
			}
		}
		return writeJSON(w, map[string]any{"poem": p.String(), "tones": tones, "rhyme_lines": a.RhymeLines,
			"rhymed": a.Rhymed, "level_rhyme": a.LevelRhyme, "pattern": a.Pattern, "score": a.Score,
			"violations": a.Violations, "judged_by": judge})
	}
	for i := 0; i < p.NumLines(); i++ {
		line := p.Line(i)
		var tones strings.Builder
		for _, t := range a.Tones[i] {
			tones.WriteString(t.String())
		}
		mark := ""
		if slices.Contains(a.RhymeLines, i+1) {
			mark = "  韵 " + strings.Join(pros.RhymeGroups(line[len(line)-1]), "/")
		}
		fmt.Fprintf(w, "%s%s\n%s\n", string(line), mark, tones.String())
	}
	fmt.Fprintf(w, "\npattern   %s\n", a.Pattern)
	rhyme := "lines " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(a.RhymeLines)), ", "), "[]") + " rhyme"
	if !a.Rhymed {
		rhyme += "; the even lines do not all rhyme"
	} else if !a.LevelRhyme {
		rhyme += " (on an oblique-tone group)"
	}
	fmt.Fprintf(w, "rhyme     %s\n", rhyme)
	fmt.Fprintf(w, "score     %.2f\n", a.Score)
	if len(a.Violations) == 0 {
		fmt.Fprintln(w, "no violations")
	}
	for _, v := range a.Violations {
		fmt.Fprintf(w, "  line %d, character %d: %s: %s\n", v.Line, v.Pos, v.Rule, v.Detail)
	}
	fmt.Fprintf(w, "(judged by %s)\n", judge)
	return nil
}
