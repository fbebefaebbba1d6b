package main

import (
	"fmt"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"poetvae/model"
	"poetvae/poetry"
)

// Latent maps.

const (
	colorByRhyme   = "rhyme"
	colorByAuthor  = "author"
	colorByDynasty = "dynasty"
)

// mapGroups is how many of the most frequent values get a colour of their
// own; more are hard to tell apart.
const mapGroups = 8

// corpusPoem is a poem of the corpus with where it came from.
type corpusPoem struct {
	poem  poetry.Poem
	file  string
	index int // among all poems read, in order: the metadata row of a file without text column
}

func plotLatent(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("plot latent needs corpus files (one poem per line)")
	}
	out := c.String("output")
	if err := checkPlotOutput(out); err != nil {
		return err
	}
	if err := refuseDirectory("--output", out); err != nil {
		return err
	}
	colorBy := c.String("color-by")
	switch colorBy {
	case colorByRhyme, colorByDynasty:
	case colorByAuthor:
		if c.String("meta") == "" {
			return usageError("--color-by author needs --meta FILE, a TSV file with an author column")
		}
	default:
		return usageError("--color-by %s: want rhyme, author or dynasty", shortQuote(colorBy))
	}
	ends := []string(*c.Generic("path").(*poemArgs))
	if len(ends) != 0 && len(ends) != 2 {
		return usageError(`--path is given twice, once for each end: --path "POEM A" --path "POEM B"`)
	}
	if c.Int("max") < 0 {
		return usageError("--max cannot be negative")
	}
	tf, err := loadTypeface(c, true)
	if err != nil {
		return err
	}
	m, err := loadEncoderModel(c, "it has no latent space to map")
	if err != nil {
		return err
	}
	// The path's poems are read first: a mistake in them is found before
	// the corpus is encoded.
	var path *latentPath
	if len(ends) == 2 {
		if path, err = interpolationPath(c, m, ends); err != nil {
			return err
		}
	}
	all, err := readMapCorpus(c, c.Args().Slice())
	if err != nil {
		return err
	}
	poems := ofModelLines(c, m, all)
	if len(poems) < 2 {
		return fmt.Errorf("the corpus has %s of %d lines: a map needs at least 2", count(len(poems), "poem"), m.Config.Lines)
	}
	if n := c.Int("max"); n > 0 && len(poems) > n {
		// A fixed seed draws the same poems every time, so that maps of
		// one corpus under different models can be compared.
		idx := rand.New(rand.NewPCG(0x706c6f74, 0)).Perm(len(poems))[:n]
		slices.Sort(idx)
		sample := make([]corpusPoem, n)
		for i, j := range idx {
			sample[i] = poems[j]
		}
		poems = sample
	}

	labels, legendTitle, err := mapLabels(c, colorBy, all, poems)
	if err != nil {
		return err
	}
	mu, err := encodeCorpus(m, poems)
	if err != nil {
		return err
	}
	pl := fitPlane(mu)
	if pl.total == 0 {
		fmt.Fprintln(c.App.ErrWriter, "warning: all posterior means are equal (the posterior collapsed): the map is one point")
	}

	modelName := c.String("model")
	if modelName == "" { // as loadModel reads it
		modelName = defaultModel
	}
	title := fmt.Sprintf("%s of %s in the latent space of %s", count(len(poems), "poem"),
		strings.Join(baseNames(c.Args().Slice()), ", "), filepath.Base(modelName))
	err = saveFigure(out, 10*vg.Inch, 8*vg.Inch, func(dc draw.Canvas) {
		drawMap(dc, tf, title, legendTitle, pl, mu, labels, path)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "map of %s written to %s\n", count(len(poems), "poem"), out)
	return nil
}

