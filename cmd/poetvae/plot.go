package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/font/liberation"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
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
