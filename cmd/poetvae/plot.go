package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/font/liberation"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

func plotCommand() *cli.Command {
	return &cli.Command{
		Name:  "plot",
		Usage: "draw training curves and maps of the latent space (PNG or SVG)",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand(c)
			}
			return cli.ShowSubcommandHelp(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "curves",
				Usage:     "plot loss, KL, β and validation perplexity of a training run",
				ArgsUsage: "NAME.metrics.jsonl",
				Description: `Reads the metrics log that poetvae train writes next to the model and
draws four panels against the training step: the training loss (faint, and
its moving average) with the validation ELBO; the training and validation
KL; β, the weight of the KL term; and the validation perplexity per token.

Example:
   poetvae plot curves -o curves.png poetvae.metrics.jsonl`,
				Flags: []cli.Flag{
					plotOutputFlag("curves.png"),
					&cli.IntFlag{Name: "smooth", DefaultText: "a twentieth of the run", Usage: "moving-average window over the logged steps, 1 for none"},
					plotFontFlag(),
				},
				Action: plotCurves,
			},
			{
				Name:      "latent",
				Usage:     "map the poems of a corpus in the latent space",
				ArgsUsage: "CORPUS...",
				Description: `Encodes the poems to their posterior means, projects them onto the first
two principal components and scatters them, coloured by the rhyme group
of the last character of line 2 (the 8 most frequent groups; the rest in
grey), or by the author or dynasty in a metadata file. Poems of another
line count than the model's are left out; of large corpora, --max poems
are drawn (the same ones every time).

--meta names a TSV file with a header row naming its columns and one row
per poem. Rows are matched to poems by their text or text_simplified
column, or else taken in corpus order. A file without a header row is read
as poetvae corpus import --meta writes it: author, title, source, text.
--color-by author needs an author column; --color-by dynasty takes a
dynasty column, or else finds tang or song in the source column or in the
file names.

--path, given twice, also draws the straight line between two poems'
posterior means: 9 points, each labelled with the first line of the poem
it decodes to (greedily, where that line changes).

Examples:
   poetvae plot latent --model poetvae.ckpt -o map.png tang_valid.txt
   poetvae plot latent --meta tang_meta.tsv --color-by author -o authors.svg tang_valid.txt
   poetvae plot latent --color-by dynasty -o dynasty.png tang_valid.txt song_valid.txt
   poetvae plot latent -o path.png \
      --path "床前明月光，疑是地上霜。举头望明月，低头思故乡。" \
      --path "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。" corpus.txt`,
				Flags: []cli.Flag{
					modelFlag(),
					plotOutputFlag("map.png"),
					&cli.StringFlag{Name: "meta", Usage: "metadata `FILE` (TSV, one row per poem) for --color-by author or dynasty"},
					&cli.StringFlag{Name: "color-by", Value: colorByRhyme, Usage: "what the colours show: rhyme, author or dynasty"},
					rhymeTableFlag(),
					&cli.GenericFlag{Name: "path", Value: &poemArgs{}, Usage: "draw the path between two poems: give `POEM` twice"},
					&cli.IntFlag{Name: "max", Value: 3000, Usage: "poems to draw at most (0: all)"},
					strictFlag(),
					plotFontFlag(),
				},
				Action: plotLatent,
			},
		},
	}
}

func plotOutputFlag(def string) cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: def, Usage: "image to write: `FILE`.png or FILE.svg"}
}

// poemArgs collects every value of a repeated flag whole; a string slice
// flag would split a poem written with ASCII commas.
type poemArgs []string

func (p *poemArgs) Set(s string) error {
	*p = append(*p, s)
	return nil
}

func (p *poemArgs) String() string { return strings.Join(*p, " ") }

// Figures.

// plotDPI is the resolution of PNG figures: sharp on a screen and in print.
const plotDPI = 150

// checkPlotOutput reports whether the extension of path names a format the
// figures can be written in.
func checkPlotOutput(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg":
		return nil
	}
	return usageError("--output %q: want a .png or .svg file", path)
}

