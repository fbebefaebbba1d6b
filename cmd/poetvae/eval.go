package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "measure a model: likelihood of test poems, use of the latent space, quality of its poems",
		ArgsUsage: "TEST...",
		Description: `On the test poems: the importance-sampled NLL (K samples from q(z|x)) and
its perplexity, the ELBO and its terms, the mutual information I(x; z), the
active units, and how much of each poem a round trip through its posterior
mean recovers: its characters, beside a control that decodes each poem
from another poem's posterior mean (what the decoder gets from the
language alone), and the rhyme groups of its even lines (with
--fit-steps, also from codes fitted to the poems through the decoder: how
much any code makes the decoder give back). On --samples
poems drawn as generate draws them (its sampling distribution and default
constraints, by the model's own rhyme classes: --rhyme-table only judges
them; --rhyme none --tones off for the model alone): the share that is
well formed, rhymes and keeps the tonal rules (beside the test corpus's
own rates), distinct-1/2, self-BLEU and, with --train, how many lines and
poems are copied from the training corpus. A language model (train --lm)
gets the likelihood figures only.

Example:
   poetvae eval --model poetvae.ckpt --train train.txt --rhyme-table pingshui.tsv test.txt`,
		Flags: slices.Concat([]cli.Flag{
			modelFlag(),
			&cli.IntFlag{Name: "samples", Value: 1000, Usage: "poems to generate from the prior"},
			&cli.IntFlag{Name: "is-k", Value: 100, Usage: "importance samples per test poem"},
			&cli.Float64Flag{Name: "is-scale", Value: 1, Usage: "draw the importance samples from N(mu, (S·σ)²), the posterior widened by `S`: the same likelihood estimated, more tightly where the posterior is narrower than the true one (1: the posterior itself)"},
			&cli.IntFlag{Name: "fit-steps", Usage: "also decode each test poem from a code fitted to it by `N` steps of gradient descent on −log p(x|z) from its mean: how much of a poem any code makes the decoder give back (0: not measured; 200 take some 2 s a poem)"},
			&cli.Float64Flag{Name: "temperature", Aliases: []string{"t"}, Value: defaultTemperature, Usage: "sampling temperature of the generated poems (generate's default)"},
			&cli.IntFlag{Name: "top-k", Usage: "sample among the k most likely characters (0: all)"},
			&cli.StringFlag{Name: "baseline", Usage: "a language model `FILE` (train --lm on the same data) whose NLL of the test poems to report beside, with the difference"},
			&cli.StringSliceFlag{Name: "train", Usage: "training corpus `FILE` for the novelty figures (repeatable)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of every random choice: same seed, same report"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			deviceFlag("where the decoder runs (the importance samples, reconstructions and samples; encoding stays on the CPU)"),
		},
			// The generated poems are drawn as generate draws them, with the
			// same flags and defaults: the figures are those of what users get.
			formFlags(true)),
		Action: evaluate,
	}
}

// formRates are the form figures of a set of poems.
type formRates struct {
	WellFormed float64 `json:"well_formed"`
	Rhyme      float64 `json:"rhyme"`
	LevelRhyme float64 `json:"level_rhyme"`
	ErSiBuTong float64 `json:"er_si_bu_tong"`
	Pattern    float64 `json:"tonal_pattern"`
}

func measureForm(pros *poetry.Prosody, poems []poetry.Poem) formRates {
	var r formRates
	if len(poems) == 0 {
		return r
	}
	var ok, checked, formed int
	for _, p := range poems {
		if _, err := poetry.Parse(p.String()); err == nil {
			formed++
		}
		if pros.RhymeOK(p) {
			r.Rhyme++
		}
		if pros.LevelRhymeOK(p) {
			r.LevelRhyme++
		}
		o, c := pros.ErSiBuTong(p)
		ok, checked = ok+o, checked+c
		if len(pros.Analyze(p).Violations) == 0 {
			r.Pattern++
		}
	}
	n := float64(len(poems))
	r.WellFormed, r.Rhyme, r.LevelRhyme, r.Pattern = float64(formed)/n, r.Rhyme/n, r.LevelRhyme/n, r.Pattern/n
	if checked > 0 {
		r.ErSiBuTong = float64(ok) / float64(checked)
	}
	return r
}

