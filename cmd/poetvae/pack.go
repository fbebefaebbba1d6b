package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// defaultThemeFloor is the fewest poems a keyword must be in for pack to
// keep its figures: a word of a few poems says more of them than of a
// theme, and every word costs the file 4 bytes a latent dimension. For the
// built-in model, a floor of 5 kept 33,139 keywords in a file of 13.3 MiB,
// 20 keeps 9,804 in 10.2 MiB (the weights are 8.9 MiB).
const defaultThemeFloor = 20

func packCommand() *cli.Command {
	return &cli.Command{
		Name:      "pack",
		Usage:     "write a model to give away: half the size, and no poem text in it",
		ArgsUsage: "[CORPUS...]",
		Description: `Writes the model of --model to --out with its weights in half precision
(float16) and without its training state, and replaces the keyword index
of generate --theme, which keeps the training poems, by figures: for each
keyword of at least --min-poems poems, their number and the mean and
variance of their codes. The packed model holds no poem text; theme
sampling draws from each keyword's figures instead of around its poems.

The figures come from the model's own index, or, for a model trained
without one, from the CORPUS files given (segmented with the jieba
dictionaries, as train does).

Examples:
   poetvae pack --model poetvae.ckpt --out small.ckpt
   poetvae pack --model big.ckpt --out small.ckpt --halves train.txt lvshi.txt`,
		Flags: []cli.Flag{
			modelFlag(),
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "packed model `FILE` to write", Required: true},
			&cli.BoolFlag{Name: "halves", Usage: "read each eight-line poem of the CORPUS files as two quatrains"},
			&cli.IntFlag{Name: "min-poems", Value: defaultThemeFloor, Usage: "keep the figures of keywords in at least `N` poems"},
			&cli.StringSliceFlag{Name: "valid", Usage: "validation corpus `FILE` (repeatable): report how many of its poems the packed model reconstructs as the original does"},
			&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists"},
			jiebaDictFlag(),
		},
		Action: pack,
	}
}

func pack(c *cli.Context) error {
	in, err := modelFile(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	if strings.TrimSpace(out) == "" {
		return usageError("--out must name a file: the packed model to write")
	}
	if c.Int("min-poems") < 1 {
		return usageError("--min-poems must be at least 1")
	}
	if err := refuseDirectory("--out", out); err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil && !c.Bool("force") {
		return fmt.Errorf("%s exists: --force replaces it", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ck, err := model.Load(in)
	if err != nil {
		return err
	}
	m := ck.Model
	var valid []poetry.Poem
	if files := c.StringSlice("valid"); len(files) > 0 {
		v, _, err := readCorpus(c, files...)
		if err != nil {
			return fmt.Errorf("validation corpus: %w", err)
		}
		if valid = ofLines(v, m.Config.Lines); len(valid) == 0 {
			return fmt.Errorf("validation corpus: no %d-line poems, which %s reads", m.Config.Lines, in)
		}
		if _, err := readInModelScript(c, m, valid); err != nil {
			return err
		}
	}
	stderr := c.App.ErrWriter
	switch {
	case m.Config.LM:
		if c.NArg() > 0 {
			return usageError("%s is a language model: it has no codes for keyword figures, give no corpus", in)
		}
	case c.NArg() > 0 && m.Keywords != nil:
		return usageError("%s has a keyword index of its own: give no corpus (its figures come from that index)", in)
	case c.NArg() > 0:
		poems, _, err := readCorpus(c, c.Args().Slice()...)
		if err != nil {
			return err
		}
		poems = ofLinesOrHalves(poems, c.Bool("halves"), m.Config.Lines)
		if len(poems) == 0 {
			return fmt.Errorf("the corpus has no %d-line poems, which %s reads", m.Config.Lines, in)
		}
		start := time.Now()
		ix, err := indexPoems(c.String("jieba-dict"), poems)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "indexed %s of %s (%s)\n", count(len(ix.Words), "word"), count(len(poems), "poem"), time.Since(start).Round(10*time.Millisecond))
		m.Keywords, m.Poems = ix, poems
	}
	if m.Keywords != nil {
		th, err := themeFigures(c, m, m.Keywords, m.Poems)
		if err != nil {
			return err
		}
		m.Themes, m.Keywords, m.Poems = th, nil, nil
	}
	packed := &model.Checkpoint{Model: m, Float16: true}
	if err := packed.Save(out); err != nil {
		return err
	}
	before, after := fileSize(in), fileSize(out)
	themes := "no keyword figures"
	if m.Themes != nil {
		themes = count(len(m.Themes.Words), "keyword") + " as figures"
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %s (%s was %s), float16 weights, %s, no poem text\n", out, after, in, before, themes)
	if len(valid) == 0 {
		return nil
	}
	same, chars, err := compareReconstructions(m, out, valid)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "greedy reconstructions of the %s: %.1f%% the same poem as with the original weights, %.2f%% of characters the same\n",
		count(len(valid), "validation poem"), 100*same, 100*chars)
	return nil
}

// compareReconstructions decodes the poems greedily from their posterior
// means with m's weights and with those of the packed file, and returns
// the share of poems, and of characters, that come out the same.
func compareReconstructions(m *model.Model, packed string, poems []poetry.Poem) (samePoems, sameChars float64, err error) {
	ck, err := model.Load(packed)
	if err != nil {
		return 0, 0, err
	}
	a, err := m.Reconstruct(poems)
	if err != nil {
		return 0, 0, err
	}
	b, err := ck.Model.Reconstruct(poems)
	if err != nil {
		return 0, 0, err
	}
	for i := range a {
		r := model.Recovered(a[i], b[i])
		sameChars += r / float64(len(a))
		if r == 1 {
			samePoems += 1 / float64(len(a))
		}
	}
	return samePoems, sameChars, nil
}

// themeFigures encodes the indexed poems, with progress on stderr, and
// sums up each keyword's codes.
func themeFigures(c *cli.Context, m *model.Model, ix *corpus.Index, poems []poetry.Poem) (*model.Themes, error) {
	start := time.Now()
	const chunk = 1024
	var mu, logvar [][]float64
	update, clear := countBar(c.App.ErrWriter, "encoding the indexed poems")
	for lo := 0; lo < len(poems); lo += chunk {
		if update != nil {
			update(lo, len(poems))
		}
		a, b, err := m.Encode(poems[lo:min(lo+chunk, len(poems))])
		if err != nil {
			clear()
			return nil, err
		}
		mu, logvar = append(mu, a...), append(logvar, b...)
	}
	clear()
	th, err := model.BuildThemes(ix, mu, logvar, c.Int("min-poems"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "encoded %s; figures of %s in %s or more (%s)\n", count(len(poems), "poem"), count(len(th.Words), "keyword"), count(c.Int("min-poems"), "poem"), time.Since(start).Round(100*time.Millisecond))
	return th, nil
}