// saveFigure paints a w×h figure and writes it to path as PNG or SVG, by
// the extension, replacing the file only once the image is complete.
func saveFigure(path string, w, h vg.Length, paint func(draw.Canvas)) (err error) {
	var cw vg.CanvasWriterTo
	if strings.EqualFold(filepath.Ext(path), ".svg") {
		cw = vgsvg.New(w, h)
	} else {
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotDPI))}
	}
	// gonum/plot reports some failures, such as a glyph a damaged font
	// cannot give, by panicking.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing %s: %v", path, r)
		}
	}()
	dc := draw.New(cw)
	// Tiled plots leave gaps between them, transparent in SVG.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	paint(dc)

	f, err := createAtomic(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer f.abort()
	if err := f.f.Chmod(0o644); err != nil { // CreateTemp makes 0600; a figure is no secret
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := cw.WriteTo(f.w); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.commit()
}

// Fonts.

const fontEnv = "POETVAE_FONT"

func plotFontFlag() cli.Flag {
	return &cli.StringFlag{Name: "font", EnvVars: []string{fontEnv},
		Usage: "TrueType or OpenType font `FILE` (.ttf, .otf) with Chinese characters to set the text in (default: fonts-droid-fallback's)"}
}

// cjkFontPaths are where packages install fonts with Chinese characters
// that golang.org/x/image/font/sfnt reads, in order of preference: that of
// fonts-droid-fallback, which make deps installs. The font collections
// (.ttc) of fonts-wqy-microhei, fonts-wqy-zenhei and fonts-arphic-uming
// cannot serve: sfnt rejects their unaligned tables.
var cjkFontPaths = []string{
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
}

var errNoCJKFont = errors.New("no CJK font found: install fonts-droid-fallback (make deps) or pass --font FILE")

// cjkProbe are characters a font must have to set poems, simplified and
// traditional, and the names of rhyme groups.
const cjkProbe = "诗詩韵韻"

// typeface is what all the text of a figure is set in. Every figure gets
// its own text handler instead of changing gonum/plot's package-level
// defaults, so figures share no state.
type typeface struct {
	font    font.Font // the first face of handler; its size is set per text
	handler text.Handler
}

// latinFont is gonum/plot's built-in Liberation Sans. It sets what a CJK
// font lacks (Droid Sans Fallback has no Latin letters at all), and all the
// text where no CJK font is needed or installed.
var latinFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// loadTypeface returns the typeface named by --font or POETVAE_FONT, or
// else the first CJK font of cjkFontPaths that loads, with Liberation Sans
// for the characters it lacks. A figure with Latin text only (cjk false)
// is set in Liberation Sans alone when no CJK font is installed, so that
// training curves can be drawn anywhere.
func loadTypeface(c *cli.Context, cjk bool) (typeface, error) {
	var face *opentype.Font
	if path := c.String("font"); path != "" {
		f, err := loadFont(path, cjk)
		if err != nil {
			return typeface{}, err
		}
		face = f
	} else {
		for _, path := range cjkFontPaths {
			if f, err := loadFont(path, true); err == nil {
				face = f
				break
			}
		}
	}
	coll := font.Collection{}
	var faces []font.Font
	if face != nil {
		cjkFont := font.Font{Typeface: "poetvae"}
		coll = append(coll, font.Face{Font: cjkFont, Face: face})
		faces = append(faces, cjkFont)
	} else if cjk {
		return typeface{}, errNoCJKFont
	}
	coll = append(coll, liberation.Collection()...)
	faces = append(faces, latinFont)
	h := &fallbackText{fonts: font.NewCache(coll), faces: faces}
	return typeface{font: faces[0], handler: h}, nil
}

// loadFont reads a TrueType or OpenType font and with cjk checks that it
// has Chinese characters.
func loadFont(path string, cjk bool) (*opentype.Font, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("font: %w", err)
	}
	if bytes.HasPrefix(data, []byte("ttcf")) {
		return nil, fmt.Errorf("font %s is a font collection (.ttc): pass a single font (.ttf or .otf) instead", path)
	}
	f, err := opentype.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("font %s: not a TrueType or OpenType font: %v", path, err)
	}
	if cjk {
		var buf sfnt.Buffer
		for _, r := range cjkProbe {
			if i, err := f.GlyphIndex(&buf, r); err != nil || i == 0 {
				return nil, fmt.Errorf("font %s has no Chinese characters (no %c): pass a CJK font with --font", path, r)
			}
		}
	}
	return f, nil
}

