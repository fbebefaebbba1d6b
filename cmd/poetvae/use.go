package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/model/builtin"
	"poetvae/poetry"
)

const (
	modelEnv     = "POETVAE_MODEL"
	defaultModel = "poetvae.ckpt"
	// builtinModelName names the built-in model to --model, even where a
	// ./poetvae.ckpt would be found first.
	builtinModelName = "builtin"
)

func modelFlag() cli.Flag {
	return &cli.StringFlag{Name: "model", Aliases: []string{"m"}, EnvVars: []string{modelEnv}, DefaultText: "./" + defaultModel + " if there is one, else the built-in model",
		Usage: "model `FILE` written by poetvae train, or " + builtinModelName + " for the model built into poetvae (./" + builtinModelName + " for a file of that name)"}
}

// modelSource says where the model comes from: --model, else
// $POETVAE_MODEL, else ./poetvae.ckpt where there is one (what train
// writes), else the model built into the program (builtin is then true
// and path names it for messages).
func modelSource(c *cli.Context) (path string, isBuiltin bool) {
	path = c.String("model")
	if path == builtinModelName {
		return builtin.Name, true
	}
	if path != "" { // an empty POETVAE_MODEL counts as unset
		return path, false
	}
	if _, err := os.Stat(defaultModel); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return defaultModel, false // a file there that cannot be read is reported as such
	}
	return builtin.Name, true
}

// modelPath names the model that modelSource finds, for messages.
func modelPath(c *cli.Context) string {
	path, _ := modelSource(c)
	return path
}

// loadModel reads the model that modelSource finds; the built-in one with
// a line on stderr that names it, so that nobody mistakes its poems for
// those of a model of their own.
func loadModel(c *cli.Context) (*model.Model, error) {
	ck, err := loadCheckpoint(c)
	if err != nil {
		return nil, err
	}
	return ck.Model, nil
}

// loadCheckpoint is loadModel with the rest of what the model's file holds
// (its checksum, which names it).
func loadCheckpoint(c *cli.Context) (*model.Checkpoint, error) {
	return loadCheckpointFor(c, model.LoadOptions{})
}

// builtinCheckpoint is the built-in model's bytes, none in a build without
// it (model/builtin); a variable so that tests can take it away.
var builtinCheckpoint = builtin.Checkpoint

// loadCheckpointFor is loadCheckpoint for what opt says the model is read
// for. The built-in model's checksum is left to the test of the build
// that embeds it (model/builtin), whatever opt says.
func loadCheckpointFor(c *cli.Context, opt model.LoadOptions) (*model.Checkpoint, error) {
	dev, err := device(c)
	if err != nil {
		return nil, err
	}
	path, isBuiltin := modelSource(c)
	var ck *model.Checkpoint
	if isBuiltin {
		if len(builtinCheckpoint) == 0 {
			return nil, usageError("this poetvae was built without %s (-tags nobuiltin): name a model file with --model (or $%s), or train one with `poetvae train corpus.txt`", builtin.Name, modelEnv)
		}
		fmt.Fprintf(c.App.ErrWriter, "using %s (%s); --model FILE or $%s chooses another\n", builtin.Name, builtin.About, modelEnv)
		trusted := opt
		trusted.Trusted = true
		ck, err = model.LoadBytesFor(builtin.Name, builtinCheckpoint, trusted)
	} else {
		ck, err = model.LoadFor(path, opt)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no model at %s: train one with `poetvae train corpus.txt` (or `poetvae train --sample`), or point --model or $%s at one; without either, the built-in model is used", path, modelEnv)
	}
	if err != nil {
		return nil, err
	}
	if err := ck.Model.UseDevice(dev); err != nil {
		return nil, err
	}
	return ck, nil
}