func baseNames(paths []string) []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// readMapCorpus reads the corpus files one by one to know the file of each
// poem; a poem in several files is kept at its first, as corpus.Read does.
func readMapCorpus(c *cli.Context, files []string) ([]corpusPoem, error) {
	var poems []corpusPoem
	seen := map[string]bool{}
	rejected := 0
	for _, file := range files {
		ps, rep, err := readCorpus(c, file)
		if err != nil {
			return nil, err
		}
		rejected += rep.Rejected()
		for _, p := range ps {
			if seen[p.Text()] {
				continue
			}
			seen[p.Text()] = true
			poems = append(poems, corpusPoem{poem: p, file: file, index: len(poems)})
		}
	}
	if rejected > 0 {
		fmt.Fprintf(c.App.ErrWriter, "skipped %s (see poetvae corpus stats)\n", count(rejected, "malformed line"))
	}
	return poems, nil
}

// mapLabels returns the group of each poem to colour it by, "" where it
// has none, and what the groups are.
func mapLabels(c *cli.Context, colorBy string, all, poems []corpusPoem) ([]string, string, error) {
	labels := make([]string, len(poems))
	if colorBy == colorByRhyme {
		pros, _, err := loadProsody(c, false)
		if err != nil {
			return nil, "", err
		}
		for i, p := range poems {
			labels[i] = rhymeGroup(pros, p.poem)
		}
		return labels, "rhyme of line 2", nil
	}

	var meta *metaTable
	rows := make([]int, len(poems))
	for i := range rows {
		rows[i] = -1
	}
	if path := c.String("meta"); path != "" {
		var err error
		if meta, err = readMetaTable(path); err != nil {
			return nil, "", err
		}
		if colorBy == colorByAuthor && !meta.has("author") {
			return nil, "", fmt.Errorf("%s has no author column", meta.name)
		}
		if rows, err = meta.match(all, poems); err != nil {
			return nil, "", err
		}
		unmatched := 0
		for _, r := range rows {
			if r < 0 {
				unmatched++
			}
		}
		if unmatched > 0 {
			fmt.Fprintf(c.App.ErrWriter, "%d of %d poems have no row in %s\n", unmatched, len(poems), path)
		}
	}

	if colorBy == colorByAuthor {
		col := meta.cols["author"]
		for i, r := range rows {
			if r >= 0 {
				labels[i] = meta.field(r, col)
			}
		}
		return labels, "author", nil
	}

	// Dynasty: from a dynasty column, else from tang or song in the source
	// column, the metadata file's name or the corpus file's name.
	found := false
	for i, p := range poems {
		r := rows[i]
		switch {
		case meta != nil && meta.has("dynasty"):
			if r >= 0 {
				labels[i] = meta.field(r, meta.cols["dynasty"])
			}
		case meta != nil && meta.has("source") && r >= 0 && dynastyOf(meta.field(r, meta.cols["source"])) != "":
			labels[i] = dynastyOf(meta.field(r, meta.cols["source"]))
		case meta != nil && dynastyOf(meta.name) != "":
			labels[i] = dynastyOf(meta.name)
		default:
			labels[i] = dynastyOf(p.file)
		}
		found = found || labels[i] != ""
	}
	if !found {
		return nil, "", usageError("--color-by dynasty: no dynasty column in --meta, and neither its source column nor the file names say tang or song")
	}
	return labels, "dynasty", nil
}

// dynastyOf reads the dynasty from a file name such as poet.tang.0.json or
// tang_train.txt.
func dynastyOf(name string) string {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.Contains(base, "tang"):
		return "唐"
	case strings.Contains(base, "song"):
		return "宋"
	}
	return ""
}

// rhymeGroup is the rhyme group of the last character of line 2: the one
// it shares with line 4 where the character has several readings.
func rhymeGroup(pros *poetry.Prosody, p poetry.Poem) string {
	last := func(i int) rune {
		line := p.Line(i)
		return line[len(line)-1]
	}
	groups := pros.RhymeGroups(last(1))
	if len(groups) == 0 {
		return ""
	}
	if p.NumLines() >= 4 {
		with := pros.RhymeGroups(last(3))
		for _, g := range groups {
			if slices.Contains(with, g) {
				return g
			}
		}
	}
	return groups[0]
}