// fallbackText is a text handler like text.Plain that sets each character
// in the first of its faces that has it.
type fallbackText struct {
	fonts *font.Cache
	faces []font.Font // in order of preference; their sizes are ignored
}

// textRun is a stretch of text set in one face.
type textRun struct {
	face font.Face
	s    string
}

func (h *fallbackText) Cache() *font.Cache { return h.fonts }

func (h *fallbackText) Lines(txt string) []string { return text.Plain{}.Lines(txt) }

// lookup returns face i at the size, style and weight of fnt.
func (h *fallbackText) lookup(fnt font.Font, i int) font.Face {
	f := fnt
	f.Typeface, f.Variant = h.faces[i].Typeface, h.faces[i].Variant
	return h.fonts.Lookup(f, fnt.Size)
}

// runs cuts a line of text into runs of one face each. A character goes on
// in the face of the run before it if that has it, so that spaces and
// digits do not break runs, else in the first face that has it; one that no
// face has is left to the first, which draws its "missing" glyph.
func (h *fallbackText) runs(line string, fnt font.Font) []textRun {
	faces := make([]font.Face, len(h.faces))
	for i := range faces {
		faces[i] = h.lookup(fnt, i)
	}
	var buf sfnt.Buffer
	has := func(i int, r rune) bool {
		idx, err := faces[i].Face.GlyphIndex(&buf, r)
		return err == nil && idx != 0
	}
	var runs []textRun
	start, cur := 0, -1
	for j, r := range line {
		pick := cur
		if cur < 0 || !has(cur, r) {
			pick = 0
			for i := range faces {
				if has(i, r) {
					pick = i
					break
				}
			}
		}
		if pick != cur {
			if cur >= 0 {
				runs = append(runs, textRun{faces[cur], line[start:j]})
			}
			start, cur = j, pick
		}
	}
	if cur >= 0 {
		runs = append(runs, textRun{faces[cur], line[start:]})
	}
	return runs
}

// Extents are those of the tallest face, so that lines mixing faces fit.
func (h *fallbackText) Extents(fnt font.Font) font.Extents {
	var e font.Extents
	for i := range h.faces {
		f := h.lookup(fnt, i)
		x := f.Extents()
		e.Ascent, e.Descent, e.Height = max(e.Ascent, x.Ascent), max(e.Descent, x.Descent), max(e.Height, x.Height)
	}
	return e
}

func (h *fallbackText) width(line string, fnt font.Font) vg.Length {
	var w vg.Length
	for _, r := range h.runs(line, fnt) {
		w += r.face.Width(r.s)
	}
	return w
}

func (h *fallbackText) Box(txt string, fnt font.Font) (width, height, depth vg.Length) {
	e := h.Extents(fnt)
	return h.width(txt, fnt), e.Ascent, e.Descent
}

// Draw places the text as text.Plain does, run after run.
func (h *fallbackText) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	txt = strings.TrimRight(txt, "\n")
	if txt == "" {
		return
	}
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		defer c.Pop()
		c.Rotate(sty.Rotation)
	}
	sin64, cos64 := math.Sincos(sty.Rotation)
	sin, cos := vg.Length(sin64), vg.Length(cos64)
	pt.X, pt.Y = pt.Y*sin+pt.X*cos, pt.Y*cos-pt.X*sin

	lines := h.Lines(txt)
	pt.Y += sty.Height(txt)*vg.Length(sty.YAlign) - h.Extents(sty.Font).Ascent
	for i, line := range lines {
		at := pt.Add(vg.Point{X: vg.Length(sty.XAlign) * h.width(line, sty.Font), Y: vg.Length(len(lines)-i) * sty.Font.Size})
		for _, r := range h.runs(line, sty.Font) {
			c.FillString(r.face, at, r.s)
			at.X += r.face.Width(r.s)
		}
	}
}

func (tf typeface) style(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(tf.font, size), Handler: tf.handler}
}

// newPlot returns a plot whose text is all set in tf.
func (tf typeface) newPlot(title string) *plot.Plot {
	p := plot.New()
	p.TextHandler = tf.handler
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font = font.From(tf.font, s.Font.Size)
		s.Handler = tf.handler
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = plainTicks{}, plainTicks{}
	p.Title.Text = title
	return p
}

// sideLegend is a legend drawn in a column beside its plot, where it hides
// no data.
type sideLegend struct {
	plot.Legend
	title string
	names []string
}