// loadEncoderModel is loadModel for a command that needs the latent
// codes: a language model, which has no encoder, is refused with why.
func loadEncoderModel(c *cli.Context, why string) (*model.Model, error) {
	ck, err := loadEncoderCheckpoint(c, why, model.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return ck.Model, nil
}

// loadEncoderCheckpoint is loadEncoderModel with the rest of the file, as
// loadCheckpoint; opt says what else the model is read for.
func loadEncoderCheckpoint(c *cli.Context, why string, opt model.LoadOptions) (*model.Checkpoint, error) {
	ck, err := loadCheckpointFor(c, opt)
	if err != nil {
		return nil, err
	}
	if ck.Model.Config.LM {
		return nil, fmt.Errorf("the model is a language model without an encoder: %s", why)
	}
	return ck, nil
}

// modelFile is the model file that a command which rewrites the model
// works on: the built-in model cannot be rewritten.
func modelFile(c *cli.Context) (string, error) {
	path, isBuiltin := modelSource(c)
	if isBuiltin {
		return "", usageError("%s cannot be changed: name a model file with --model (or $%s), or train one with `poetvae train corpus.txt`", builtin.Name, modelEnv)
	}
	return path, nil
}

func seedFlag() cli.Flag {
	return &cli.Uint64Flag{Name: "seed", DefaultText: "a new one each run", Usage: "seed for sampling: same seed, same poems"}
}

func rngFor(c *cli.Context) (*rand.Rand, uint64) {
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	return rand.New(rand.NewPCG(seed, 0x67656e)), seed
}

// defaultTemperature is generate's sampling temperature, and eval's for
// the poems it judges: a little under 1 keeps the rarest characters, which
// the model has learnt least well, from most lines.
const defaultTemperature = 0.8

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "write new poems from random points of the latent space",
		Description: `Draws z from the model's sampling distribution (a mixture fitted to the
training poems' codes, or the prior N(0, I)), with --like from near the
encoding of a poem, or with --theme from near the encoding of a training
poem that holds a keyword of the theme, and decodes it. Every poem is well
formed: five characters a line, punctuation placed by the formatter. No
character appears twice unless --allow-repeats. By default the even lines
rhyme and the tones keep the loose rules (--rhyme any --tones loose, by
the rhyme classes the model learnt from its training poems): the model
alone rhymes few; --rhyme none --tones off leaves it every choice.

Characters can be fixed (--acrostic, --first-line, --template) and the poem
held to a rhyme (--rhyme, --rhyme-char) and to tonal rules (--tones); all
combine. Where no character keeps every constraint, the weakest gives way at
that place only, repeats first, then tones, then rhyme (fixed characters
never), and a warning on stderr says where.

Examples:
   poetvae generate
   poetvae generate --count 5 --temperature 0.6 --seed 7
   poetvae generate --lines 2 --greedy --json
   poetvae generate --acrostic 春夏秋冬 --rhyme any --tones loose
   poetvae generate --first-line 床前明月光 --rhyme-char 光 --beam 5
   poetvae generate --template "春□□□□，□□□□□。秋□□□□，□□□□□。" --tones strict --rhyme ang
   poetvae generate --like "床前明月光，疑是地上霜。举头望明月，低头思故乡。" --spread 0.5 -n 3
   poetvae generate --theme 江南春雨 -n 3 --rhyme any

--theme cuts the theme into keywords with jieba (the dictionaries of
--jieba-dict or $POETVAE_JIEBA_DICT), looks them up in the keyword index
that train stores in the model, and says on stderr how many training poems
hold each. Every poem is drawn near one of those poems (near one holding
more keywords more often); when none holds any, from the prior.`,
		Flags: slices.Concat([]cli.Flag{
			modelFlag(),
			deviceFlag("where to decode"),
			simplifiedFlag(),
			&cli.StringSliceFlag{Name: "check", Usage: "say on stderr how many of the poems, and of their lines, are in corpus `FILE` (repeatable; the training poems, to see that none is copied)"},
			&cli.IntFlag{Name: "lines", Value: 4, Usage: "lines per poem: 2 or 4 (8 with a model of 8-line poems)"},
			&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1, Usage: "poems to write"},
			&cli.Float64Flag{Name: "temperature", Aliases: []string{"t"}, Value: defaultTemperature, Usage: "sampling temperature: lower is safer, higher is wilder"},
			&cli.IntFlag{Name: "top-k", Usage: "sample among the k most likely characters (0: all)"},
			&cli.BoolFlag{Name: "greedy", Usage: "take the most likely character at every step"},
			&cli.StringFlag{Name: "like", Usage: "write poems like `POEM`: draw z from its posterior N(mu, σ²) instead of the prior"},
			&cli.Float64Flag{Name: "spread", Value: 1, Usage: "with --like, scale σ: 0 decodes the posterior mean, larger strays further"},
		}, themeFlags(), fixedFlags(), formFlags(true), []cli.Flag{
			seedFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print poems, lines, latent codes and notes as JSON"},
		}),
		Action: generate,
	}
}