// rhymeRecovered measures whether reconstructions keep the rhyme of their
// poems. A poem's reconstruction keeps it when, for every even line (lines 2
// and 4 of a quatrain, 2, 4, 6 and 8 of eight lines), the last character of
// the reconstructed line shares a rhyme group with the last character of
// the poem's line, as pros.Rhymes compares them: a group of the rhyme
// table, or a final of their Mandarin readings where the table lacks
// either. The reconstruction need not use the same characters, nor even
// rhyme across its lines by any other measure; a character of several
// groups keeps the rhyme with any of them.
//
// Only the poems whose even lines all end in a character pros can place in
// a group (one with [poetry.Prosody.RhymeGroups]) are counted: counted says how many, and share is the part of
// them whose reconstruction keeps the rhyme, 0 when none is counted.
func rhymeRecovered(pros *poetry.Prosody, poems, recon []poetry.Poem) (share float64, counted int) {
	kept := 0
	for i, p := range poems {
		known, same := rhymeKept(pros, p, recon[i])
		if !known {
			continue
		}
		counted++
		if same {
			kept++
		}
	}
	if counted == 0 {
		return 0, 0
	}
	return float64(kept) / float64(counted), counted
}

// rhymeKept says whether the last character of each even line of recon
// shares a rhyme group with that of p (same), when pros places every one
// of p's in a group (known).
func rhymeKept(pros *poetry.Prosody, p, recon poetry.Poem) (known, same bool) {
	same = true
	for l := 1; l < p.NumLines(); l += 2 {
		end := p.Line(l)[poetry.LineLen-1]
		if pros.RhymeGroups(end) == nil {
			return false, false
		}
		same = same && pros.Rhymes(end, recon.Line(l)[poetry.LineLen-1])
	}
	return true, same
}

type sampleReport struct {
	Count       int             `json:"count"`
	Temperature float64         `json:"temperature"`
	Form        formRates       `json:"form"`
	Distinct1   float64         `json:"distinct_1"`
	Distinct2   float64         `json:"distinct_2"`
	SelfBLEU    float64         `json:"self_bleu"`
	Copied      *poetry.Novelty `json:"copied_from_train,omitempty"`
	Examples    []string        `json:"examples"`
}

type evalReport struct {
	Model     string        `json:"model"`
	LM        bool          `json:"lm"`
	Test      model.Report  `json:"test"`
	Unknown   int           `json:"test_chars_unknown"`
	Rewritten int           `json:"test_chars_read_in_model_script"` // by corpus.MatchScript, before Unknown counts
	TestForm  formRates     `json:"test_form"`
	Samples   *sampleReport `json:"samples,omitempty"`
	JudgedBy  string        `json:"judged_by"`
	Skipped   int           `json:"test_poems_skipped"`

	// RhymeRecovered is rhymeRecovered's share for the reconstructions of
	// the test poems (Test.Reconstructions), nil (null) when it counts no
	// poem; RhymePoems is how many it counts.
	RhymeRecovered *float64 `json:"recon_rhyme_recovered"`
	RhymePoems     int      `json:"recon_rhyme_poems"`
	// ShuffledRhymeRecovered is its control: the same share for the
	// reconstructions from another poem's code (nil where either is).
	ShuffledRhymeRecovered *float64 `json:"shuffled_rhyme_recovered"`

	Baseline *baselineReport `json:"baseline,omitempty"`
	Fitted   *fitReport      `json:"fitted,omitempty"`
}