func (tf typeface) newLegend(title string) *sideLegend {
	l := &sideLegend{Legend: plot.NewLegend(), title: title}
	l.TextStyle = tf.style(10)
	l.Top, l.Left = true, true
	return l
}

func (l *sideLegend) add(name string, thumbs ...plot.Thumbnailer) {
	l.Add(name, thumbs...)
	l.names = append(l.names, name)
}

// width is that of the legend's column, margins included.
func (l *sideLegend) width() vg.Length {
	if len(l.names) == 0 {
		return 0
	}
	w := l.TextStyle.Width(l.title)
	for _, name := range l.names {
		w = max(w, l.ThumbnailWidth+l.TextStyle.Width(" "+name))
	}
	return w + 2*legendMargin
}

// legendMargin separates a legend from its plot and from the edge.
const legendMargin = 10 // points

// draw draws the legend into a column at the right of c, from the top of
// data, the plot's data area, down.
func (l *sideLegend) draw(c, data draw.Canvas, width vg.Length) {
	if len(l.names) == 0 {
		return
	}
	c.Min.X = c.Max.X - width + legendMargin
	c.Max.Y = data.Max.Y
	if l.title != "" {
		head := l.TextStyle
		head.YAlign = draw.YTop
		c.FillText(head, vg.Point{X: c.Min.X, Y: c.Max.Y}, l.title)
		c.Max.Y -= head.Height(l.title) + vg.Points(6)
	}
	l.Draw(c)
}

// plainTicks are gonum/plot's default ticks with labels of their own:
// gonum/plot's read "1.4e+02" three times over a range from 142.77 to
// 142.82, and "175.00" where "175" will do. All labels of an axis get the
// fewest decimals that write each tick's value exactly; whole makes them
// whole numbers with thousands separators, as training steps are.
type plainTicks struct{ whole bool }

func (pt plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	var values []float64
	for _, t := range ticks {
		if t.Label != "" {
			values = append(values, t.Value)
		}
	}
	if len(values) == 0 {
		return ticks
	}
	// Tick values are multiples of their spacing, up to floating-point
	// noise far below it.
	spacing := math.Abs(values[0])
	for i := 1; i < len(values); i++ {
		spacing = math.Min(spacing, values[i]-values[i-1])
	}
	if spacing == 0 {
		spacing = 1
	}
	decimals := 0
	for ; decimals < 15; decimals++ {
		exact := true
		for _, v := range values {
			w, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', decimals, 64), 64)
			exact = exact && math.Abs(w-v) <= 1e-6*spacing
		}
		if exact {
			break
		}
	}
	for i, t := range ticks {
		switch {
		case t.Label == "":
		case pt.whole && math.Abs(t.Value-math.Round(t.Value)) <= 1e-6*spacing:
			ticks[i].Label = num(int(math.Round(t.Value)))
		case pt.whole:
			ticks[i].Label = ""
		default:
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', decimals, 64)
		}
	}
	return ticks
}

// heading draws a figure's title at the top of c and returns the rest.
func (tf typeface) heading(c draw.Canvas, title string) draw.Canvas {
	sty := tf.style(14)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	pad := vg.Points(8)
	c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y - pad}, title)
	c.Max.Y -= sty.Height(title) + 2*pad
	return c
}

// Colours: lines of training and validation figures, and the groups of a map.
var (
	trainColor    = color.NRGBA{R: 0x4e, G: 0x79, B: 0xa7, A: 0xff}
	trainRawColor = color.NRGBA{R: 0x4e, G: 0x79, B: 0xa7, A: 0x50}
	validColor    = color.NRGBA{R: 0xe1, G: 0x57, B: 0x59, A: 0xff}
	otherColor    = color.NRGBA{R: 0xb0, G: 0xb0, B: 0xb0, A: 0xa0}

	// groupColors are Tableau 10's without its grey, which marks the
	// other poems.
	groupColors = []color.NRGBA{
		{R: 0x4e, G: 0x79, B: 0xa7, A: 0xc0},
		{R: 0xf2, G: 0x8e, B: 0x2b, A: 0xc0},
		{R: 0xe1, G: 0x57, B: 0x59, A: 0xc0},
		{R: 0x76, G: 0xb7, B: 0xb2, A: 0xc0},
		{R: 0x59, G: 0xa1, B: 0x4f, A: 0xc0},
		{R: 0xed, G: 0xc9, B: 0x48, A: 0xc0},
		{R: 0xb0, G: 0x7a, B: 0xa1, A: 0xc0},
		{R: 0x9c, G: 0x75, B: 0x5f, A: 0xc0},
	}
)