// metaTable is a tab-separated metadata file.
type metaTable struct {
	name string
	cols map[string]int
	rows [][]string
}

func (t *metaTable) has(col string) bool {
	_, ok := t.cols[col]
	return ok
}

func (t *metaTable) field(row, col int) string {
	if col < len(t.rows[row]) {
		return strings.TrimSpace(t.rows[row][col])
	}
	return ""
}

// importColumns are the columns of the files that poetvae corpus import
// --meta writes, which have no header row.
var importColumns = map[string]int{"author": 0, "title": 1, "source": 2, "text": 3}

func readMetaTable(path string) (*metaTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	t := &metaTable{name: path}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		t.rows = append(t.rows, strings.Split(line, "\t"))
	}
	if len(t.rows) == 0 {
		return nil, fmt.Errorf("metadata file %s is empty", path)
	}
	header := map[string]int{}
	for i, name := range t.rows[0] {
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := header[name]; !dup && name != "" {
			header[name] = i
		}
	}
	named := false
	for _, col := range []string{"author", "text", "text_simplified", "source", "dynasty"} {
		if _, ok := header[col]; ok {
			named = true
		}
	}
	switch {
	case named:
		t.cols, t.rows = header, t.rows[1:]
	case len(t.rows[0]) == len(importColumns):
		t.cols = importColumns
	default:
		return nil, fmt.Errorf("metadata file %s: the first row names no columns: want a header row (author, text, ...)", path)
	}
	return t, nil
}

// match returns the row of each poem, or -1: by the text of the poem in
// the text and text_simplified columns, comparing Han characters only, or
// else by order, row i for the i-th poem of the corpus.
func (t *metaTable) match(all, poems []corpusPoem) ([]int, error) {
	rows := make([]int, len(poems))
	var textCols []int
	for _, name := range []string{"text", "text_simplified"} {
		if col, ok := t.cols[name]; ok {
			textCols = append(textCols, col)
		}
	}
	if len(textCols) == 0 {
		if len(t.rows) != len(all) {
			return nil, fmt.Errorf("metadata file %s has %d rows for %d poems, and no text column to match them by", t.name, len(t.rows), len(all))
		}
		for i, p := range poems {
			rows[i] = p.index
		}
		return rows, nil
	}
	byText := map[string]int{}
	for r := range t.rows {
		for _, col := range textCols {
			p, err := poetry.Parse(t.field(r, col))
			if err != nil {
				continue
			}
			if _, dup := byText[p.Text()]; !dup {
				byText[p.Text()] = r
			}
		}
	}
	for i, p := range poems {
		r, ok := byText[p.poem.Text()]
		if !ok {
			r = -1
		}
		rows[i] = r
	}
	return rows, nil
}

// plane is the plane of the first two principal components of a set of
// points.
type plane struct {
	mean  []float64
	axes  [2][]float64 // nil where the points span fewer dimensions
	share [2]float64   // of the variance, along each axis
	total float64      // variance
}

func fitPlane(rows [][]float64) *plane {
	n, d := len(rows), len(rows[0])
	a := mat.NewDense(n, d, nil)
	pl := &plane{mean: make([]float64, d)}
	for i, r := range rows {
		a.SetRow(i, r)
		for j, v := range r {
			pl.mean[j] += v / float64(n)
		}
	}
	var pc stat.PC
	if !pc.PrincipalComponents(a, nil) {
		return pl
	}
	var vecs mat.Dense
	pc.VectorsTo(&vecs)
	vars := pc.VarsTo(nil)
	for _, v := range vars {
		pl.total += v
	}
	_, k := vecs.Dims()
	for j := range min(2, k) {
		pl.axes[j] = mat.Col(nil, j, &vecs)
		if pl.total > 0 {
			pl.share[j] = vars[j] / pl.total
		}
	}
	return pl
}