// fitReport is the reconstruction from codes fitted to the test poems
// (--fit-steps; model.FitCodes with no prior term): beside the
// reconstruction from the posterior means, it tells an encoder that does
// not say what the decoder could read (the fitted codes rebuild much more)
// from a decoder that reads little of any code (they rebuild little more).
type fitReport struct {
	Steps          int     `json:"steps"`
	NLLAtMean      float64 `json:"nll_at_mean"` // −log p(x|z) at the posterior mean, nats per poem
	NLLFitted      float64 `json:"nll_fitted"`  // the same at the fitted code
	MeanNorm       float64 `json:"mean_norm"`   // mean ‖z‖ of the fitted codes (the prior's is about √Latent)
	CharsRecovered float64 `json:"chars_recovered"`
	Example        string  `json:"example"` // the first test poem's reconstruction from its fitted code
}

// baselineReport is the likelihood of the test poems under another model
// (--baseline: the language model trained on the same data), beside the
// evaluated model's: whether the latent code pays for itself.
type baselineReport struct {
	Model      string  `json:"model"`
	LM         bool    `json:"lm"`
	ISNLL      float64 `json:"is_nll"`
	Difference float64 `json:"difference"` // the evaluated model's ISNLL minus the baseline's
}

// ngramBytes estimates the memory of one poem's n-gram counts (orders 1 to
// 4, some twenty of each) as distinct-n and self-BLEU keep them.
const ngramBytes = 4 * 20 * 64