// Training curves.

// metricsRecord is one line of the metrics log (see model.Trainer). Step
// and Epoch are pointers to tell a missing field from 0.
type metricsRecord struct {
	Kind      string            `json:"kind"`
	Step      *int              `json:"step"`
	Epoch     *int              `json:"epoch"`
	Loss      float64           `json:"loss"`
	KL        float64           `json:"kl"`
	Beta      float64           `json:"beta"`
	TrainLoss float64           `json:"train_loss"`
	TrainKL   float64           `json:"train_kl"`
	Valid     *model.ValidStats `json:"valid"`
}

// trainPoint is the training figures at a step: those of the step, or the
// averages over an epoch.
type trainPoint struct {
	step           int
	loss, kl, beta float64
}

type validPoint struct {
	step  int
	stats model.ValidStats
}

// runCurves are the series of a training run, in step order.
type runCurves struct {
	steps  []trainPoint // from step records
	epochs []trainPoint // from epoch records
	valid  []validPoint // of epochs that had validation poems
}

// readRunCurves reads a metrics log. A step or epoch logged twice, as after
// resuming from a checkpoint older than the log, counts at its last record.
func readRunCurves(path string) (*runCurves, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	steps, epochs := map[int]trainPoint{}, map[int]trainPoint{}
	valid := map[int]validPoint{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec metricsRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a metrics record: %v", path, n, err)
		}
		switch rec.Kind {
		case "step":
			if rec.Step == nil {
				return nil, fmt.Errorf("%s:%d: step record without \"step\"", path, n)
			}
			steps[*rec.Step] = trainPoint{*rec.Step, rec.Loss, rec.KL, rec.Beta}
		case "epoch":
			if rec.Step == nil || rec.Epoch == nil {
				return nil, fmt.Errorf("%s:%d: epoch record without \"step\" or \"epoch\"", path, n)
			}
			epochs[*rec.Epoch] = trainPoint{*rec.Step, rec.TrainLoss, rec.TrainKL, rec.Beta}
			if rec.Valid != nil && rec.Valid.Poems > 0 {
				valid[*rec.Epoch] = validPoint{*rec.Step, *rec.Valid}
			} else {
				delete(valid, *rec.Epoch)
			}
		case "":
			return nil, fmt.Errorf("%s:%d: record without \"kind\"", path, n)
		default:
			// Kinds this version does not draw are skipped, so that the
			// logs of newer versions still plot.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(steps) == 0 && len(epochs) == 0 {
		return nil, fmt.Errorf("%s holds no step or epoch records: want the NAME.metrics.jsonl that poetvae train writes", path)
	}
	// Steps, and epochs with them, only grow.
	r := &runCurves{}
	for _, k := range sortedKeys(steps) {
		r.steps = append(r.steps, steps[k])
	}
	for _, k := range sortedKeys(epochs) {
		r.epochs = append(r.epochs, epochs[k])
	}
	for _, k := range sortedKeys(valid) {
		r.valid = append(r.valid, valid[k])
	}
	return r, nil
}

// movingAverage smooths ys over centred windows of w values, narrower at
// the ends, so that the curve does not lag behind the steps.
func movingAverage(ys []float64, w int) []float64 {
	sum := make([]float64, len(ys)+1)
	for i, y := range ys {
		sum[i+1] = sum[i] + y
	}
	out := make([]float64, len(ys))
	for i := range ys {
		lo, hi := max(0, i-(w-1)/2), min(len(ys), i+w/2+1)
		out[i] = (sum[hi] - sum[lo]) / float64(hi-lo)
	}
	return out
}

