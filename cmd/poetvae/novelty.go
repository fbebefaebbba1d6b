package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"poetvae/model"
	"poetvae/poetry"
)

// checkNovelty says, under generate --check, how many of the poems written
// are poems of the corpus files given, and how many of their lines are
// lines of it: a model that learnt its corpus by heart writes it out again,
// and that is worth knowing before calling its poems new. Eight-line poems
// are also read as their two halves, so that a quatrain copied from half
// of a 律诗 is caught.
func checkNovelty(c *cli.Context, results []model.DecodeResult) error {
	files := c.StringSlice("check")
	if len(files) == 0 {
		return nil
	}
	corpusPoems, _, err := readCorpus(c, files...)
	if err != nil {
		return fmt.Errorf("--check: %w", err)
	}
	halves, _ := halve(corpusPoems, nil)
	ix := poetry.NewNoveltyIndex(append(corpusPoems, halves...))
	poems := make([]poetry.Poem, len(results))
	lines := 0
	for i, r := range results {
		poems[i] = r.Poem
		lines += r.Poem.NumLines()
	}
	nv := ix.Copied(poems)
	copiedPoems := int(nv.Poems*float64(len(poems)) + 0.5)
	copiedLines := int(nv.Lines*float64(lines) + 0.5)
	fmt.Fprintf(c.App.ErrWriter, "checked against the %s of %s: %s of %s and %s of %s are copied from them\n",
		count(len(corpusPoems), "poem"), strings.Join(files, ", "),
		num(copiedPoems), count(len(poems), "poem"), num(copiedLines), count(lines, "line"))
	return nil
}