func evaluate(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("eval needs test corpus files")
	}
	if c.Int("is-k") < 1 {
		return usageError("--is-k must be at least 1 (got %d)", c.Int("is-k"))
	}
	if s := c.Float64("is-scale"); !(s > 0 && s <= 10) {
		return usageError("--is-scale must be above 0 and at most 10 (got %g)", s)
	}
	if c.Int("samples") < 0 {
		return usageError("--samples cannot be negative (got %d)", c.Int("samples"))
	}
	if n := c.Int("fit-steps"); n < 0 || n > maxFitSteps {
		return usageError("--fit-steps must be 0 to %s (got %d): the fit has settled long before", num(maxFitSteps), n)
	}
	if err := checkSampling(c); err != nil {
		return err
	}
	// The options of the samples are checked now, not after the minutes
	// of importance sampling that come before them.
	var opt model.DecodeOptions
	if err := formOptions(c, &opt, true); err != nil {
		return err
	}
	m, err := loadModel(c)
	if err != nil {
		return err
	}
	// One test poem's importance samples are held at once: their codes,
	// the decoder's inputs and targets, and their weights.
	isBytes := 8*m.Config.Latent + 2*8*m.Config.DecSteps() + 24
	if err := checkMemory("--is-k", c.Int("is-k"), isBytes, "the importance samples of one test poem"); err != nil {
		return err
	}
	// The samples are held whole for distinct-n, self-BLEU and novelty,
	// which count each one's n-grams.
	if err := checkMemory("--samples", c.Int("samples"), codeBytes(m)+poemBytes(m.Config.Lines)+ngramBytes, "the generated poems and their n-grams"); err != nil {
		return err
	}
	opt.Lines, opt.Temperature, opt.TopK = m.Config.Lines, c.Float64("temperature"), c.Int("top-k")
	// --rhyme-table judges the poems; they are written as generate
	// writes them without one, by the model's own prosody, or the
	// judge would grade its own constraint.
	opt.Prosody = nil
	if c.Int("samples") > 0 {
		if err := m.CheckOptions(opt); err != nil {
			return decodeError(c, err)
		}
	}
	pros, judge, err := loadProsody(c, false)
	if err != nil {
		return err
	}
	all, _, err := readCorpus(c, c.Args().Slice()...)
	if err != nil {
		return err
	}
	test := ofLines(all, m.Config.Lines)
	if len(test) == 0 {
		return fmt.Errorf("no %d-line poems in the test files for this model", m.Config.Lines)
	}
	rep := evalReport{Model: c.String("model"), LM: m.Config.LM, JudgedBy: judge, Skipped: len(all) - len(test)}
	if rep.Rewritten, err = readInModelScript(c, m, test); err != nil {
		return err
	}
	for _, p := range test {
		for _, r := range p.Chars() {
			if !m.Vocab.Has(r) {
				rep.Unknown++
			}
		}
	}
	seed := c.Uint64("seed")
	bar, clearBar := countBar(c.App.ErrWriter, fmt.Sprintf("importance sampling, K=%d", c.Int("is-k")))
	rep.Test, err = model.EvaluateWide(m, test, c.Int("is-k"), c.Float64("is-scale"), seed, bar)
	clearBar()
	if err != nil {
		return err
	}
	if path := c.String("baseline"); path != "" {
		if rep.Baseline, err = evalBaseline(path, test, c.Int("is-k"), c.Float64("is-scale"), seed); err != nil {
			return err
		}
		rep.Baseline.Difference = rep.Test.ISNLL - rep.Baseline.ISNLL
	}
	if share, n := rhymeRecovered(pros, test, rep.Test.Reconstructions); n > 0 {
		rep.RhymeRecovered, rep.RhymePoems = &share, n
		if other := rep.Test.ShuffledReconstructions; other != nil {
			share, _ := rhymeRecovered(pros, test, other)
			rep.ShuffledRhymeRecovered = &share
		}
	}
	if steps := c.Int("fit-steps"); steps > 0 && !m.Config.LM {
		if rep.Fitted, err = fitCodes(c, m, test, steps); err != nil {
			return err
		}
	}
	rep.TestForm = measureForm(pros, test)
	if n := c.Int("samples"); n > 0 {
		rng := rand.New(rand.NewPCG(seed, 0x73616d70))
		gen, err := m.Decode(m.SampleLatent(n, rng), opt, rng)
		if err != nil {
			return decodeError(c, err)
		}
		s := &sampleReport{Count: n, Temperature: c.Float64("temperature"), Form: measureForm(pros, gen),
			Distinct1: poetry.Distinct(gen, 1), Distinct2: poetry.Distinct(gen, 2), SelfBLEU: poetry.SelfBLEU(gen, 4)}
		if files := c.StringSlice("train"); len(files) > 0 {
			train, _, err := readCorpus(c, files...)
			if err != nil {
				return fmt.Errorf("training corpus: %w", err)
			}
			nov := poetry.NewNoveltyIndex(train).Copied(gen)
			s.Copied = &nov
		}
		for _, p := range gen[:min(5, len(gen))] {
			s.Examples = append(s.Examples, p.String())
		}
		rep.Samples = s
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, rep)
	}
	printEval(c, rep)
	return nil
}

// maxFitSteps bounds --fit-steps: on the built-in model 100 and 200
// steps rebuild 9.8% and 10.5% of the characters (docs/RESULTS.md), and
// 10,000 take over a minute a poem.
const maxFitSteps = 10_000

// fitCodes measures the reconstructions of the test poems from codes fitted
// to them (eval --fit-steps).
func fitCodes(c *cli.Context, m *model.Model, test []poetry.Poem, steps int) (*fitReport, error) {
	fmt.Fprintf(c.App.ErrWriter, "fitting a code to each of %s (%d steps each)...\n", count(len(test), "test poem"), steps)
	opt := model.CeilingFit
	opt.Steps = steps
	z, before, after, err := m.FitCodes(test, opt)
	if err != nil {
		return nil, err
	}
	recon, err := m.Decode(z, model.ReconOptions(m), nil)
	if err != nil {
		return nil, err
	}
	r := &fitReport{Steps: steps, Example: recon[0].String()}
	n := float64(len(test))
	for i, p := range test {
		r.NLLAtMean += before[i] / n
		r.NLLFitted += after[i] / n
		r.CharsRecovered += model.Recovered(p, recon[i]) / n
		var sq float64
		for _, v := range z[i] {
			sq += v * v
		}
		r.MeanNorm += math.Sqrt(sq) / n
	}
	return r, nil
}

