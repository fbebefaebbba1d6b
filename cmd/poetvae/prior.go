package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/urfave/cli/v2"

	"poetvae/model"
	"poetvae/poetry"
)

func priorCommand() *cli.Command {
	return &cli.Command{
		Name:      "prior",
		Usage:     "fit the distribution generate samples codes from to a corpus",
		ArgsUsage: "CORPUS...",
		Description: `Encodes the poems of the corpus (the training poems, as train does at
its end), draws one code from each poem's posterior and fits a Gaussian
mixture to them; the model file then samples from that mixture instead of
the prior N(0, I). A latent code that carries many nats fills only part of
the prior, and codes drawn from the rest decode to strings of characters
rather than poems: the mixture keeps generation where the poems are.
With --valid, it reports how much more likely the validation poems' codes
are under the mixture than under the prior (nats per code).

Examples:
   poetvae prior --model poetvae.ckpt train.txt
   poetvae prior --components 64 --valid valid.txt train.txt
   poetvae prior --halves quatrains.txt lvshi.txt  # as train --halves fits it
   poetvae prior --none                          # sample from N(0, I) again`,
		Flags: []cli.Flag{
			modelFlag(),
			&cli.IntFlag{Name: "components", Value: model.DefaultMixtureComponents, Usage: "Gaussians in the mixture"},
			&cli.StringSliceFlag{Name: "valid", Usage: "validation corpus `FILE` (repeatable): report the codes' log-density"},
			&cli.BoolFlag{Name: "none", Usage: "remove the fitted distribution: generate samples from N(0, I)"},
			&cli.BoolFlag{Name: "halves", Usage: "read each eight-line poem as two quatrains, as train --halves does: the mixture a --halves run fits at its end"},
			&cli.BoolFlag{Name: "rhymes", Usage: "also learn the corpus's rhyme classes into the model, as train does (for a model trained before it did)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the codes drawn and of the fit"},
		},
		Action: fitPrior,
	}
}

func fitPrior(c *cli.Context) error {
	path, err := modelFile(c)
	if err != nil {
		return err
	}
	if c.Bool("none") && c.NArg() > 0 {
		return usageError("--none removes the fitted distribution: give no corpus with it")
	}
	if !c.Bool("none") && c.NArg() == 0 {
		return usageError("prior needs the corpus files to fit to (the training poems), or --none")
	}
	if k := c.Int("components"); k < 1 || k > 4096 {
		return usageError("--components must be between 1 and 4096, not %d", k)
	}
	ck, err := model.Load(path)
	if err != nil {
		return err
	}
	m := ck.Model
	if m.Config.LM {
		return fmt.Errorf("%s is a language model: it has no latent code to sample", path)
	}
	if c.Bool("none") {
		m.Sampler = nil
		if err := ck.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%s now samples codes from N(0, I)\n", path)
		return nil
	}
	poems, _, err := readCorpus(c, c.Args().Slice()...)
	if err != nil {
		return err
	}
	poems = ofLinesOrHalves(poems, c.Bool("halves"), m.Config.Lines)
	var valid []poetry.Poem
	if files := c.StringSlice("valid"); len(files) > 0 {
		v, _, err := readCorpus(c, files...)
		if err != nil {
			return fmt.Errorf("validation corpus: %w", err)
		}
		valid = ofLinesOrHalves(v, c.Bool("halves"), m.Config.Lines)
	}
	say := func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, format, args...) }
	if c.Bool("rhymes") {
		learnRhymes(m, poems, say)
	}
	if err := fitSampler(say, m, poems, valid, c.Int("components"), c.Uint64("seed")); err != nil {
		return err
	}
	if err := ck.Save(path); err != nil {
		return err
	}
	if m.Sampler == nil {
		fmt.Fprintf(c.App.Writer, "%s samples codes from N(0, I)\n", path)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "%s now samples codes from a mixture of %d Gaussians fitted to %s\n",
		path, len(m.Sampler.Weights), count(len(poems), "poem"))
	return nil
}

// fitSampler fits the model's sampling mixture to the poems' posteriors
// (at most one component for every minCodesPerComponent poems) and, given
// validation poems, scores their codes under it and under the prior: a
// mixture that explains held-out codes worse than N(0, I) does (too few
// poems for its components) is dropped, and generation keeps the prior.
func fitSampler(say func(string, ...any), m *model.Model, poems, valid []poetry.Poem, k int, seed uint64) error {
	k = min(k, len(poems)/minCodesPerComponent)
	if k < 1 {
		m.Sampler = nil
		say("sampling distribution: %s are too few to fit one; generate samples from N(0, I)\n", count(len(poems), "poem"))
		return nil
	}
	if _, err := model.FitSampler(m, poems, k, seed); err != nil {
		return fmt.Errorf("fitting the sampling distribution: %w", err)
	}
	if len(valid) == 0 {
		return nil
	}
	codes, err := model.PosteriorSamples(m, valid, rand.New(rand.NewPCG(seed, 0x76616c)))
	if err != nil {
		return err
	}
	var mix float64
	for _, z := range codes {
		mix += m.Sampler.LogDensity(z) / float64(len(codes))
	}
	prior := model.PriorLogDensity(codes)
	say("codes of the %s: log-density %.2f nats under a mixture of %d Gaussians, %.2f under N(0, I)\n",
		count(len(valid), "validation poem"), mix, k, prior)
	if !(mix > prior) {
		m.Sampler = nil
		say("sampling distribution: the mixture explains held-out codes no better than N(0, I); generate samples from N(0, I)\n")
	}
	return nil
}

// minCodesPerComponent is the fewest poems per Gaussian a mixture is
// fitted with: fewer pin a component's 2×latent figures down too loosely.
const minCodesPerComponent = 20

// learnRhymes learns the rhyme classes of the poems' even lines into the
// model: what its rhyme constraints go by without a rhyme table.
func learnRhymes(m *model.Model, poems []poetry.Poem, say func(string, ...any)) {
	if len(poems) < minRhymePoems {
		m.SetRhymes(nil)
		say("rhyme classes: %s are too few to learn them from; the model rhymes by Mandarin finals\n", count(len(poems), "poem"))
		return
	}
	rc := poetry.LearnRhymes(poems, poetry.LearnOptions{})
	m.SetRhymes(rc)
	say("rhyme classes: %d learned from the even lines of the training poems\n", rc.Len())
}

// minRhymePoems is the fewest poems rhyme classes are learned from: each
// class needs its characters to end even lines together in several poems,
// and from a few hundred poems most line ends would stay unclassed, unable
// to end a rhyming line (the 15,079 training quatrains give 58 classes).
const minRhymePoems = 2000