type poemJSON struct {
	Poem    string       `json:"poem"`
	Lines   []string     `json:"lines"`
	Z       []float64    `json:"z,omitempty"`
	T       *float64     `json:"t,omitempty"`
	Pattern string       `json:"pattern,omitempty"`
	Rhyme   []string     `json:"rhyme,omitempty"`
	Notes   []model.Note `json:"notes,omitempty"`
	Near    string       `json:"near,omitempty"` // with --theme, the training poem z was drawn near
}

func newPoemJSON(p poetry.Poem, z []float64) poemJSON {
	j := poemJSON{Poem: p.String(), Z: z}
	for i := 0; i < p.NumLines(); i++ {
		j.Lines = append(j.Lines, string(p.Line(i)))
	}
	return j
}

// resultJSON is newPoemJSON with what the constraints made of the poem.
func resultJSON(r model.DecodeResult, z []float64) poemJSON {
	j := newPoemJSON(r.Poem, z)
	j.Pattern, j.Rhyme, j.Notes = r.Pattern, r.Rhyme, r.Notes
	return j
}

// generateChunk is how many poems generate decodes before it writes them:
// what it holds is a chunk's worth however many poems are asked for.
const generateChunk = 256

func generate(c *cli.Context) error {
	writeSimplified(c)
	if c.NArg() > 0 {
		return usageError("generate takes no arguments (got %s)", shortQuote(c.Args().First()))
	}
	// An empty value given on purpose is a mistake (a variable that was
	// not set, a quote lost), not a request for the default.
	if err := refuseEmpty(c, "like", "theme", "acrostic", "first-line", "template"); err != nil {
		return err
	}
	n := c.Int("count")
	if n < 1 {
		return usageError("--count must be at least 1")
	}
	if s := c.Float64("spread"); !(s >= 0) || math.IsInf(s, 1) {
		return usageError("--spread must be a finite number, 0 or more (got %g)", s)
	}
	if c.IsSet("spread") && !c.IsSet("like") {
		return usageError("--spread needs --like")
	}
	if err := checkSampling(c); err != nil {
		return err
	}
	if err := checkThemeFlags(c); err != nil {
		return err
	}
	tm, lines, err := fixedTemplate(c, c.Int("lines"))
	if err != nil {
		return err
	}
	opt := model.DecodeOptions{Lines: lines, Greedy: c.Bool("greedy"),
		Temperature: c.Float64("temperature"), TopK: c.Int("top-k"), Template: tm}
	if err := formOptions(c, &opt, true); err != nil {
		return err
	}
	m, err := loadModel(c)
	if err != nil {
		return err
	}
	if tm != nil {
		if opt.Template, err = matchScript(c, m, tm, "the fixed characters"); err != nil {
			return err
		}
	}
	if err := m.CheckOptions(opt); err != nil {
		return decodeError(c, err)
	}
	novelty, err := newNoveltyCheck(c)
	if err != nil {
		return err
	}
	rng, seed := rngFor(c)
	var draw themeDraw
	var theme *themeJSON
	switch {
	case c.String("theme") != "":
		if draw, theme, err = themeSampler(c, m, rng); err != nil {
			return err
		}
	case c.String("like") != "":
		poems, err := parsePoems(c, m, []string{c.String("like")})
		if err != nil {
			return prefixError("--like", err)
		}
		mu, logvar, err := m.Encode(poems)
		if err != nil {
			return err
		}
		spread := c.Float64("spread")
		draw = func(n int) ([][]float64, []int) { return m.SampleAround(mu[0], logvar[0], n, spread, rng), nil }
	default:
		draw = func(n int) ([][]float64, []int) { return m.SampleLatent(n, rng), nil }
	}

	// The poems are written a chunk at a time as they are decoded, so
	// that memory does not grow with --count, and an output closed early
	// (generate -n 1000000 | head) stops the work.
	w := &errWriter{w: c.App.Writer}
	var js *poemStream
	if c.Bool("json") {
		if js, err = startPoemStream(w, seed, theme); err != nil {
			return err
		}
	}
	for done := 0; done < n; {
		k := min(generateChunk, n-done)
		z, near := draw(k)
		results, err := m.DecodeResults(z, opt, rng)
		if err != nil {
			return decodeError(c, err)
		}
		warnNotes(c, results, func(i int) string { return fmt.Sprintf("poem %d", done+i+1) })
		for i, r := range results {
			if js == nil {
				fmt.Fprintln(w, r.Poem)
				continue
			}
			j := resultJSON(r, z[i])
			if near != nil {
				j.Near = m.Poems[near[i]].String()
			}
			if err := js.add(j); err != nil {
				return err
			}
		}
		novelty.add(results)
		if w.err != nil {
			return fmt.Errorf("writing the poems: %w", w.err)
		}
		done += k
	}
	if js != nil {
		js.end()
	}
	if w.err != nil {
		return fmt.Errorf("writing the poems: %w", w.err)
	}
	novelty.report(c)
	return nil
}