func plotCurves(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("plot curves needs one metrics file, the NAME.metrics.jsonl that poetvae train writes")
	}
	out := c.String("output")
	if err := checkPlotOutput(out); err != nil {
		return err
	}
	if c.Int("smooth") < 0 {
		return usageError("--smooth cannot be negative")
	}
	tf, err := loadTypeface(c, false)
	if err != nil {
		return err
	}
	path := c.Args().First()
	r, err := readRunCurves(path)
	if err != nil {
		return err
	}
	panels := r.panels(tf, c.Int("smooth"))
	err = saveFigure(out, 10*vg.Inch, 10*vg.Inch, func(dc draw.Canvas) {
		dc = tf.heading(dc, "Training run "+filepath.Base(path))
		// One legend column for all panels keeps their step axes aligned.
		width := vg.Length(0)
		grid := make([][]*plot.Plot, len(panels))
		for i, p := range panels {
			grid[i] = []*plot.Plot{p.plot}
			width = max(width, p.legend.width())
		}
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(16),
			PadLeft: vg.Points(8), PadRight: vg.Points(8), PadBottom: vg.Points(8)}
		canvases := plot.Align(grid, tiles, draw.Crop(dc, 0, -width, 0, 0))
		for i, p := range panels {
			p.plot.Draw(canvases[i][0])
			p.legend.draw(dc, p.plot.DataCanvas(canvases[i][0]), width)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "curves of %s written to %s\n", path, out)
	return nil
}

// curvesPanel is a plot of the curves with its legend.
type curvesPanel struct {
	plot   *plot.Plot
	legend *sideLegend
}

