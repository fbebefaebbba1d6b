package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// maxThemePoems bounds the poems a theme's samples start from. A common
// keyword such as 月 is in a good share of any corpus, and encoding all of
// those poems would cost time for a mixture no different in effect from a
// large sample of it.
const maxThemePoems = 200

func jiebaDictFlag() cli.Flag {
	return &cli.StringFlag{Name: "jieba-dict", Usage: "directory `DIR` of the jieba dictionaries (default: $" + corpus.DictEnv + ", else those of the gojieba module the program was built with)"}
}

// themeFlags are generate's flags for writing on a theme.
func themeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "theme", Usage: "write on the theme `TEXT`, e.g. 江南春雨: start near training poems that contain its keywords (needs a model trained with a keyword index)"},
		&cli.Float64Flag{Name: "theme-spread", Value: 1, Usage: "with --theme, scale σ around each poem: 0 decodes their posterior means, larger strays further"},
		&cli.IntFlag{Name: "theme-k", Value: 5, Usage: "with --theme, look up at most `K` keywords of the theme"},
		jiebaDictFlag(),
	}
}

// checkThemeFlags reports the usage errors of the theme flags, before the
// model is loaded.
func checkThemeFlags(c *cli.Context) error {
	theme := c.String("theme")
	if theme == "" {
		for _, f := range []string{"theme-spread", "theme-k"} {
			if c.IsSet(f) {
				return usageError("--%s needs --theme", f)
			}
		}
		return nil
	}
	if c.String("like") != "" {
		return usageError("give --like or --theme, not both")
	}
	if !strings.ContainsFunc(theme, poetry.IsHan) {
		return usageError("--theme takes Chinese text, such as 江南春雨, not %s", shortQuote(theme))
	}
	if s := c.Float64("theme-spread"); !(s >= 0) || math.IsInf(s, 1) {
		return usageError("--theme-spread must be a finite number, 0 or more (got %g)", s)
	}
	if c.Int("theme-k") < 1 {
		return usageError("--theme-k must be at least 1")
	}
	return nil
}

// themeJSON is what generate --json says of the theme.
type themeJSON struct {
	Text     string         `json:"text"`
	Keywords []string       `json:"keywords"`
	Support  map[string]int `json:"support"` // poems containing each keyword
	Poems    int            `json:"poems"`   // poems containing any keyword
	Used     int            `json:"used"`    // those the samples start from
}

// themeDraw draws n latent codes for a theme; near[i] is the training
// poem that code i was drawn around, and near is nil when no poem is
// behind the codes.
type themeDraw func(n int) (z [][]float64, near []int)

// themeSampler returns what draws latent codes for the theme of --theme:
// near the posteriors of the training poems that contain its keywords, or
// from the prior when none does. It says on stderr what it found.
//
// Each code starts from one poem, not from the mean of them all: the
// posterior means of poems on one subject need not be close, and their
// mean can lie where no poem does. A poem containing more of the keywords
// is chosen more often.
func themeSampler(c *cli.Context, m *model.Model, rng *rand.Rand) (draw themeDraw, tj *themeJSON, err error) {
	// The dictionaries take half a second and much memory to load, which
	// is why only --theme creates a segmenter; drawing needs it no more.
	seg := corpus.NewSegmenter(c.String("jieba-dict"))
	defer seg.Close()
	return themeSamplerWith(c, m, seg, rng)
}

// themeLatentsWith draws n latent codes for the theme, as themeSampler's
// draw does, with the segmenter given, so that a server can load the
// dictionaries once for all its requests.
func themeLatentsWith(c *cli.Context, m *model.Model, seg *corpus.Segmenter, n int, rng *rand.Rand) (z [][]float64, near []int, tj *themeJSON, err error) {
	draw, tj, err := themeSamplerWith(c, m, seg, rng)
	if err != nil {
		return nil, nil, nil, err
	}
	z, near = draw(n)
	return z, near, tj, nil
}