// errWriter keeps the first error of its writes and writes nothing after
// it, so that a loop of writes can check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// poemStream writes generate --json as the poems come: the document
// writeJSON would write of {seed, theme, poems}, byte for byte, without
// holding the poems.
type poemStream struct {
	w     io.Writer
	poems int
}

func startPoemStream(w io.Writer, seed uint64, theme *themeJSON) (*poemStream, error) {
	fmt.Fprintf(w, "{\n  \"seed\": %d,\n", seed)
	if theme != nil {
		b, err := indentedJSON(theme, "  ")
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "  \"theme\": %s,\n", b)
	}
	fmt.Fprint(w, "  \"poems\": [")
	return &poemStream{w: w}, nil
}

func (s *poemStream) add(j poemJSON) error {
	b, err := indentedJSON(j, "    ")
	if err != nil {
		return err
	}
	sep := ","
	if s.poems == 0 {
		sep = ""
	}
	fmt.Fprintf(s.w, "%s\n    %s", sep, b)
	s.poems++
	return nil
}

func (s *poemStream) end() { fmt.Fprint(s.w, "\n  ]\n}\n") }

// indentedJSON is v as writeJSON writes it, its lines after the first
// indented by prefix, without the final newline.
func indentedJSON(v any, prefix string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// prefixError puts what before the message of err, keeping its exit status.
func prefixError(what string, err error) error {
	if ee, ok := errors.AsType[*exitError](err); ok {
		return &exitError{code: ee.code, err: fmt.Errorf("%s: %w", what, ee.err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// parsePoems parses the poem arguments and checks them against the model:
// its line count, and its characters. A character the model does not know
// is read in the other script where the model knows it there (a poem copied
// in traditional characters for a model of simplified ones, or the
// reverse), with a note; the rest become UNK with a warning, or an error
// with --strict. A poem that cannot be read is the user's mistake: a usage
// error, as a bad flag value is.
func parsePoems(c *cli.Context, m *model.Model, args []string) ([]poetry.Poem, error) {
	var poems []poetry.Poem
	for i, a := range args {
		name := argumentName(i, len(args))
		if strings.TrimSpace(a) == "" {
			return nil, usageError("%s is empty", name)
		}
		// A poem of eight lines and its punctuation is some fifty
		// characters; a longer text is no poem, and the parser's message
		// about it would not say so as plainly.
		if n := utf8.RuneCountInString(a); n > maxPoemLen {
			return nil, usageError("%s has %d characters, more than a poem of eight lines ever needs (%d)", name, n, maxPoemLen)
		}
		p, err := poetry.Parse(a)
		if err != nil {
			return nil, usageError("%s: %v", name, err)
		}
		if p.NumLines() != m.Config.Lines {
			return nil, usageError("%s has %d lines; this model reads %d-line poems", name, p.NumLines(), m.Config.Lines)
		}
		chars, err := matchScript(c, m, p.Chars(), name)
		if err != nil {
			return nil, err
		}
		if p, err = poetry.New(chars); err != nil {
			return nil, usageError("%s: %v", name, err)
		}
		if unk := m.Vocab.Unknown(p); len(unk) > 0 {
			msg := fmt.Sprintf("%s: %s not in the model's vocabulary", name, quoteRunes(unk))
			if c.Bool("strict") {
				return nil, usageError("%s", msg)
			}
			fmt.Fprintf(c.App.ErrWriter, "warning: %s; read as unknown (UNK)\n", msg)
		}
		poems = append(poems, p)
	}
	return poems, nil
}

// argumentName names the i-th of n poem arguments in messages: "the poem"
// when it is the only one; the two ends of a walk are "poem A" and "poem B",
// as interpolate's usage and its notes call them.
func argumentName(i, n int) string {
	if n == 1 {
		return "the poem"
	}
	return fmt.Sprintf("poem %c", 'A'+i)
}

// matchScript reads the characters of what (a poem, or a template) that
// the model does not know in the other script, simplified or traditional,
// where it knows them there, and says so on stderr.
func matchScript(c *cli.Context, m *model.Model, chars []rune, what string) ([]rune, error) {
	chars, rewrites, err := corpus.MatchScript(chars, m.Vocab.Has)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(rewrites) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "note: %s read in the script of the model's vocabulary: %s\n", what, rewriteList(rewrites))
	}
	return chars, nil
}

func simplifiedFlag() cli.Flag {
	return &cli.BoolFlag{Name: "simplified", Usage: "write the poems in simplified characters (a model of traditional ones writes traditional; OpenCC t2s converts)"}
}

// writeSimplified makes the command's output simplified under
// --simplified. The conversion is the whole of the difference: one model
// of traditional characters reads simplified poems (matchScript) and
// writes them through t2s, which agrees with the simplified copies of the
// validation poems on 99.98% of their characters
// (corpus.TestSimplifyMatchesSharedCopies), so a second model for
// simplified characters would buy nothing.
func writeSimplified(c *cli.Context) {
	if c.Bool("simplified") {
		c.App.Writer = simplifiedWriter{c.App.Writer}
	}
}

// simplifiedWriter converts what is written to simplified characters.
// Every write of the commands is whole text (a line, a JSON document, or
// one poem of generate's streamed JSON), so no character, nor any phrase
// OpenCC converts as one, is split between two writes.
type simplifiedWriter struct{ w io.Writer }

func (s simplifiedWriter) Write(p []byte) (int, error) {
	out, err := corpus.Simplify(string(p))
	if err != nil {
		return 0, err
	}
	if _, err := io.WriteString(s.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rewriteList writes rewrites as 舉→举, 頭→头.
func rewriteList(rewrites []corpus.Rewrite) string {
	parts := make([]string, len(rewrites))
	for i, rw := range rewrites {
		parts[i] = string(rw.From) + "→" + string(rw.To)
	}
	return strings.Join(parts, ", ")
}

func quoteRunes(rs []rune) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

// encodeArgs reads the form flags, loads the model, parses the poem
// arguments and encodes them to their posterior means: the common start of
// interpolate and reconstruct, which decode greedily.
func encodeArgs(c *cli.Context) (m *model.Model, poems []poetry.Poem, mu [][]float64, opt model.DecodeOptions, err error) {
	opt = model.DecodeOptions{Greedy: true}
	if err = formOptions(c, &opt, false); err != nil {
		return
	}
	if m, err = loadModel(c); err != nil {
		return
	}
	rhymeFromCode(c, m, &opt)
	if poems, err = parsePoems(c, m, c.Args().Slice()); err != nil {
		return
	}
	mu, _, err = m.Encode(poems)
	return
}

// prosodyOf is what judges the rhyme of poems decoded with opt: its
// Prosody, else the model's own.
func prosodyOf(m *model.Model, opt model.DecodeOptions) *poetry.Prosody {
	if opt.Prosody != nil {
		return opt.Prosody
	}
	return m.Prosody()
}

// rhymeFromCode makes a poem decoded from a code rhyme in the group the
// code predicts, for a model trained with the rhyme loss (train
// --rhyme-loss): what it was trained to keep, unless the rhyme flags ask
// for something else. interpolate, reconstruct and serve's calls that
// decode codes share it, so that the two never disagree.
func rhymeFromCode(c *cli.Context, m *model.Model, opt *model.DecodeOptions) {
	opt.RhymeFromCode = true
	if m.Config.RhymeChars && !c.IsSet("rhyme") && !c.IsSet("rhyme-char") && !c.IsSet("rhyme-first-line") {
		opt.Rhyme = true
	}
}

func strictFlag() cli.Flag {
	return &cli.BoolFlag{Name: "strict", Usage: "characters outside the model's vocabulary in either script (simplified, traditional) are an error, not a warning"}
}

func interpolateCommand() *cli.Command {
	return &cli.Command{
		Name:      "interpolate",
		Usage:     "walk the latent space from one poem to another",
		ArgsUsage: `"POEM A" "POEM B"`,
		Description: `Encodes both poems to their posterior means and decodes, greedily, the
points between them. An endpoint marked * does not reconstruct to its input.
--rhyme, --rhyme-char and --tones hold every poem on the way to a form (and
then forbid repeats, unless --allow-repeats); --beam searches for the most
likely poem at each point.

Examples:
   poetvae interpolate --steps 4 "床前明月光，疑是地上霜。举头望明月，低头思故乡。" "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
   poetvae interpolate --rhyme any --tones loose --beam 3 "床前明月光，疑是地上霜。举头望明月，低头思故乡。" "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"`,
		Flags: slices.Concat([]cli.Flag{
			modelFlag(),
			deviceFlag("where to decode"),
			&cli.IntFlag{Name: "steps", Value: 8, Usage: "intervals between the poems (steps+1 poems, endpoints included)"},
			&cli.BoolFlag{Name: "slerp", Usage: "follow the great circle instead of the straight line"},
			strictFlag(),
			simplifiedFlag(),
		}, formFlags(false), []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print t, poems, latent codes and notes as JSON"},
		}),
		Action: interpolate,
	}
}

func interpolate(c *cli.Context) error {
	writeSimplified(c)
	if c.NArg() != 2 {
		return usageError(`interpolate needs two poems in quotes: poetvae interpolate "POEM A" "POEM B"`)
	}
	steps := c.Int("steps")
	if steps < 1 {
		return usageError("--steps must be at least 1")
	}
	m, ends, mu, opt, err := encodeArgs(c)
	if err != nil {
		return err
	}
	// The walk's codes and poems are held until the end points are known
	// to reconstruct; decoding itself goes a pass at a time.
	if err := checkMemory("--steps", steps, codeBytes(m)+poemBytes(m.Config.Lines), "the codes and poems of the walk"); err != nil {
		return err
	}
	path := make([][]float64, steps+1)
	ts := make([]float64, steps+1)
	for i := range path {
		ts[i] = float64(i) / float64(steps)
		if c.Bool("slerp") {
			path[i] = model.Slerp(mu[0], mu[1], ts[i])
		} else {
			path[i] = model.Lerp(mu[0], mu[1], ts[i])
		}
	}
	opt.Lines = m.Config.Lines
	results, err := m.DecodeResults(path, opt, nil)
	if err != nil {
		return decodeError(c, err)
	}
	warnNotes(c, results, func(i int) string { return fmt.Sprintf("t=%.3f", ts[i]) })
	poems := make([]poetry.Poem, len(results))
	for i, r := range results {
		poems[i] = r.Poem
	}
	w := c.App.Writer
	if c.Bool("json") {
		var out []poemJSON
		for i, r := range results {
			j := resultJSON(r, path[i])
			j.T = &ts[i]
			out = append(out, j)
		}
		return writeJSON(w, out)
	}
	for i, p := range poems {
		mark := " "
		if (i == 0 && !p.Equal(ends[0])) || (i == steps && !p.Equal(ends[1])) {
			mark = "*"
		}
		fmt.Fprintf(w, "%.3f %s %s\n", ts[i], mark, p)
	}
	pros := prosodyOf(m, opt)
	for i, e := range []int{0, steps} {
		if !poems[e].Equal(ends[i]) {
			rhyme := ""
			if known, same := rhymeKept(pros, ends[i], poems[e]); known && same {
				rhyme = ", its rhyme kept"
			}
			fmt.Fprintf(w, "* poem %c reconstructs to this, not to %s (%.0f%% of characters recovered%s)\n",
				'A'+i, ends[i], 100*model.Recovered(poems[e], ends[i]), rhyme)
		}
	}
	return nil
}

func reconstructCommand() *cli.Command {
	return &cli.Command{
		Name:      "reconstruct",
		Usage:     "encode a poem and decode it again: what the model keeps of it",
		ArgsUsage: `"POEM"`,
		Description: `Encodes the poem to its posterior mean and decodes that greedily, or with
--beam by beam search. --rhyme, --rhyme-char and --tones hold the result to
a form (and then forbid repeats, unless --allow-repeats).

Examples:
   poetvae reconstruct "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
   poetvae reconstruct --tones strict --rhyme-char 霜 --beam 4 --allow-repeats "床前明月光，疑是地上霜。举头望明月，低头思故乡。"`,
		Flags: slices.Concat([]cli.Flag{modelFlag(), deviceFlag("where to decode"), strictFlag(), simplifiedFlag()}, formFlags(false),
			[]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}}),
		Action: func(c *cli.Context) error {
			writeSimplified(c)
			if c.NArg() != 1 {
				return usageError(`reconstruct needs one poem in quotes: poetvae reconstruct "POEM"`)
			}
			m, in, mu, opt, err := encodeArgs(c)
			if err != nil {
				return err
			}
			opt.Lines = m.Config.Lines
			res, err := m.DecodeResults(mu, opt, nil)
			if err != nil {
				return decodeError(c, err)
			}
			warnNotes(c, res, func(int) string { return "reconstruction" })
			out := []poetry.Poem{res[0].Poem}
			share := model.Recovered(in[0], out[0])
			if c.Bool("json") {
				j := map[string]any{"input": in[0].String(), "poem": out[0].String(), "recovered": share}
				if res[0].Pattern != "" {
					j["pattern"] = res[0].Pattern
				}
				if res[0].Rhyme != nil {
					j["rhyme"] = res[0].Rhyme
				}
				if res[0].Notes != nil {
					j["notes"] = res[0].Notes
				}
				return writeJSON(c.App.Writer, j)
			}
			fmt.Fprintln(c.App.Writer, out[0])
			n := len(in[0].Chars())
			rhyme := ""
			if known, same := rhymeKept(prosodyOf(m, opt), in[0], out[0]); known && same && share < 1 {
				rhyme = ", its rhyme kept"
			}
			fmt.Fprintf(c.App.Writer, "%d of %d characters recovered (%.0f%%)%s\n", int(share*float64(n)+0.5), n, 100*share, rhyme)
			return nil
		},
	}
}

// checkSampling refuses sampling settings that cannot work before any
// model is loaded or poem decoded (eval samples last, after minutes of work).
// Greedy decoding and beam search ignore them.
func checkSampling(c *cli.Context) error {
	if c.Bool("greedy") || c.Int("beam") > 1 {
		return nil
	}
	if t := c.Float64("temperature"); !(t > 0) || math.IsInf(t, 1) {
		return usageError("--temperature must be positive and finite (got %g); --greedy takes the most likely characters", t)
	}
	if c.Int("top-k") < 0 {
		return usageError("--top-k cannot be negative (got %d)", c.Int("top-k"))
	}
	return nil
}

// maxPoemLen is the most characters a poem argument may have: eight lines
// of five, their punctuation, and room for spaces and line breaks.
const maxPoemLen = 200

// refuseEmpty reports the first of the text flags named that was given
// with an empty or blank value: left to mean "not given", a value lost
// on its way (an unset variable, a quote dropped) would be ignored without
// a word.
func refuseEmpty(c *cli.Context, names ...string) error {
	for _, name := range names {
		if c.IsSet(name) && strings.TrimSpace(c.String(name)) == "" {
			return usageError("--%s is empty: give a value, or leave the flag out", name)
		}
	}
	return nil
}

// shortQuote quotes what the user wrote for a message, cut short where it
// is long: a message is one line, whatever was typed or pasted.
func shortQuote(s string) string {
	const shown = 30
	if n := utf8.RuneCountInString(s); n > shown {
		return fmt.Sprintf("%q… (%d characters)", string([]rune(s)[:shown]), n)
	}
	return fmt.Sprintf("%q", s)
}

// shortText is shortQuote without the quotes, for text that messages show
// as it is (a theme, an acrostic).
func shortText(s string) string {
	const shown = 30
	if n := utf8.RuneCountInString(s); n > shown {
		return fmt.Sprintf("%s… (%d characters)", string([]rune(s)[:shown]), n)
	}
	return s
}

// memoryBudget is the memory one command may fill with what a count flag
// asks for (--steps, --samples, --is-k, the sizes of a model to train):
// half of this machine's memory, or 4 GiB where it cannot be read. Beyond
// it a mistyped number would make the machine swap, or the program be
// killed, rather than be refused.
func memoryBudget() (budget int64, machine string) {
	if total, ok := physicalMemory(); ok {
		return total / 2, fmt.Sprintf("half of this machine's %s of memory", bytesText(float64(total)))
	}
	return 4 << 30, "what a modest machine can give"
}

// physicalMemory reads the machine's memory from /proc/meminfo (Linux).
func physicalMemory() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil && kb > 0 {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// checkMemory refuses a count flag whose n items of per bytes each would
// not fit in memoryBudget, saying how much they would need and the
// largest count that fits. what says what the memory would hold.
func checkMemory(flag string, n, per int, what string) error {
	budget, machine := memoryBudget()
	need := float64(n) * float64(per)
	if need <= float64(budget) {
		return nil
	}
	return usageError("%s %d would need about %s for %s; the limit is %s (%s)",
		flag, n, bytesText(need), what, num(int(budget/int64(per))), machine)
}

// bytesText writes a size in bytes as "24 GB".
func bytesText(b float64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	u := 0
	for b >= 1000 && u < len(units)-1 {
		b /= 1000
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%.0f bytes", b)
	}
	return fmt.Sprintf("%.3g %s", b, units[u])
}

// codeBytes is the memory of one latent code of m held in a [][]float64.
func codeBytes(m *model.Model) int { return 8*m.Config.Latent + 24 }

// poemBytes estimates the memory of one decoded poem of n lines held as a
// DecodeResult: its characters, the ids it was decoded as, and room for
// its rhyme, pattern and notes.
func poemBytes(lines int) int { return (4+8)*5*lines + 256 }