// evalBaseline measures the importance-sampled NLL of the test poems under
// the model at path (exact for a language model).
func evalBaseline(path string, test []poetry.Poem, k int, scale float64, seed uint64) (*baselineReport, error) {
	ck, err := model.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	b := ck.Model
	if b.Config.Lines != test[0].NumLines() {
		return nil, fmt.Errorf("--baseline %s reads %d-line poems, the test poems have %d", path, b.Config.Lines, test[0].NumLines())
	}
	nll, err := model.ImportanceNLLWide(b, test, k, scale, rand.New(rand.NewPCG(seed, 0x62617365)))
	if err != nil {
		return nil, fmt.Errorf("--baseline %s: %w", path, err)
	}
	r := &baselineReport{Model: path, LM: b.Config.LM}
	for _, x := range nll {
		r.ISNLL += x / float64(len(nll))
	}
	return r, nil
}

// readInModelScript reads, in place, the characters of the test poems that
// the model does not know in the other script where it knows them there,
// as for poems given as arguments, and returns how many it rewrote.
func readInModelScript(c *cli.Context, m *model.Model, test []poetry.Poem) (int, error) {
	rewritten := 0
	var examples []corpus.Rewrite // the first few, for the note
	for i, p := range test {
		chars, rewrites, err := corpus.MatchScript(p.Chars(), m.Vocab.Has)
		if err != nil {
			return 0, err
		}
		if len(rewrites) == 0 {
			continue
		}
		for j, r := range p.Chars() {
			if chars[j] != r {
				rewritten++
			}
		}
		for _, rw := range rewrites {
			if len(examples) < 5 && !slices.Contains(examples, rw) {
				examples = append(examples, rw)
			}
		}
		if test[i], err = poetry.New(chars); err != nil {
			return 0, err
		}
	}
	if rewritten > 0 {
		fmt.Fprintf(c.App.ErrWriter, "note: %s of the test poems read in the script of the model's vocabulary: %s\n",
			count(rewritten, "character"), rewriteList(examples))
	}
	return rewritten, nil
}