func (pl *plane) project(z []float64) plotter.XY {
	var xy [2]float64
	for k, axis := range pl.axes {
		for j, v := range axis {
			xy[k] += (z[j] - pl.mean[j]) * v
		}
	}
	return plotter.XY{X: xy[0], Y: xy[1]}
}

func (pl *plane) axisLabel(k int) string {
	if pl.total == 0 {
		return fmt.Sprintf("PC%d", k+1)
	}
	return fmt.Sprintf("PC%d (%.0f%% of the variance)", k+1, 100*pl.share[k])
}

// latentPath is the straight line between two poems' posterior means.
type latentPath struct {
	z      [][]float64
	labels []string // the first line each point decodes to; "" where it repeats the last
}

// pathPoints is the number of points drawn on a path, ends included.
const pathPoints = 9

func interpolationPath(c *cli.Context, m *model.Model, ends []string) (*latentPath, error) {
	poems, err := parsePoems(c, m, ends)
	if err != nil {
		return nil, prefixError("--path", err)
	}
	mu, _, err := m.Encode(poems)
	if err != nil {
		return nil, err
	}
	lp := &latentPath{}
	for i := range pathPoints {
		lp.z = append(lp.z, model.Lerp(mu[0], mu[1], float64(i)/(pathPoints-1)))
	}
	decoded, err := m.Decode(lp.z, model.DecodeOptions{Lines: m.Config.Lines, Greedy: true}, nil)
	if err != nil {
		return nil, err
	}
	prev := ""
	for i, p := range decoded {
		first := string(p.Line(0))
		label := ""
		switch {
		case i == 0:
			label = "A " + first
		case i == len(decoded)-1:
			label = "B " + first
		case first != prev:
			label = first
		}
		lp.labels = append(lp.labels, label)
		prev = first
	}
	return lp, nil
}

// mapGroup is the poems of one colour.
type mapGroup struct {
	name string
	xys  plotter.XYs
}

// groupPoints sorts the points by label into the mapGroups most frequent
// groups, most frequent first, and the rest.
func groupPoints(xys plotter.XYs, labels []string) (groups []mapGroup, other plotter.XYs) {
	count := map[string]int{}
	for _, l := range labels {
		if l != "" {
			count[l]++
		}
	}
	names := sortedKeys(count)
	slices.SortStableFunc(names, func(a, b string) int { return count[b] - count[a] })
	names = names[:min(mapGroups, len(names))]
	index := map[string]int{}
	for i, name := range names {
		index[name] = i
		groups = append(groups, mapGroup{name: name})
	}
	for i, l := range labels {
		if g, ok := index[l]; ok {
			groups[g].xys = append(groups[g].xys, xys[i])
		} else {
			other = append(other, xys[i])
		}
	}
	return groups, other
}

func drawMap(dc draw.Canvas, tf typeface, title, legendTitle string, pl *plane, mu [][]float64, labels []string, path *latentPath) {
	dc = tf.heading(dc, title)
	p := tf.newPlot("")
	p.X.Label.Text, p.Y.Label.Text = pl.axisLabel(0), pl.axisLabel(1)
	p.Add(plotter.NewGrid())

	xys := make(plotter.XYs, len(mu))
	for i, z := range mu {
		xys[i] = pl.project(z)
	}
	groups, other := groupPoints(xys, labels)
	legend := tf.newLegend(legendTitle)
	dot := func(xy plotter.XYs, c color.Color) *plotter.Scatter {
		s, _ := plotter.NewScatter(xy)
		s.Color, s.Shape, s.Radius = c, draw.CircleGlyph{}, vg.Points(1.8)
		return s
	}
	// Grey first, under the colours; then the largest groups, so that the
	// smaller ones stay visible on top.
	var otherDots *plotter.Scatter
	if len(other) > 0 {
		otherDots = dot(other, otherColor)
		p.Add(otherDots)
	}
	for i, g := range groups {
		s := dot(g.xys, groupColors[i])
		p.Add(s)
		legend.add(fmt.Sprintf("%s (%s)", g.name, num(len(g.xys))), s)
	}
	if otherDots != nil {
		legend.add(fmt.Sprintf("other (%s)", num(len(other))), otherDots)
	}

	if path != nil {
		pts := make(plotter.XYs, len(path.z))
		for i, z := range path.z {
			pts[i] = pl.project(z)
		}
		line, points, _ := plotter.NewLinePoints(pts)
		line.Color, line.Width = color.Black, vg.Points(1.2)
		points.Shape, points.Radius = draw.CircleGlyph{}, vg.Points(3)
		points.Color = color.Black
		p.Add(line, points, &pointLabels{xys: pts, labels: path.labels, style: tf.style(10)})
		legend.add("path from A to B", line, points)
	}

	width := legend.width()
	mapC := draw.Crop(dc, 0, -width, 0, 0)
	p.Draw(mapC)
	legend.draw(dc, p.DataCanvas(mapC), width)
}

