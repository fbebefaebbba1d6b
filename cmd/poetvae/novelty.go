package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"poetvae/model"
	"poetvae/poetry"
)

// noveltyCheck says, under generate --check, how many of the poems written
// are poems of the corpus files given, and how many of their lines are
// lines of it: a model that learnt its corpus by heart writes it out again,
// and that is worth knowing before calling its poems new. Eight-line poems
// are also read as their two halves, so that a quatrain copied from half
// of a 律诗 is caught. The poems are counted as they are written (add), so
// that none of them need be kept.
type noveltyCheck struct {
	files                    []string
	corpusPoems              int
	ix                       *poetry.NoveltyIndex
	poems, lines             int
	copiedPoems, copiedLines int
}

// newNoveltyCheck reads the corpus files of --check, or returns nil when
// there are none.
func newNoveltyCheck(c *cli.Context) (*noveltyCheck, error) {
	files := c.StringSlice("check")
	if len(files) == 0 {
		return nil, nil
	}
	corpusPoems, _, err := readCorpus(c, files...)
	if err != nil {
		return nil, fmt.Errorf("--check: %w", err)
	}
	halves, _ := halve(corpusPoems, nil)
	return &noveltyCheck{files: files, corpusPoems: len(corpusPoems),
		ix: poetry.NewNoveltyIndex(append(corpusPoems, halves...))}, nil
}

// add counts the poems of results and those of them copied.
func (nc *noveltyCheck) add(results []model.DecodeResult) {
	if nc == nil {
		return
	}
	poems := make([]poetry.Poem, len(results))
	lines := 0
	for i, r := range results {
		poems[i] = r.Poem
		lines += r.Poem.NumLines()
	}
	nv := nc.ix.Copied(poems)
	// Copied gives shares; the counts they were taken from are whole.
	nc.copiedPoems += int(nv.Poems*float64(len(poems)) + 0.5)
	nc.copiedLines += int(nv.Lines*float64(lines) + 0.5)
	nc.poems += len(poems)
	nc.lines += lines
}

// report says on stderr what add counted.
func (nc *noveltyCheck) report(c *cli.Context) {
	if nc == nil {
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "checked against the %s of %s: %s of %s and %s of %s are copied from them\n",
		count(nc.corpusPoems, "poem"), strings.Join(nc.files, ", "),
		num(nc.copiedPoems), count(nc.poems, "poem"), num(nc.copiedLines), count(nc.lines, "line"))
}