// themeSamplerWith is themeSampler with the segmenter given.
func themeSamplerWith(c *cli.Context, m *model.Model, seg *corpus.Segmenter, rng *rand.Rand) (draw themeDraw, tj *themeJSON, err error) {
	theme := c.String("theme")
	if m.Config.LM {
		return nil, nil, fmt.Errorf("--theme: %s is a plain language model (trained with --lm): it has no latent space to steer", modelPath(c))
	}
	if m.Keywords == nil && m.Themes != nil {
		return themeFigureSampler(c, m, seg, rng)
	}
	if m.Keywords == nil {
		return nil, nil, fmt.Errorf("--theme: %s was trained without a keyword index; train it again with the jieba dictionaries at hand (train --jieba-dict DIR, or $%s) and without --no-keywords", modelPath(c), corpus.DictEnv)
	}
	keywords, err := seg.Extract(theme, c.Int("theme-k"))
	if err != nil {
		return nil, nil, fmt.Errorf("--theme: %w", err)
	}
	tj = &themeJSON{Text: theme, Keywords: keywords, Support: make(map[string]int)}
	if keywords == nil {
		tj.Keywords = []string{}
	}
	hits := make(map[int]int) // poem → keywords it contains
	for _, w := range keywords {
		list := m.Keywords.Words[w]
		tj.Support[w] = len(list)
		for _, i := range list {
			hits[i]++
		}
	}
	stderr := c.App.ErrWriter
	prior := func(n int) ([][]float64, []int) { return m.SampleLatent(n, rng), nil }
	if len(keywords) == 0 {
		fmt.Fprintf(stderr, "theme %s: no keyword to look up; sampling from the prior\n", shortText(theme))
		return prior, tj, nil
	}
	if len(hits) == 0 {
		fmt.Fprintf(stderr, "theme %s: no poem of the training corpus contains %s; sampling from the prior\n", shortText(theme), orList(keywords))
		return prior, tj, nil
	}

	// Keep the poems with the most keywords, in a seeded order among
	// equals, so that the same seed picks the same poems.
	cands := make([]int, 0, len(hits))
	for i := range hits {
		cands = append(cands, i)
	}
	slices.Sort(cands)
	rng.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
	slices.SortStableFunc(cands, func(a, b int) int { return hits[b] - hits[a] })
	cands = cands[:min(len(cands), maxThemePoems)]
	tj.Poems, tj.Used = len(hits), len(cands)

	poems := make([]poetry.Poem, len(cands))
	weights := make([]int, len(cands))
	total := 0
	for k, i := range cands {
		poems[k], weights[k] = m.Poems[i], hits[i]
		total += hits[i]
	}
	mu, logvar, err := m.Encode(poems)
	if err != nil {
		return nil, nil, err
	}
	parts := make([]string, len(keywords))
	for k, w := range keywords {
		switch s := tj.Support[w]; s {
		case 0:
			parts[k] = w + " (no poem)"
		default:
			parts[k] = fmt.Sprintf("%s (%s)", w, count(s, "poem"))
		}
	}
	from := count(tj.Used, "poem")
	if tj.Used < tj.Poems {
		from = fmt.Sprintf("%s of %s poems, those with the most keywords", num(tj.Used), num(tj.Poems))
	}
	fmt.Fprintf(stderr, "theme %s: %s; sampling near %s\n", shortText(theme), strings.Join(parts, ", "), from)

	spread := c.Float64("theme-spread")
	return func(n int) ([][]float64, []int) {
		z, near := make([][]float64, max(n, 0)), make([]int, max(n, 0))
		for i := range z {
			k := pickWeighted(weights, total, rng)
			z[i] = m.SampleAround(mu[k], logvar[k], 1, spread, rng)[0]
			near[i] = cands[k]
		}
		return z, near
	}, tj, nil
}