// panels returns the four panels of the curves, on one step axis.
func (r *runCurves) panels(tf typeface, smooth int) []curvesPanel {
	// Runs shorter than a few logging intervals have too few step records
	// to draw lines; the epoch averages stand in for them.
	train, what := r.steps, "logged step"
	if len(train) < 2 && len(r.epochs) > len(train) {
		train, what = r.epochs, "epoch"
	}
	if smooth == 0 {
		// Windows of a few points smooth little and hide a short run's
		// ups and downs.
		if smooth = len(train) / 20; smooth < 3 {
			smooth = 1
		}
	}
	series := func(ys func(trainPoint) float64) plotter.XYs {
		xy := make(plotter.XYs, len(train))
		for i, p := range train {
			xy[i] = plotter.XY{X: float64(p.step), Y: ys(p)}
		}
		return xy
	}
	validSeries := func(ys func(model.ValidStats) float64) plotter.XYs {
		xy := make(plotter.XYs, len(r.valid))
		for i, v := range r.valid {
			xy[i] = plotter.XY{X: float64(v.step), Y: ys(v.stats)}
		}
		return xy
	}
	lastStep := 0.0
	if len(train) > 0 {
		lastStep = float64(train[len(train)-1].step)
	}
	if len(r.valid) > 0 {
		lastStep = max(lastStep, float64(r.valid[len(r.valid)-1].step))
	}

	// line draws xy in a panel with a legend entry; a line through one
	// point would not show, so that point gets a dot.
	line := func(p curvesPanel, name string, xy plotter.XYs, c color.Color, width vg.Length) {
		l, _ := plotter.NewLine(xy)
		l.Color, l.Width = c, width
		p.plot.Add(l)
		if len(xy) > 1 {
			p.legend.add(name, l)
			return
		}
		dot, _ := plotter.NewScatter(xy)
		dot.Color, dot.Shape, dot.Radius = c, draw.CircleGlyph{}, vg.Points(2.5)
		p.plot.Add(dot)
		p.legend.add(name, l, dot)
	}
	// addTrain draws a training series faintly and its moving average over it.
	addTrain := func(p curvesPanel, name string, xy plotter.XYs) {
		if len(xy) == 0 {
			return
		}
		if smooth <= 1 || len(xy) == 1 {
			line(p, name+" (per "+what+")", xy, trainColor, vg.Points(1.2))
			return
		}
		ys := make([]float64, len(xy))
		for i := range xy {
			ys[i] = xy[i].Y
		}
		sm := make(plotter.XYs, len(xy))
		for i, y := range movingAverage(ys, smooth) {
			sm[i] = plotter.XY{X: xy[i].X, Y: y}
		}
		line(p, name+" (per "+what+")", xy, trainRawColor, vg.Points(0.6))
		line(p, fmt.Sprintf("%s, moving average of %d", name, smooth), sm, trainColor, vg.Points(1.5))
	}
	addValid := func(p curvesPanel, name string, xy plotter.XYs) {
		if len(xy) == 0 {
			return
		}
		l, s, _ := plotter.NewLinePoints(xy)
		l.Color, l.Width = validColor, vg.Points(1.2)
		s.Color, s.Shape, s.Radius = validColor, draw.CircleGlyph{}, vg.Points(2.5)
		p.plot.Add(l, s)
		p.legend.add(name, l, s)
	}

	panel := func(title string) curvesPanel {
		return curvesPanel{tf.newPlot(title), tf.newLegend("")}
	}
	loss := panel("Loss (nats per poem)")
	addTrain(loss, "training loss", series(func(p trainPoint) float64 { return p.loss }))
	addValid(loss, "validation ELBO (NLL + KL)", validSeries(func(v model.ValidStats) float64 { return v.ELBO }))

	kl := panel("KL divergence (nats per poem)")
	addTrain(kl, "training KL", series(func(p trainPoint) float64 { return p.kl }))
	addValid(kl, "validation KL", validSeries(func(v model.ValidStats) float64 { return v.KL }))

	beta := panel("β, the weight of the KL term")
	if xy := series(func(p trainPoint) float64 { return p.beta }); len(xy) > 0 {
		line(beta, "β (per "+what+")", xy, trainColor, vg.Points(1.5))
	}
	beta.plot.Y.Min, beta.plot.Y.Max = 0, max(1, beta.plot.Y.Max)

	ppl := panel("Validation perplexity (per token)")
	if len(r.valid) == 0 {
		ppl.plot.Title.Text += ": no validation records"
	}
	addValid(ppl, "validation ELBO perplexity", validSeries(func(v model.ValidStats) float64 { return v.PPL }))

	panels := []curvesPanel{loss, kl, beta, ppl}
	for _, p := range panels {
		p.plot.X.Min, p.plot.X.Max = 0, lastStep
		p.plot.X.Tick.Marker = plainTicks{whole: true}
		p.plot.Add(plotter.NewGrid())
	}
	ppl.plot.X.Label.Text = "step"
	return panels
}

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
	colorBy := c.String("color-by")
	switch colorBy {
	case colorByRhyme, colorByDynasty:
	case colorByAuthor:
		if c.String("meta") == "" {
			return usageError("--color-by author needs --meta FILE, a TSV file with an author column")
		}
	default:
		return usageError("--color-by %q: want rhyme, author or dynasty", colorBy)
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
	m, err := loadModel(c)
	if err != nil {
		return err
	}
	if m.Config.LM {
		return errors.New("the model is a language model without an encoder: it has no latent space to map")
	}
	all, err := readMapCorpus(c, c.Args().Slice())
	if err != nil {
		return err
	}
	var poems []corpusPoem
	for _, p := range all {
		if p.poem.NumLines() == m.Config.Lines {
			poems = append(poems, p)
		}
	}
	if n := len(all) - len(poems); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "left out %d poems of other line counts than the model's %d\n", n, m.Config.Lines)
	}
	if len(poems) < 2 {
		return fmt.Errorf("the corpus has %d poems of %d lines: a map needs at least 2", len(poems), m.Config.Lines)
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
	batch := make([]poetry.Poem, len(poems))
	for i, p := range poems {
		batch[i] = p.poem
	}
	mu, _, err := m.Encode(batch)
	if err != nil {
		return err
	}
	pl := fitPlane(mu)
	if pl.total == 0 {
		fmt.Fprintln(c.App.ErrWriter, "warning: all posterior means are equal (the posterior collapsed): the map is one point")
	}

	var path *latentPath
	if len(ends) == 2 {
		if path, err = interpolationPath(c, m, ends); err != nil {
			return err
		}
	}

	modelName := c.String("model")
	if modelName == "" { // as loadModel reads it
		modelName = defaultModel
	}
	title := fmt.Sprintf("%s poems of %s in the latent space of %s", num(len(poems)),
		strings.Join(baseNames(c.Args().Slice()), ", "), filepath.Base(modelName))
	err = saveFigure(out, 10*vg.Inch, 8*vg.Inch, func(dc draw.Canvas) {
		drawMap(dc, tf, title, legendTitle, pl, mu, labels, path)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "map of %s poems written to %s\n", num(len(poems)), out)
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
		ps, rep, err := corpus.Read(file)
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
		fmt.Fprintf(c.App.ErrWriter, "skipped %d malformed lines (see poetvae corpus stats)\n", rejected)
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
		return nil, err
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