func printEval(c *cli.Context, r evalReport) {
	w := c.App.Writer
	t := r.Test
	kind := fmt.Sprintf("VAE, latent %d", t.Latent)
	if r.LM {
		kind = "language model"
	}
	fmt.Fprintf(w, "model               %s (%s)\n", r.Model, kind)
	fmt.Fprintf(w, "test poems          %s", num(t.Poems))
	if r.Skipped > 0 {
		fmt.Fprintf(w, " (%s of other lengths skipped)", num(r.Skipped))
	}
	if r.Rewritten > 0 {
		fmt.Fprintf(w, ", %s read in the model's script", count(r.Rewritten, "character"))
	}
	fmt.Fprintf(w, ", %s unknown to the model (scored as UNK)\n\n", count(r.Unknown, "character"))
	fmt.Fprintf(w, "likelihood of the test poems (nats per poem; perplexity per token, %d tokens a poem)\n", t.Tokens)
	// Labels are padded to one width (K's digits vary), so the numbers align.
	label := func(s string) string { return padColumns(s, 18) }
	fmt.Fprintf(w, "  %s %8.2f   perplexity %7.1f\n", label(fmt.Sprintf("NLL (IS, K=%d)", t.Samples)), t.ISNLL, t.ISPPL)
	if t.ProposalScale != 0 {
		fmt.Fprintf(w, "  %s (samples from the posterior widened %g×)\n", label(""), t.ProposalScale)
	}
	if b := r.Baseline; b != nil {
		what := "model"
		if b.LM {
			what = "language model"
		}
		fmt.Fprintf(w, "  %s %8.2f   perplexity %7.1f   (%s %s; this model %+.2f nats)\n", label("baseline NLL"), b.ISNLL,
			math.Exp(b.ISNLL/float64(t.Tokens)), what, b.Model, b.Difference)
	}
	if !r.LM {
		fmt.Fprintf(w, "  %s %8.2f   perplexity %7.1f   (reconstruction %.2f + KL %.2f)\n", label("−ELBO"), t.ELBO, t.ELBOPPL, t.NLL, t.KL)
		fmt.Fprintf(w, "  %s %8.2f nats\n", label("mutual information"), t.MI)
		fmt.Fprintf(w, "  %s %5d of %d\n", label("active units"), t.ActiveUnits, t.Latent)
		if t.ReconRhymeFromCode {
			fmt.Fprintf(w, "reconstruction from the posterior mean (greedy; the even lines in the rhyme group the code predicts)\n")
		} else {
			fmt.Fprintf(w, "reconstruction from the posterior mean (greedy)\n")
		}
		fmt.Fprintf(w, "  characters %.1f%%   whole lines %.1f%%   BLEU-4 %.3f\n", 100*t.CharsRecovered, 100*t.LinesRecovered, t.ReconBLEU)
		if t.ShuffledCharsRecovered != nil {
			share := *t.ShuffledCharsRecovered
			fmt.Fprintf(w, "  characters from another poem's code %.1f%% (a control: the language alone)\n", 100*share)
		} else {
			fmt.Fprintf(w, "  characters from another poem's code n/a (a control: needs two test poems)\n")
		}
		if f := r.Fitted; f != nil {
			fmt.Fprintf(w, "  characters from a code fitted to the poem %.1f%% (%d steps: −log p(x|z) %.2f at the mean, %.2f fitted; mean ‖z‖ %.1f)\n",
				100*f.CharsRecovered, f.Steps, f.NLLAtMean, f.NLLFitted, f.MeanNorm)
		}
		if r.RhymeRecovered != nil {
			share := *r.RhymeRecovered
			fmt.Fprintf(w, "  rhyme group of the even lines %.1f%%", 100*share)
			if r.RhymePoems < t.Poems {
				fmt.Fprintf(w, " (of the %s whose even lines end in known groups)", count(r.RhymePoems, "poem"))
			}
			fmt.Fprintln(w)
			if r.ShuffledRhymeRecovered != nil {
				fmt.Fprintf(w, "  rhyme group from another poem's code %.1f%% (the control)\n", 100**r.ShuffledRhymeRecovered)
			}
		} else {
			fmt.Fprintf(w, "  rhyme group of the even lines n/a (no test poem's even lines all end in known groups)\n")
		}
	}
	if s := r.Samples; s != nil {
		fmt.Fprintf(w, "\n%s from the prior (temperature %.2g)   generated   test corpus\n", count(s.Count, "poem"), s.Temperature)
		row := func(name string, g, tc float64) {
			fmt.Fprintf(w, "  %s %7.1f%%    %7.1f%%\n", padColumns(name, 36), 100*g, 100*tc)
		}
		row("well formed", s.Form.WellFormed, r.TestForm.WellFormed)
		row("rhyme (even lines, one group)", s.Form.Rhyme, r.TestForm.Rhyme)
		row("level-tone rhyme", s.Form.LevelRhyme, r.TestForm.LevelRhyme)
		row("二四不同 (of lines with known tones)", s.Form.ErSiBuTong, r.TestForm.ErSiBuTong)
		row("standard tonal pattern, no violation", s.Form.Pattern, r.TestForm.Pattern)
		fmt.Fprintf(w, "  distinct-1 %.3f   distinct-2 %.3f   self-BLEU-4 %.3f\n", s.Distinct1, s.Distinct2, s.SelfBLEU)
		if s.Copied != nil {
			fmt.Fprintf(w, "  copied from the training corpus: %.1f%% of lines, %.1f%% of poems\n", 100*s.Copied.Lines, 100*s.Copied.Poems)
		}
		for _, e := range s.Examples {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	fmt.Fprintf(w, "(form judged by %s)\n", r.JudgedBy)
}