// pointLabels writes text beside points, alternately right and left so
// that labels of close points overlap less, on a translucent white ground
// that keeps them legible over the scatter.
type pointLabels struct {
	xys    plotter.XYs
	labels []string
	style  text.Style
}

// labelStyle places label i at offset from its point.
func (l *pointLabels) labelStyle(i int) (text.Style, vg.Point) {
	sty := l.style
	sty.YAlign = draw.YCenter
	gap := vg.Points(6)
	if i%2 == 0 {
		sty.XAlign = draw.XLeft
		return sty, vg.Point{X: gap}
	}
	sty.XAlign = draw.XRight
	return sty, vg.Point{X: -gap}
}

func (l *pointLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, s := range l.labels {
		if s == "" {
			continue
		}
		sty, off := l.labelStyle(i)
		pt := vg.Point{X: trX(l.xys[i].X), Y: trY(l.xys[i].Y)}.Add(off)
		box := sty.Rectangle(s).Add(pt)
		pad := vg.Points(1.5)
		box.Min.X, box.Min.Y, box.Max.X, box.Max.Y = box.Min.X-pad, box.Min.Y-pad, box.Max.X+pad, box.Max.Y+pad
		c.SetColor(color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xd0})
		c.Fill(box.Path())
		c.FillText(sty, pt, s)
	}
}

// GlyphBoxes makes the axes leave room for the labels.
func (l *pointLabels) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	var boxes []plot.GlyphBox
	for i, s := range l.labels {
		if s == "" {
			continue
		}
		sty, off := l.labelStyle(i)
		boxes = append(boxes, plot.GlyphBox{X: p.X.Norm(l.xys[i].X), Y: p.Y.Norm(l.xys[i].Y),
			Rectangle: sty.Rectangle(s).Add(off)})
	}
	return boxes
}

// DataRange makes the axes span the path.
func (l *pointLabels) DataRange() (xmin, xmax, ymin, ymax float64) {
	return plotter.XYRange(l.xys)
}

// ofModelLines keeps the poems of a corpus that have the model's line
// count, and says on stderr how many it left out.
func ofModelLines(c *cli.Context, m *model.Model, all []corpusPoem) []corpusPoem {
	var poems []corpusPoem
	for _, p := range all {
		if p.poem.NumLines() == m.Config.Lines {
			poems = append(poems, p)
		}
	}
	if n := len(all) - len(poems); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "left out %s of other line counts than the model's %d\n", count(n, "poem"), m.Config.Lines)
	}
	return poems
}

// encodeCorpus returns the posterior means of a corpus's poems.
func encodeCorpus(m *model.Model, poems []corpusPoem) ([][]float64, error) {
	batch := make([]poetry.Poem, len(poems))
	for i, p := range poems {
		batch[i] = p.poem
	}
	mu, _, err := m.Encode(batch)
	return mu, err
}