// themeFigureSampler is themeSamplerWith for a packed model, which keeps
// figures of each keyword's codes rather than its poems: each code is drawn
// from the Gaussian of one keyword found, each keyword as often (a rare
// keyword of the theme is as much the theme as a common one), its σ scaled
// by --theme-spread. near is nil: no poem is behind the codes.
func themeFigureSampler(c *cli.Context, m *model.Model, seg *corpus.Segmenter, rng *rand.Rand) (draw themeDraw, tj *themeJSON, err error) {
	theme := c.String("theme")
	keywords, err := seg.Extract(theme, c.Int("theme-k"))
	if err != nil {
		return nil, nil, fmt.Errorf("--theme: %w", err)
	}
	tj = &themeJSON{Text: theme, Keywords: []string{}, Support: make(map[string]int)}
	var found []int
	parts := make([]string, len(keywords))
	for k, w := range keywords {
		tj.Keywords = append(tj.Keywords, w)
		parts[k] = w + " (no figures)"
		if i, ok := m.Themes.Lookup(w); ok {
			found = append(found, i)
			tj.Support[w] = m.Themes.Poems[i]
			tj.Poems += m.Themes.Poems[i]
			parts[k] = fmt.Sprintf("%s (%s)", w, count(m.Themes.Poems[i], "poem"))
		}
	}
	stderr := c.App.ErrWriter
	if len(found) == 0 {
		what := "no keyword to look up"
		if len(keywords) > 0 {
			what = fmt.Sprintf("the model keeps no figures of %s", orList(keywords))
		}
		fmt.Fprintf(stderr, "theme %s: %s; sampling from the model's distribution\n", shortText(theme), what)
		return func(n int) ([][]float64, []int) { return m.SampleLatent(n, rng), nil }, tj, nil
	}
	fmt.Fprintf(stderr, "theme %s: %s; sampling from the figures of the training poems' codes\n", shortText(theme), strings.Join(parts, ", "))
	spread := c.Float64("theme-spread")
	return func(n int) ([][]float64, []int) {
		z := make([][]float64, max(n, 0))
		for i := range z {
			k := found[rng.IntN(len(found))]
			mean, logVar := m.Themes.Figures(k)
			z[i] = m.SampleAround(mean, logVar, 1, spread, rng)[0]
		}
		return z, nil
	}, tj, nil
}

// pickWeighted returns k with probability weights[k]/total.
func pickWeighted(weights []int, total int, rng *rand.Rand) int {
	u := rng.IntN(total)
	for k, w := range weights {
		if u < w {
			return k
		}
		u -= w
	}
	return len(weights) - 1
}

// orList joins words as "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// buildKeywords indexes the training poems by their words for generate
// --theme and stores the index in m. Without the jieba dictionaries the
// model is trained without one, after a warning: the index is worth a
// warning, not a failed start of a long run.
func buildKeywords(c *cli.Context, m *model.Model, poems []poetry.Poem, say func(string, ...any)) {
	if c.Bool("no-keywords") || m.Config.LM { // a language model has no latent space to steer
		m.Keywords, m.Poems = nil, nil
		return
	}
	if m.Keywords != nil { // resumed: the index of the same poems is saved
		return
	}
	start := time.Now()
	ix, err := indexPoems(c.String("jieba-dict"), poems)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "warning: training without a keyword index, so generate --theme will not work with this model: %v (--jieba-dict DIR names the directory; --no-keywords trains without one, silently)\n", err)
		return
	}
	m.Keywords, m.Poems = ix, poems
	say("indexed %s of %s for generate --theme (%s)\n", count(len(ix.Words), "word"), count(len(poems), "poem"), time.Since(start).Round(10*time.Millisecond))
}

func indexPoems(dictDir string, poems []poetry.Poem) (*corpus.Index, error) {
	// Check first, so that missing dictionaries are reported as such
	// rather than as a failure of the first poem.
	dir, err := corpus.DictDir(dictDir)
	if err != nil {
		return nil, err
	}
	seg := corpus.NewSegmenter(dir)
	defer seg.Close() // free the dictionaries before training needs the memory
	return corpus.BuildIndex(poems, seg, corpus.LooksTraditional(poems))
}
