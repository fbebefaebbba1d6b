package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

func trainCommand() *cli.Command {
	d, m := model.DefaultTrainConfig(), model.DefaultConfig(0, 4)
	return &cli.Command{
		Name:      "train",
		Usage:     "train a model on corpus files (one poem per line)",
		ArgsUsage: "CORPUS...",
		Description: `Trains the VAE and writes the model with the best validation ELBO to
--out (poetvae.ckpt), the latest state to NAME.last.ckpt (for --resume)
and every logged step and epoch to NAME.metrics.jsonl. The model also
holds an index of the words of the training poems, cut with the jieba
dictionaries (--jieba-dict), for generate --theme. Ctrl-C stops the run
within moments, whatever it is doing (status 130); in training it saves
the state first, and --resume continues exactly where it stopped. A new
run does not replace an existing --out or NAME.last.ckpt without --force.

--resume goes on with the settings the run was started with, which its
state records. Of the flags that shape the model and its training, only
--epochs, --patience and --min-gain may change; the others (--batch, --lr, --seed,
--embed, --latent, --min-count...) are refused when given with other
values than the run's. The flags that shape neither may change too:
--sampler, --no-keywords, --jieba-dict, --device, --tf32 and --quiet.
The corpus (its files, --sample, --halves, --valid-split) must give the
same training poems, which the run checks. A best model --out that is
missing or damaged is written again from the state when the state holds
its weights (the run stopped at the end of its best epoch), and otherwise
at the next epoch that improves on it.

Examples:
   poetvae train --sample --epochs 30           # the built-in sample corpus
   poetvae train --valid valid.txt train.txt
   poetvae train --halves tang_train.txt tang_lvshi_train.txt   # quatrains and the halves of 律诗
   poetvae train --resume train.txt             # after Ctrl-C
   poetvae train --device cuda train.txt        # on a GPU (make cuda)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "poetvae.ckpt", Usage: "model file to write"},
			&cli.BoolFlag{Name: "sample", Usage: "train on the built-in sample corpus of well-known quatrains"},
			&cli.StringSliceFlag{Name: "valid", Usage: "validation corpus `FILE` (repeatable); default: hold out --valid-split of the training poems"},
			&cli.BoolFlag{Name: "halves", Usage: "read each eight-line poem as two quatrains (lines 1–4 and 5–8), so that quatrain and eight-line files train one quatrain model"},
			&cli.Float64Flag{Name: "valid-split", Value: 0.05, Usage: "share of the training poems held out for validation when no --valid is given"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run saved in NAME.last.ckpt, with its settings (only --epochs, --patience, --min-gain and the flags that do not shape the run may change)"},
			&cli.BoolFlag{Name: "force", Usage: "start a new run even where --out already holds a model, replacing it"},
			&cli.IntFlag{Name: "epochs", Value: d.Epochs, Usage: "the most passes over the training poems (--patience ends the run sooner when validation stops improving)"},
			&cli.IntFlag{Name: "batch", Value: d.BatchSize, Usage: "poems per step"},
			&cli.Float64Flag{Name: "lr", Value: d.LR, Usage: "Adam learning rate"},
			&cli.Float64Flag{Name: "clip", Value: d.Clip, Usage: "maximum gradient norm (0: no clipping)"},
			&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed of every random choice: same seed, same run"},
			&cli.StringFlag{Name: "kl-anneal", Value: d.Anneal, Usage: "β schedule: linear, sigmoid, cyclical or none"},
			&cli.IntFlag{Name: "kl-anneal-steps", Value: d.AnnealSteps, Usage: "length of the β ramp in steps (of each cycle, for cyclical)"},
			&cli.Float64Flag{Name: "free-bits", Value: d.FreeBits, Usage: "floor on the KL of each latent dimension, in nats: the code keeps about latent × this, rather than collapsing to nothing"},
			&cli.Float64Flag{Name: "word-dropout", Value: d.WordDropout, Usage: "share of decoder inputs replaced by UNK"},
			&cli.IntFlag{Name: "patience", Value: d.Patience, Usage: "stop after this many epochs without a better validation ELBO (0: never): the best epoch is kept, later ones only overfit"},
			&cli.Float64Flag{Name: "min-gain", Value: d.MinGain, Usage: "nats per poem an epoch must gain on the best validation ELBO to start --patience over; one that gains less is kept as the best but counts toward it (0: any gain)"},
			&cli.Float64Flag{Name: "lr-decay", Value: d.LRDecay, Usage: "multiply the learning rate by this after an epoch without a better validation ELBO (1: constant): finer steps where the run stalls"},
			&cli.IntFlag{Name: "pretrain-epochs", Value: d.PretrainEpochs, Usage: "epochs of plain autoencoding (β = 0) first, then the decoder is reset: codes that say something before the KL pulls them in"},
			&cli.IntFlag{Name: "sampler", Value: model.DefaultMixtureComponents, Usage: "Gaussians fitted to the training codes for generate to sample from, so that it stays where poems are (0: the prior N(0, I))"},
			&cli.IntFlag{Name: "min-count", Value: 1, Usage: "characters seen fewer times are read as UNK"},
			&cli.IntFlag{Name: "embed", Value: m.Embed, Usage: "character embedding size"},
			&cli.IntFlag{Name: "highway", Value: m.Highway, Usage: "highway layers"},
			&cli.IntFlag{Name: "enc-hidden", Value: m.EncHidden, Usage: "encoder LSTM size (each direction)"},
			&cli.IntFlag{Name: "dec-hidden", Value: m.DecHidden, Usage: "decoder LSTM size"},
			&cli.IntFlag{Name: "latent", Value: m.Latent, Usage: "size of the latent code z"},
			&cli.Float64Flag{Name: "dropout", Value: m.Dropout, Usage: "dropout on the encoder input and decoder output"},
			&cli.BoolFlag{Name: "bag-of-chars", Usage: "also train z to predict the poem's characters regardless of place (Zhao et al. 2017): codes that say which characters a poem holds"},
			&cli.BoolFlag{Name: "code-to-output", Value: true, Usage: "also feed z to the output layer at every step (Dieng et al. 2019): a path from the code to each character that the recurrence cannot wash out, which buys likelihood (--code-to-output=false: none; not with --lm)"},
			&cli.BoolFlag{Name: "rhyme-loss", Value: true, Usage: "also train z to predict the characters that end the even lines: codes that keep how a poem rhymes, so that reconstruct and interpolate rhyme as the poems given do (--rhyme-loss=false: none; not with --lm or --bag-of-chars)"},
			&cli.StringFlag{Name: "from-lm", Usage: "start the decoder as the language model in `FILE` (trained by train --lm on the same poems), its paths from the code at zero: the VAE begins where the language model ended and learns only what the code adds"},
			&cli.BoolFlag{Name: "lm", Usage: "train the baseline instead: the same decoder as a plain language model (no encoder, z = 0, no KL)"},
			jiebaDictFlag(),
			&cli.BoolFlag{Name: "no-keywords", Usage: "store no keyword index in the model (generate --theme needs one; building it needs the jieba dictionaries)"},
			deviceFlag("where to train"),
			&cli.BoolFlag{Name: "tf32", Usage: "on a GPU, run the large matrix products on the tensor cores in TF32 (faster, less exact)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but the result"},
		},
		Action: train,
	}
}

// checkTrainFlags refuses the values of train's flags that cannot train,
// before any corpus is read: NaN, infinities and numbers out of range,
// each named by its flag. (model's own checks would find some, but late,
// and not NaN.)
func checkTrainFlags(c *cli.Context) error {
	if strings.TrimSpace(c.String("out")) == "" {
		return usageError("--out must name a file: the model to write")
	}
	if err := refuseEmpty(c, "kl-anneal"); err != nil {
		return err
	}
	if _, err := model.Beta(c.String("kl-anneal"), 1, 0); err != nil {
		return usageError("--kl-anneal %s: want linear, sigmoid, cyclical or none", shortQuote(c.String("kl-anneal")))
	}
	for _, f := range []struct {
		name string
		min  int
	}{
		{"epochs", 1}, {"batch", 1}, {"kl-anneal-steps", 1}, {"patience", 0}, {"pretrain-epochs", 0}, {"min-count", 1},
		{"embed", 1}, {"highway", 0}, {"enc-hidden", 1}, {"dec-hidden", 1}, {"latent", 1},
	} {
		if v := c.Int(f.name); v < f.min {
			return usageError("--%s must be at least %d, not %d", f.name, f.min, v)
		}
	}
	if c.IsSet("from-lm") {
		switch {
		case strings.TrimSpace(c.String("from-lm")) == "":
			return usageError("--from-lm must name a file: a language model trained by train --lm")
		case c.Bool("lm"):
			return usageError("--from-lm starts a VAE's decoder from a language model; --lm trains a language model: give one")
		case c.Int("pretrain-epochs") > 0:
			return usageError("--pretrain-epochs resets the decoder after pretraining, which would undo --from-lm: give one")
		case c.Bool("resume"):
			return usageError("--from-lm starts a new run; --resume continues one that has started already")
		}
	}
	if p, e := c.Int("pretrain-epochs"), c.Int("epochs"); p >= e && c.IsSet("pretrain-epochs") {
		return usageError("--pretrain-epochs %d leaves none of the %s (--epochs) for the VAE", p, count(e, "epoch"))
	}
	// Ranges of the real-valued flags; written so that NaN, which fails
	// every comparison, falls outside each of them.
	for _, f := range []struct {
		name   string
		ok     func(float64) bool
		wanted string
	}{
		{"valid-split", func(x float64) bool { return x >= 0 && x < 1 }, "in [0, 1)"},
		{"lr", func(x float64) bool { return x > 0 && x <= 1 }, "in (0, 1]"},
		{"clip", func(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }, "a finite number, 0 or more (0: no clipping)"},
		{"free-bits", func(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }, "a finite number of nats, 0 or more"},
		{"word-dropout", func(x float64) bool { return x >= 0 && x < 1 }, "in [0, 1)"},
		{"lr-decay", func(x float64) bool { return x >= 0 && x <= 1 }, "in [0, 1]"},
		{"min-gain", func(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }, "a finite number of nats, 0 or more"},
		{"dropout", func(x float64) bool { return x >= 0 && x < 1 }, "in [0, 1)"},
	} {
		if v := c.Float64(f.name); !f.ok(v) {
			return usageError("--%s must be %s, not %g", f.name, f.wanted, v)
		}
	}
	return nil
}

// checkTrainingMemory refuses a model and batch too large to train in
// memoryBudget, before any memory is taken for them.
func checkTrainingMemory(c *cli.Context, mc model.Config, batch int) error {
	need := trainingBytes(mc, batch)
	budget, machine := memoryBudget()
	if need <= float64(budget) {
		return nil
	}
	var sizes []string
	for _, name := range []string{"embed", "highway", "enc-hidden", "dec-hidden", "latent", "batch"} {
		sizes = append(sizes, fmt.Sprintf("--%s %d", name, c.Int(name)))
	}
	return usageError("%s with %s would need about %s to train, more than %s: make them smaller",
		strings.Join(sizes, ", "), count(mc.Vocab-corpus.NumSpecial, "character"), bytesText(need), machine)
}

// trainingBytes estimates the memory of training a model of mc on batches
// of batch poems: the parameters, held as float32 weights and gradients
// and as float64 copies and Adam moments, and the activations of a batch
// that the backward pass keeps, with their gradients (float32), times
// graphOverhead. It counts in float64, so that sizes near the largest int
// do not overflow.
func trainingBytes(mc model.Config, batch int) float64 {
	V, E, Hw := float64(mc.Vocab), float64(mc.Embed), float64(mc.Highway)
	He, Hd, Z := float64(mc.EncHidden), float64(mc.DecHidden), float64(mc.Latent)
	params := V*E + Hd*V + V + // embedding and output layer
		4*(E*Hd+Z*Hd+Hd*Hd+Hd) + Z*Hd + Hd // decoder LSTM and its initial state
	if !mc.LM {
		params += Hw*2*(E*E+E) + // highway layers
			2*4*(E*He+He*He+He) + // encoder LSTMs, both ways
			2*(2*He*Z+Z) // mu and log σ²
	}
	if mc.HasBag() {
		params += Z*V + V
	}
	const perParam = 4 + 4 + 8 + 2*8
	B, T, Td := float64(batch), float64(mc.EncSteps()), float64(mc.DecSteps())
	// Per poem: each decoder step's logits and softmax and its LSTM's
	// gates and states; each encoder step's, both ways, and the highway
	// layers' outputs and gates.
	acts := B * (Td*(2*V+6*Hd+E+Z) + T*(2*6*He+(Hw+1)*3*E))
	return graphOverhead * (params*perParam + acts*4*2)
}

// graphOverhead is how much more the training graph holds than the
// parameters and activations that trainingBytes counts (the intermediate
// products of every operation, and their gradients): the peak memory of
// one epoch on the sample corpus was 2.4 to 2.9 times that count at the
// default sizes, at 512 hidden units and at a latent code of 100,000.
const graphOverhead = 3

// runPaths derives the companion files from the model path.
func runPaths(out string) (last, metrics string) {
	base := strings.TrimSuffix(out, ".ckpt")
	return base + ".last.ckpt", base + ".metrics.jsonl"
}

// refuseToReplace stops a new run that would overwrite an earlier one's
// model or state: its first epoch replaces both, and a run re-typed by
// mistake would cost the hours that trained them.
func refuseToReplace(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists, and a new run would replace it: continue that run with --resume, "+
				"write the new one elsewhere with --out NAME.ckpt, or replace it with --force", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking the output: %w", err)
		}
	}
	return nil
}

// readTraining reads the training corpus from the arguments or the sample,
// and says on w how many malformed lines it skipped.
func readTraining(c *cli.Context, w io.Writer) ([]poetry.Poem, string, error) {
	if c.Bool("sample") {
		if c.NArg() > 0 {
			return nil, "", usageError("give corpus files or --sample, not both")
		}
		p, err := corpus.Sample()
		return p, "the built-in sample corpus", err
	}
	if c.NArg() == 0 {
		return nil, "", usageError("train needs corpus files (one poem per line), or --sample for the built-in sample")
	}
	poems, rep, err := readCorpus(c, c.Args().Slice()...)
	if err != nil {
		return nil, "", err
	}
	if rep.Rejected() > 0 && !c.Bool("quiet") {
		fmt.Fprintf(w, "skipped %s (see poetvae corpus stats), e.g. %s\n", count(rep.Rejected(), "malformed line"), rep.Rejects[0])
	}
	return poems, strings.Join(rep.Files, ", "), nil
}

// splitByLines keeps the poems of the most common line count (a model reads
// one shape) and says how many others it left out. A tie goes to quatrains,
// the form poetvae is for, then to the shorter poems.
func splitByLines(poems []poetry.Poem) (kept []poetry.Poem, lines, dropped int) {
	perLength := map[int]int{}
	for _, p := range poems {
		perLength[p.NumLines()]++
	}
	better := func(n, than int) bool {
		if perLength[n] != perLength[than] {
			return perLength[n] > perLength[than]
		}
		if n == 4 || than == 4 {
			return n == 4
		}
		return n < than
	}
	for n := range perLength {
		if lines == 0 || better(n, lines) {
			lines = n
		}
	}
	kept = ofLines(poems, lines)
	return kept, lines, len(poems) - len(kept)
}

// otherShape says, for the message on the poems left out, how --halves would
// keep them: it is for a corpus of quatrains and eight-line poems, where
// one of the two was left out for the other.
func otherShape(all []poetry.Poem, lines int) string {
	other := map[int]int{4: 8, 8: 4}[lines]
	if other == 0 || !slices.ContainsFunc(all, func(p poetry.Poem) bool { return p.NumLines() == other }) {
		return ""
	}
	return " (--halves reads each eight-line poem as two quatrains, to train one quatrain model on both)"
}

// halvedLines is the line count a poem is read with under --halves: an
// eight-line poem is read as its two quatrains.
func halvedLines(p poetry.Poem) int {
	if p.NumLines() == 8 {
		return 4
	}
	return p.NumLines()
}

// splitForHalves is splitByLines for --halves: it chooses the line count by
// the poems as --halves reads them (an eight-line poem as two quatrains,
// and counted as two), and keeps the whole poems that read as poems of that
// count, so that a validation share can be held out of them before they are
// halved. dropped counts poems as they are read, halves as two.
func splitForHalves(poems []poetry.Poem) (kept []poetry.Poem, lines, dropped int) {
	halved, _ := halve(poems, nil)
	_, lines, dropped = splitByLines(halved)
	for _, p := range poems {
		if halvedLines(p) == lines {
			kept = append(kept, p)
		}
	}
	return kept, lines, dropped
}

// halve returns the poems with each eight-line poem replaced by its two
// quatrains ([poetry.Poem.Halves]), in the order read. Where seen is not
// nil, a poem already in it is left out (as the corpus reader leaves out a
// poem read before: the halves of two poems can repeat each other or a
// quatrain), and the rest are added to it; repeats counts those left out.
func halve(poems []poetry.Poem, seen map[string]bool) (out []poetry.Poem, repeats int) {
	out = make([]poetry.Poem, 0, len(poems))
	add := func(p poetry.Poem) {
		if seen != nil {
			if seen[p.Text()] {
				repeats++
				return
			}
			seen[p.Text()] = true
		}
		out = append(out, p)
	}
	for _, p := range poems {
		if p.NumLines() == 8 {
			first, second, _ := p.Halves()
			add(first)
			add(second)
		} else {
			add(p)
		}
	}
	return out, repeats
}

// ofLinesOrHalves keeps the poems of n lines, after reading each
// eight-line poem as its two halves when halves is set (prior and pack
// --halves, which must see the poems train --halves trained on: a half
// repeating one read before is left out, as there).
func ofLinesOrHalves(poems []poetry.Poem, halves bool, n int) []poetry.Poem {
	if halves {
		poems, _ = halve(poems, map[string]bool{})
	}
	return ofLines(poems, n)
}

// ofLines keeps the poems of n lines.
func ofLines(poems []poetry.Poem, n int) []poetry.Poem {
	var out []poetry.Poem
	for _, p := range poems {
		if p.NumLines() == n {
			out = append(out, p)
		}
	}
	return out
}

// countLines counts the poems of n lines.
func countLines(poems []poetry.Poem, n int) int { return len(ofLines(poems, n)) }

// holdOutHalves is holdOut for --halves: it holds out whole poems, then
// halves the eight-line poems on each side, so that the two halves of a
// poem are never one in training and the other in validation. A poem that
// repeats one before it is left out, on the validation side also where it
// repeats a training poem; repeats counts them.
func holdOutHalves(poems []poetry.Poem, share float64, seed uint64) (train, valid []poetry.Poem, repeats int) {
	wholeTrain, wholeValid := holdOut(poems, share, seed)
	seen := map[string]bool{}
	train, r := halve(wholeTrain, seen)
	valid, repeats = halve(wholeValid, seen)
	return train, valid, r + repeats
}

// holdOut moves a deterministic, seeded share of poems to a validation set.
func holdOut(poems []poetry.Poem, share float64, seed uint64) (train, valid []poetry.Poem) {
	if share <= 0 || len(poems) < 2 {
		return poems, nil
	}
	n := max(1, int(share*float64(len(poems))+0.5))
	idx := rand.New(rand.NewPCG(seed, 0x686f6c64)).Perm(len(poems))
	isValid := make([]bool, len(poems))
	for _, i := range idx[:n] {
		isValid[i] = true
	}
	for i, p := range poems {
		if isValid[i] {
			valid = append(valid, p)
		} else {
			train = append(train, p)
		}
	}
	return train, valid
}

func train(c *cli.Context) error {
	stderr := c.App.ErrWriter
	quiet := c.Bool("quiet")
	sayTo := func(w io.Writer) func(string, ...any) {
		return func(format string, args ...any) {
			if !quiet {
				fmt.Fprintf(w, format, args...)
			}
		}
	}
	say := sayTo(stderr)
	// From here on Ctrl-C (or SIGTERM) cancels ctx instead of killing the
	// process, and each step of the run gives way to it within moments:
	// the steps before training and the sampler's fit are left to finish
	// unobserved (see interruptible), training saves its state first.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	device, err := device(c)
	if err != nil {
		return err
	}
	if gpu, _ := model.ParseDevice(device); c.Bool("tf32") && gpu < 0 {
		return usageError("--tf32 is for a GPU: add --device cuda")
	}
	if k := c.Int("sampler"); k < 0 || k > 4096 {
		return usageError("--sampler must be between 0 and 4096 components, not %d", k)
	}
	if err := checkTrainFlags(c); err != nil {
		return err
	}
	out := c.String("out")
	lastPath, metricsPath := runPaths(out)
	resume := c.Bool("resume")
	if resume && c.Bool("force") {
		return usageError("--resume continues the run in %s and --force replaces it: give one", lastPath)
	}
	// The lock is a file beside the output, whose directory may be new.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	release, err := lockRun(out, lastPath)
	if err != nil {
		return err
	}
	defer release()
	if !resume && !c.Bool("force") {
		if err := refuseToReplace(out, lastPath); err != nil {
			return err
		}
	}
	// notStarted is what a run interrupted before its first step left.
	notStarted := func() error {
		if resume {
			return interruptedError("before training resumed; %s is as it was; continue with: poetvae train --resume %s", lastPath, resumeArgs(c))
		}
		return interruptedError("before training began; no file was written")
	}

	type corpora struct {
		all, valid []poetry.Poem
		source     string
	}
	read, err := interruptible(ctx, "corpus", stderr, func(w io.Writer) (corpora, error) {
		all, source, err := readTraining(c, w)
		if err != nil {
			return corpora{}, err
		}
		var valid []poetry.Poem
		if files := c.StringSlice("valid"); len(files) > 0 {
			if valid, _, err = readCorpus(c, files...); err != nil {
				return corpora{}, fmt.Errorf("validation corpus: %w", err)
			}
		}
		return corpora{all, valid, source}, nil
	})
	if ctx.Err() != nil {
		return notStarted()
	}
	if err != nil {
		return err
	}
	all, source := read.all, read.source
	halves := c.Bool("halves")
	sayRepeats := func(n int) {
		if n > 0 {
			say("left out %s repeating a poem read before (--halves)\n", count(n, "quatrain"))
		}
	}
	var poems []poetry.Poem
	var lines, dropped, kept int
	if halves {
		poems, lines, dropped = splitForHalves(all)
		n := countLines(poems, 8)
		kept = len(poems) + n // each eight-line poem is read as two quatrains
		if n > 0 {
			say("read %s as %s (--halves)\n", count(n, "eight-line poem"), count(2*n, "quatrain"))
		}
	} else {
		poems, lines, dropped = splitByLines(all)
		kept = len(poems)
	}
	if dropped > 0 {
		hint := ""
		if !halves {
			hint = otherShape(all, lines)
		}
		say("training on the %s of %d lines; %s of other lengths left out%s\n", count(kept, "poem"), lines, count(dropped, "poem"), hint)
	}
	var m *model.Model
	var st *model.TrainState
	var bestDamage error // what is wrong with a resumed run's best model
	holdOutSeed := c.Uint64("seed")
	if resume {
		type saved struct {
			ck         *model.Checkpoint
			bestDamage error
		}
		s, err := interruptible(ctx, "state", stderr, func(io.Writer) (saved, error) {
			ck, err := model.Load(lastPath)
			if err != nil {
				return saved{}, fmt.Errorf("cannot resume: %w", err)
			}
			if ck.Train == nil {
				return saved{}, fmt.Errorf("cannot resume: %s holds no training state", lastPath)
			}
			return saved{ck, checkBest(out, ck.Train)}, nil
		})
		if ctx.Err() != nil {
			return notStarted()
		}
		if err != nil {
			return err
		}
		m, st, bestDamage = s.ck.Model, s.ck.Train, s.bestDamage
		// The run's own seed, so that the same poems are held out for
		// validation as before the stop (a --seed that differs is refused
		// below).
		holdOutSeed = st.Config.Seed
	}
	var trainPoems, validPoems []poetry.Poem
	if len(c.StringSlice("valid")) > 0 {
		trainPoems = poems
		if halves {
			var repeats int
			trainPoems, repeats = halve(poems, map[string]bool{})
			sayRepeats(repeats)
		}
		v := read.valid
		if n := countLines(v, 8); halves && n > 0 {
			v, _ = halve(v, map[string]bool{})
			say("validation: read %s as %s (--halves)\n", count(n, "eight-line poem"), count(2*n, "quatrain"))
		}
		validPoems = ofLines(v, lines)
	} else {
		s := c.Float64("valid-split") // checked by checkTrainFlags
		if halves {
			var repeats int
			trainPoems, validPoems, repeats = holdOutHalves(poems, s, holdOutSeed)
			sayRepeats(repeats)
		} else {
			trainPoems, validPoems = holdOut(poems, s, holdOutSeed)
		}
	}

	if resume {
		if err := resumeConflicts(c, st, m, trainPoems); err != nil {
			return err
		}
		if c.IsSet("min-gain") {
			st.Config.MinGain = c.Float64("min-gain") // from the next epoch on
		}
		if c.IsSet("patience") {
			// Done only records that patience ran out: judged again by
			// the patience given.
			p := c.Int("patience")
			st.Config.Patience, st.Done = p, p > 0 && st.BadEpochs >= p
		}
		if c.IsSet("epochs") {
			st.Config.Epochs = c.Int("epochs")
			st.Done = false
		}
		if st.Epoch >= st.Config.Epochs || st.Done {
			note := ""
			if bestDamage != nil {
				note = fmt.Sprintf("; its best model %s is missing or damaged (%v), and %s", out, bestDamage, rebuildNote(st, lastPath))
			}
			return usageError("the run in %s has finished its %s; give --epochs more than %d to train it further%s",
				lastPath, count(st.Epoch, "epoch"), st.Epoch, note)
		}
		say("resuming %s at epoch %d, step %d\n", lastPath, st.Epoch+1, st.Step)
		if bestDamage != nil {
			if err := restoreBest(out, lastPath, m, st, bestDamage, stderr); err != nil {
				return err
			}
			if bestHeld(st) {
				bestDamage = nil // rebuilt
			}
		}
	} else {
		tc := model.TrainConfig{
			Epochs: c.Int("epochs"), BatchSize: c.Int("batch"), LR: c.Float64("lr"), Clip: c.Float64("clip"),
			Seed: c.Uint64("seed"), Anneal: c.String("kl-anneal"), AnnealSteps: c.Int("kl-anneal-steps"),
			FreeBits: c.Float64("free-bits"), WordDropout: c.Float64("word-dropout"), Patience: c.Int("patience"),
			LRDecay: c.Float64("lr-decay"), PretrainEpochs: c.Int("pretrain-epochs"), MinGain: c.Float64("min-gain"),
			LogEvery: 10,
		}
		if err := tc.Validate(); err != nil {
			return usageError("%v", err)
		}
		vocab := corpus.BuildVocab(trainPoems, c.Int("min-count"))
		if vocab.Size() <= corpus.NumSpecial {
			return usageError("--min-count %d leaves none of the characters of the %s in the vocabulary", c.Int("min-count"), count(len(trainPoems), "training poem"))
		}
		mc := model.Config{Vocab: vocab.Size(), Lines: lines, Embed: c.Int("embed"), Highway: c.Int("highway"),
			EncHidden: c.Int("enc-hidden"), DecHidden: c.Int("dec-hidden"), Latent: c.Int("latent"), Dropout: c.Float64("dropout"),
			LM: c.Bool("lm"), BagOfChars: c.Bool("bag-of-chars"), RhymeChars: rhymeLoss(c), CodeToOutput: codeToOutput(c)}
		if err := mc.Validate(); err != nil {
			return usageError("%v", err)
		}
		if err := checkTrainingMemory(c, mc, tc.BatchSize); err != nil {
			return err
		}
		if m, err = model.NewModel(mc, vocab, tc.Seed); err != nil {
			return err
		}
		if path := c.String("from-lm"); path != "" {
			if err := startFromLM(m, path); err != nil {
				return err
			}
			tc.FromLM = filepath.Base(path)
			say("decoder started from the language model %s\n", path)
		}
		if st, err = model.NewTrainState(tc, m, trainPoems); err != nil {
			return err
		}
	}
	// bestLost is a note for the messages that end a resumed run whose
	// best model is missing and is not yet written again.
	bestEpoch := st.BestEpoch
	bestLost := func() string {
		if bestDamage == nil || st.BestEpoch != bestEpoch {
			return ""
		}
		return fmt.Sprintf("; the best model %s is still missing or damaged (no epoch has improved on epoch %d's)", out, bestEpoch)
	}

	cfg := m.Config
	say("training on %s from %s, validating on %s; %s characters\n", count(len(trainPoems), "poem"), source, num(len(validPoems)), num(cfg.Vocab-corpus.NumSpecial))
	if cfg.LM {
		say("language model: embedding %d, decoder %d, %s parameters (%s)\n", cfg.Embed, cfg.DecHidden, num(m.Params.Count()), model.BLAS())
	} else {
		say("model: embedding %d, %d highway, encoder 2×%d, decoder %d, latent %d, %s parameters (%s)\n",
			cfg.Embed, cfg.Highway, cfg.EncHidden, cfg.DecHidden, cfg.Latent, num(m.Params.Count()), model.BLAS())
	}

	// Indexing a large corpus with jieba takes a while: a Ctrl-C leaves it
	// behind (it changes nothing but m, which an interrupted run drops).
	_, err = interruptible(ctx, "keywords", stderr, func(w io.Writer) (struct{}, error) {
		buildKeywords(withErrWriter(c, w), m, trainPoems, sayTo(w))
		return struct{}{}, nil
	})
	if err == nil && m.Rhymes == nil { // a resumed run has its classes already
		_, err = interruptible(ctx, "rhymes", stderr, func(w io.Writer) (struct{}, error) {
			learnRhymes(m, trainPoems, sayTo(w))
			return struct{}{}, nil
		})
	}
	if ctx.Err() != nil {
		return notStarted()
	}

	mf, err := openMetrics(metricsPath, resume)
	if err != nil {
		return err
	}
	defer mf.Close()
	tr := &model.Trainer{Model: m, State: st, Train: trainPoems, Valid: validPoems,
		BestPath: out, LastPath: lastPath, Metrics: mf, Device: device, TF32: c.Bool("tf32")}
	tr.OnEngine = func(name string) { say("training on %s\n", name) }
	bar := newProgress(stderr, quiet)
	tr.OnStep = func(s model.StepInfo) {
		bar.step(s, st.Config.Epochs)
	}
	epochs := &epochLines{say: say, bar: bar, latent: cfg.Latent, lr: st.LR()}
	tr.OnEpoch, tr.OnSaved = epochs.ended, epochs.saved
	trainHook(ctx, "train")
	err = tr.Run(ctx)
	bar.clear()
	epochs.unsaved()
	if errors.Is(err, model.ErrInterrupted) {
		if err != model.ErrInterrupted { // saving the state failed: no status 130, which promises it
			return fmt.Errorf("%w (at step %d); %s is as it was before%s", err, st.Step, lastPath, bestLost())
		}
		return interruptedError("at step %d; state saved to %s; continue with: poetvae train --resume %s%s",
			st.Step, lastPath, resumeArgs(c), bestLost())
	}
	if err != nil {
		return err
	}
	if note := bestLost(); note != "" {
		return fmt.Errorf("no epoch of this run improved on epoch %d's validation ELBO of %.2f, so the best model %s, missing or damaged, was not written again; "+
			"the run's latest weights are in %s, which --model reads as a model; to write %s again, train further with --resume --epochs N",
			bestEpoch, st.BestELBO, out, lastPath, out)
	}
	if err := fitTrainedSampler(ctx, c, out, st, trainPoems, validPoems, stderr, sayTo); err != nil {
		return err
	}
	// Nothing is reported written that is not whole on disk: the model is
	// read back, its checksum verified, before the line that names it.
	trainHook(ctx, "verify")
	if _, err := model.Load(out); err != nil {
		return fmt.Errorf("the trained model could not be read back: %w", err)
	}
	if len(validPoems) == 0 {
		fmt.Fprintf(c.App.Writer, "trained %s (no validation poems: the last epoch is kept); model written to %s\n", count(st.Epoch, "epoch"), out)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "best epoch %d of %d: validation ELBO %.2f nats per poem; model written to %s\n",
		st.BestEpoch, st.Epoch, st.BestELBO, out)
	return nil
}

// interruptedError is the error of a run stopped by Ctrl-C: status 130,
// and what was kept.
func interruptedError(format string, args ...any) error {
	return &exitError{code: 130, err: fmt.Errorf("interrupted "+format, args...)}
}

// openMetrics opens the run's metrics log: a new one, or the resumed
// run's, appended to.
func openMetrics(path string, resume bool) (*os.File, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !resume {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	return f, nil
}

// epochLines prints the line of each epoch once its checkpoints are on
// disk: the trainer reports an epoch as soon as it ends (ended) and writes
// its files in the background while the next one trains, then says how
// the writing went (saved). "saved", for an epoch that improved on the
// best, is thus never said of a file still being written, nor of one that
// failed.
type epochLines struct {
	say     func(string, ...any)
	bar     *progress
	latent  int
	lr      float64 // the learning rate of the last line
	pending string  // the line of the epoch whose files are being written
	epoch   int     // that epoch
	best    bool    // that epoch improved on the best: the model is written too
}

func (l *epochLines) ended(e model.EpochInfo) {
	mark := ""
	if e.Pretraining {
		mark = "  (autoencoder pretraining)"
	}
	if e.Slight {
		mark = "  (gained less than --min-gain: counts toward --patience)"
	}
	if e.LR != l.lr {
		mark += fmt.Sprintf("  learning rate now %.3g", e.LR)
		l.lr = e.LR
	}
	v := e.Valid
	valid := "no validation poems"
	if v.Poems > 0 {
		valid = fmt.Sprintf("valid ELBO ppl %.1f, NLL %.2f, KL %.2f, active %d/%d", v.PPL, v.NLL, v.KL, v.ActiveUnits, l.latent)
	}
	l.pending = fmt.Sprintf("epoch %2d  train loss %.2f (NLL %.2f, KL %.2f, β %.2f)  %s  %s%s",
		e.Epoch, e.TrainLoss, e.TrainNLL, e.TrainKL, e.Beta, valid, e.Elapsed.Round(time.Second), mark)
	l.epoch, l.best = e.Epoch, e.Improved && !e.Pretraining
}

func (l *epochLines) saved(epoch int, err error) {
	if l.pending == "" || epoch != l.epoch {
		return
	}
	switch {
	case err != nil:
		l.print("  not saved")
	case l.best:
		l.print("  saved")
	default:
		l.print("")
	}
}

// unsaved prints the line of an epoch whose files the run ended without
// telling of: they were not written.
func (l *epochLines) unsaved() {
	if l.pending != "" {
		l.print("  not saved")
	}
}

func (l *epochLines) print(mark string) {
	l.bar.clear()
	l.say("%s%s\n", l.pending, mark)
	l.pending = ""
}

// fitTrainedSampler fits the sampling mixture of the model the run kept
// (--sampler components; none for 0 or a language model) and writes the
// model again with it. The fit can take long, and gives way to ctx; the
// model is then left as training wrote it, whole, without the mixture.
func fitTrainedSampler(ctx context.Context, c *cli.Context, out string, st *model.TrainState, train, valid []poetry.Poem,
	stderr io.Writer, sayTo func(io.Writer) func(string, ...any)) error {
	k := c.Int("sampler")
	if k == 0 {
		return nil
	}
	ck, err := model.Load(out)
	if err != nil {
		return fmt.Errorf("reading the trained model back: %w", err)
	}
	if ck.Model.Config.LM {
		return nil
	}
	start := time.Now()
	sampler, err := interruptible(ctx, "sampler", stderr, func(w io.Writer) (*model.Mixture, error) {
		// Fitted to a copy of the model, so that one left behind changes
		// nothing that is saved.
		fit := *ck.Model
		err := fitSampler(sayTo(w), &fit, train, valid, k, st.Config.Seed)
		return fit.Sampler, err
	})
	if ctx.Err() != nil {
		halves := ""
		if c.Bool("halves") {
			halves = " --halves" // the mixture the run would have fitted
		}
		return interruptedError("while fitting the sampling distribution; %s holds the trained model (best epoch %d) without one, "+
			"so generate samples its codes from N(0, I): fit it with poetvae prior --model %s%s and the training corpus", out, st.BestEpoch, out, halves)
	}
	if err != nil {
		return err
	}
	if sampler == nil {
		return nil
	}
	ck.Model.Sampler = sampler
	if err := ck.Save(out); err != nil {
		return err
	}
	sayTo(stderr)("sampling distribution: %d Gaussians fitted to the training poems' codes (%s)\n", len(sampler.Weights), time.Since(start).Round(time.Second))
	return nil
}

// interruptible runs work in a goroutine of its own and returns what it
// returns, or ctx's error as soon as ctx is cancelled, leaving work to
// finish unobserved. It is for the steps of train that cannot stop
// halfway and can take long on a large corpus (reading it, indexing its
// words with jieba, loading a large state, fitting the sampler): they
// read and compute, and write no file, so the process may exit while they
// run. What work writes to the writer it is given (its messages) is held
// back and copied to out only once it has finished in time, so that no
// message follows the line that reports the interruption. A panic of
// work is raised again on the caller's goroutine, where run reports it as
// an internal error, with the place it happened.
func interruptible[T any](ctx context.Context, phase string, out io.Writer, work func(w io.Writer) (T, error)) (T, error) {
	type result struct {
		v        T
		msg      []byte
		err      error
		panicked string // the panic's value and site
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{panicked: fmt.Sprint(r) + panicSite()}
			}
		}()
		trainHook(ctx, phase)
		var msg bytes.Buffer
		v, err := work(&msg)
		done <- result{v: v, msg: msg.Bytes(), err: err}
	}()
	select {
	case r := <-done:
		if r.panicked != "" {
			panic(r.panicked)
		}
		out.Write(r.msg)
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// trainHookKey is the context key of a function that train calls at the
// start of each of its phases, named: where a test stands in for a slow
// phase, or changes the files between phases. Nothing sets it but tests.
type trainHookKey struct{}

func trainHook(ctx context.Context, phase string) {
	if hook, ok := ctx.Value(trainHookKey{}).(func(string)); ok {
		hook(phase)
	}
}

// withErrWriter returns a copy of c whose messages go to w.
func withErrWriter(c *cli.Context, w io.Writer) *cli.Context {
	app := *c.App
	app.ErrWriter = w
	cc := *c
	cc.App = &app
	return &cc
}

// checkBest reads the best model a resumed run has written, and returns
// what is wrong with it, if anything: nil when it is whole, or when the
// run has validated no epoch yet and so has none to keep.
func checkBest(out string, st *model.TrainState) error {
	if st.BestEpoch == 0 {
		return nil
	}
	if _, err := os.Stat(out); errors.Is(err, fs.ErrNotExist) {
		return errors.New("there is no such file")
	}
	_, err := model.Load(out)
	return err
}

// bestHeld reports whether the saved state's weights are those of the
// run's best epoch: the state was saved at the end of that epoch (the
// last the run has finished) and not after a step of the next.
func bestHeld(st *model.TrainState) bool {
	return st.BestEpoch > 0 && st.BestEpoch == st.Epoch && st.Pos == 0 && st.Sums.Steps == 0
}

// rebuildNote says whether a resumed run can write its missing best model
// again from its state, for the messages about it.
func rebuildNote(st *model.TrainState, lastPath string) string {
	if bestHeld(st) {
		return fmt.Sprintf("resuming rebuilds it from %s, whose weights are those of its best epoch, %d", lastPath, st.BestEpoch)
	}
	return fmt.Sprintf("it cannot be rebuilt from the run's state: its best epoch was %d, and %s holds the weights of a later one", st.BestEpoch, lastPath)
}

// restoreBest deals with a resumed run's best model that is missing or
// damaged (damage says how): when the state holds the best epoch's
// weights, it writes the model again from them and reads it back;
// otherwise it warns that the model will be written again only when an
// epoch improves on the best one.
func restoreBest(out, lastPath string, m *model.Model, st *model.TrainState, damage error, stderr io.Writer) error {
	if !bestHeld(st) {
		fmt.Fprintf(stderr, "warning: the best model %s is missing or damaged (%v) and cannot be rebuilt from the run's state: "+
			"its best epoch was %d (validation ELBO %.2f nats per poem), and the run's latest weights, kept in %s, are those of a later point; "+
			"%s will be written again when an epoch improves on epoch %d\n",
			out, damage, st.BestEpoch, st.BestELBO, lastPath, out, st.BestEpoch)
		return nil
	}
	best := &model.Model{Config: m.Config, Vocab: m.Vocab, Params: m.Params, Keywords: m.Keywords, Poems: m.Poems}
	best.SetRhymes(m.Rhymes)
	if err := (&model.Checkpoint{Model: best}).Save(out); err != nil {
		return fmt.Errorf("rebuilding the best model: %w", err)
	}
	if _, err := model.Load(out); err != nil {
		return fmt.Errorf("rebuilding the best model: reading it back: %w", err)
	}
	fmt.Fprintf(stderr, "the best model %s was missing or damaged (%v): rebuilt it from %s, whose weights are those of its best epoch, %d\n",
		out, damage, lastPath, st.BestEpoch)
	return nil
}

// rhymeLoss reports whether the run trains the rhyme loss: by default,
// unless the model is a language model (no code) or has the bag of
// characters (which shares its weights), where asking for it is an error.
func rhymeLoss(c *cli.Context) bool {
	if c.IsSet("rhyme-loss") {
		return c.Bool("rhyme-loss")
	}
	return !c.Bool("lm") && !c.Bool("bag-of-chars")
}

// codeToOutput reports whether z feeds the output layer: by default, unless
// the model is a language model (no code), where asking for it is an error.
func codeToOutput(c *cli.Context) bool {
	if c.IsSet("code-to-output") {
		return c.Bool("code-to-output")
	}
	return !c.Bool("lm")
}

// resumeConflicts refuses the flags given with --resume whose values
// differ from the run's: a resumed run goes on with the settings it was
// started with (the model's shape, its training's schedule and seed), as
// its saved state records them, and a flag that seems to change one would
// be silently ignored. Only flags given are compared; --epochs,
// --patience and --min-gain may change, and so may the flags that do not
// shape the run (--sampler, --device, --quiet...). --min-count, which the
// state does not record, is compared by the vocabulary it would build from
// the training poems.
func resumeConflicts(c *cli.Context, st *model.TrainState, m *model.Model, train []poetry.Poem) error {
	tc, mc := st.Config, m.Config
	stored := map[string]any{
		"batch": tc.BatchSize, "lr": tc.LR, "clip": tc.Clip, "seed": tc.Seed, "kl-anneal": tc.Anneal,
		"kl-anneal-steps": tc.AnnealSteps, "free-bits": tc.FreeBits, "word-dropout": tc.WordDropout,
		"lr-decay": tc.LRDecay, "pretrain-epochs": tc.PretrainEpochs,
		"embed": mc.Embed, "highway": mc.Highway, "enc-hidden": mc.EncHidden, "dec-hidden": mc.DecHidden,
		"latent": mc.Latent, "dropout": mc.Dropout, "lm": mc.LM, "bag-of-chars": mc.BagOfChars,
		"rhyme-loss": mc.RhymeChars, "code-to-output": mc.CodeToOutput,
	}
	var given, theirs []string
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		want, ok := stored[name]
		if !ok || !c.IsSet(name) {
			continue
		}
		var got any
		switch want.(type) {
		case int:
			got = c.Int(name)
		case uint64:
			got = c.Uint64(name)
		case float64:
			got = c.Float64(name)
		case string:
			got = c.String(name)
		case bool:
			got = c.Bool(name)
		}
		if got == want {
			continue
		}
		if on, ok := got.(bool); ok { // a switch is named as it is given
			g, r := "--"+name, "without --"+name
			if !on {
				g, r = "--"+name+"=false", "with --"+name
			}
			given, theirs = append(given, g), append(theirs, r)
			continue
		}
		given = append(given, fmt.Sprintf("--%s %v", name, got))
		theirs = append(theirs, fmt.Sprintf("%s %v", name, want))
	}
	// Other poems than the run's make another vocabulary whatever the
	// count: Run says that they differ.
	if c.IsSet("min-count") && model.Fingerprint(train) == st.Corpus {
		n := c.Int("min-count")
		if v := corpus.BuildVocab(train, n); v.FirstDifference(m.Vocab) >= 0 {
			given = append(given, fmt.Sprintf("--min-count %d", n))
			theirs = append(theirs, fmt.Sprintf("a vocabulary of %s where --min-count %d keeps %s",
				count(m.Vocab.Size()-corpus.NumSpecial, "character"), n, num(v.Size()-corpus.NumSpecial)))
		}
	}
	if len(given) == 0 {
		return nil
	}
	verb := "differs"
	if len(given) > 1 {
		verb = "differ"
	}
	return usageError("--resume continues the run as it was started: %s %s from the run's (%s); drop them, or start a new run with --force",
		strings.Join(given, ", "), verb, strings.Join(theirs, ", "))
}

// resumeArgs is what train --resume needs to go on as the stopped run
// would have: the same files, the same validation poems, the same device.
// The model's and the training's settings are in the saved state.
func resumeArgs(c *cli.Context) string {
	var parts []string
	for _, name := range []string{"out", "valid-split", "device", "jieba-dict", "sampler"} {
		if c.IsSet(name) {
			parts = append(parts, "--"+name+" "+shellQuote(c.String(name)))
		}
	}
	for _, name := range []string{"sample", "halves", "tf32", "no-keywords"} {
		if c.Bool(name) {
			parts = append(parts, "--"+name)
		}
	}
	for _, v := range c.StringSlice("valid") {
		parts = append(parts, "--valid "+shellQuote(v))
	}
	for _, a := range c.Args().Slice() {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote writes s so that a POSIX shell reads it back as one word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// startFromLM starts m's decoder as the language model in path.
func startFromLM(m *model.Model, path string) error {
	ck, err := model.Load(path)
	if err != nil {
		return fmt.Errorf("--from-lm: %w", err)
	}
	if err := model.InitFromLM(m, ck.Model); err != nil {
		return usageError("--from-lm %s: %v", path, err)
	}
	return nil
}
