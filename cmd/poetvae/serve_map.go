package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"poetvae/model"
	"poetvae/poetry"
)

// The map of serve: a corpus encoded to its posterior means, projected on
// their first two principal components as plot latent draws them, with the
// principal directions for the Explore view and the groups of the
// colourings for its directions between groups.

// exploreAxes is how many principal directions the map offers to explore.
const exploreAxes = 8

// atlas is the encoded corpus of the map. Its poems and colourings are
// read before the server starts; the codes, which take a while for a large
// corpus, are computed while it already serves the other views (encode),
// and read only after ready is closed.
type atlas struct {
	source    string
	poems     []poetry.Poem
	colorings []coloring

	ready   chan struct{} // closed when the fields below are set
	started time.Time
	err     error // of encoding
	mu      [][]float64
	x, y    []float64
	mean    []float64
	axes    []pcAxis
	body    rawJSON // the answer of /api/map, encoded once
}

// mapNotReady is the answer to a call that needs the map while it is being
// encoded: HTTP 503, to try again shortly.
type mapNotReady struct {
	poems   int
	elapsed time.Duration
}

func (e *mapNotReady) Error() string {
	return fmt.Sprintf("the map is still being built (encoding %s, for %s so far): try again in a moment",
		count(e.poems, "poem"), e.elapsed.Round(time.Second))
}

// get returns the map once it is encoded, or a mapNotReady error.
func (a *atlas) get() (*atlas, error) {
	select {
	case <-a.ready:
	default:
		return nil, &mapNotReady{len(a.poems), time.Since(a.started)}
	}
	if a.err != nil {
		return nil, &internalError{fmt.Errorf("encoding the map: %w", a.err)}
	}
	return a, nil
}

// mapReady reports whether the map is encoded.
func mapReady(a *atlas) bool {
	_, err := a.get()
	return err == nil
}

// wait waits until the map is encoded or ctx is done.
func (a *atlas) wait(ctx context.Context) error {
	select {
	case <-a.ready:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// encodeChunk is how many poems the map encodes between looks at whether
// the server is stopping.
const encodeChunk = 512

// encode computes the codes, the axes and the answer of the map, and then
// closes ready; it gives up between chunks when ctx is done. say reports
// progress.
func (a *atlas) encode(ctx context.Context, m *model.Model, say func(string, ...any)) {
	defer close(a.ready)
	if len(a.poems) > 2*encodeChunk {
		say("map: encoding %s; the other views are ready now\n", count(len(a.poems), "poem"))
		defer func() {
			if a.err == nil {
				say("map: ready (%s)\n", time.Since(a.started).Round(100*time.Millisecond))
			}
		}()
	}
	for start := 0; start < len(a.poems); start += encodeChunk {
		if err := ctx.Err(); err != nil {
			a.err = err
			return
		}
		mu, _, err := m.Encode(a.poems[start:min(start+encodeChunk, len(a.poems))])
		if err != nil {
			a.err = err
			return
		}
		a.mu = append(a.mu, mu...)
	}
	if len(a.mu) > 0 {
		a.fitAxes()
	}
	a.body = mustRawJSON(a.answer())
}

// pcAxis is a principal direction of the codes.
type pcAxis struct {
	Vector []float64 `json:"vector"` // unit length
	SD     float64   `json:"sd"`     // of the codes along it
	Share  float64   `json:"share"`  // of the variance
}

// coloring groups the poems of the map by one property.
type coloring struct {
	Name   string      `json:"name"`  // rhyme, dynasty or author
	Title  string      `json:"title"` // for people
	Groups []mapColour `json:"groups"`
	Of     []int       `json:"of"` // the group of each poem, -1 for none
}

type mapColour struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func (a *atlas) size() int {
	if a == nil {
		return 0
	}
	return len(a.poems)
}

// readAtlas reads the poems of the map, those of --corpus or the model's
// training poems, and their colourings; encode computes the rest.
func readAtlas(c *cli.Context, m *model.Model, pros *poetry.Prosody) (*atlas, error) {
	files := c.StringSlice("corpus")
	var all []corpusPoem
	a := &atlas{ready: make(chan struct{}), started: time.Now()}
	if len(files) > 0 {
		var err error
		if all, err = readMapCorpus(c, files); err != nil {
			return nil, err
		}
		a.source = strings.Join(baseNames(files), ", ")
	} else {
		for i, p := range m.Poems {
			all = append(all, corpusPoem{poem: p, index: i})
		}
		a.source = "the model's training poems"
	}
	var poems []corpusPoem
	other := 0
	for _, p := range all {
		if p.poem.NumLines() == m.Config.Lines {
			poems = append(poems, p)
		} else {
			other++
		}
	}
	if other > 0 {
		fmt.Fprintf(c.App.ErrWriter, "map: left out %s that this model does not read (it reads %d-line poems)\n", count(other, "poem"), m.Config.Lines)
	}
	if limit := c.Int("map-limit"); len(poems) > limit {
		rng := rand.New(rand.NewPCG(1, 0x6d6170))
		rng.Shuffle(len(poems), func(i, j int) { poems[i], poems[j] = poems[j], poems[i] })
		poems = poems[:limit]
		slices.SortFunc(poems, func(a, b corpusPoem) int { return cmp.Compare(a.index, b.index) })
		fmt.Fprintf(c.App.ErrWriter, "map: showing %s of %s (--map-limit)\n", num(limit), num(len(all)-other))
	}
	if len(poems) == 0 {
		if len(files) == 0 {
			fmt.Fprintf(c.App.ErrWriter, "map: %s keeps no training poems (models trained without a keyword index do not): --corpus FILE shows a corpus\n", modelPath(c))
		}
		return a, nil
	}
	a.poems = make([]poetry.Poem, len(poems))
	for i, p := range poems {
		a.poems[i] = p.poem
	}

	// Colourings: rhyme always; dynasty and author where the files or the
	// metadata say them.
	labels := make([]string, len(poems))
	for i, p := range poems {
		labels[i] = rhymeGroup(pros, p.poem)
	}
	a.colorings = append(a.colorings, newColoring(colorByRhyme, "rhyme of line 2", labels))
	if len(files) > 0 {
		if labels, title, err := mapLabels(c, colorByDynasty, all, poems); err == nil {
			a.colorings = append(a.colorings, newColoring(colorByDynasty, title, labels))
		}
		if c.String("meta") != "" {
			labels, title, err := mapLabels(c, colorByAuthor, all, poems)
			if err != nil && !strings.Contains(err.Error(), "no author column") {
				return nil, err
			}
			if err == nil {
				a.colorings = append(a.colorings, newColoring(colorByAuthor, title, labels))
			}
		}
	}
	return a, nil
}

// fitAxes finds the principal directions of the codes and the map's
// coordinates: the codes projected on the first two.
func (a *atlas) fitAxes() {
	n, d := len(a.mu), len(a.mu[0])
	a.mean = make([]float64, d)
	for _, r := range a.mu {
		for j, v := range r {
			a.mean[j] += v / float64(n)
		}
	}
	a.x, a.y = make([]float64, n), make([]float64, n)
	if n < 2 {
		return
	}
	x := mat.NewDense(n, d, nil)
	for i, r := range a.mu {
		x.SetRow(i, r)
	}
	var pc stat.PC
	if !pc.PrincipalComponents(x, nil) {
		return
	}
	var vecs mat.Dense
	pc.VectorsTo(&vecs)
	vars := pc.VarsTo(nil)
	total := 0.0
	for _, v := range vars {
		total += v
	}
	_, k := vecs.Dims()
	for j := range min(exploreAxes, k, len(vars)) {
		ax := pcAxis{Vector: mat.Col(nil, j, &vecs), SD: math.Sqrt(math.Max(vars[j], 0))}
		if total > 0 {
			ax.Share = vars[j] / total
		}
		a.axes = append(a.axes, ax)
	}
	for i, r := range a.mu {
		a.x[i], a.y[i] = a.project(r)
	}
}

// project returns the map coordinates of a code.
func (a *atlas) project(z []float64) (x, y float64) {
	for k, out := range []*float64{&x, &y} {
		if k >= len(a.axes) {
			break
		}
		for j, v := range a.axes[k].Vector {
			*out += (z[j] - a.mean[j]) * v
		}
	}
	return x, y
}

// newColoring turns the label of each poem ("" for none) into groups,
// the most frequent first (ties by name).
func newColoring(name, title string, labels []string) coloring {
	counts := map[string]int{}
	for _, l := range labels {
		if l != "" {
			counts[l]++
		}
	}
	col := coloring{Name: name, Title: title, Of: make([]int, len(labels))}
	for l, n := range counts {
		col.Groups = append(col.Groups, mapColour{l, n})
	}
	slices.SortFunc(col.Groups, func(a, b mapColour) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	index := map[string]int{}
	for i, g := range col.Groups {
		index[g.Name] = i
	}
	for i, l := range labels {
		col.Of[i] = -1
		if l != "" {
			col.Of[i] = index[l]
		}
	}
	return col
}

// mapAnswer is the answer of /api/map.
type mapAnswer struct {
	Source    string     `json:"source"`
	Count     int        `json:"count"`
	Poems     []string   `json:"poems"`
	X         []float32  `json:"x"`
	Y         []float32  `json:"y"`
	Colorings []coloring `json:"colorings"`
	Mean      []float64  `json:"mean"`
	Axes      []pcAxis   `json:"axes"`
}

func (a *atlas) answer() mapAnswer {
	out := mapAnswer{Source: a.source, Count: len(a.poems), Poems: []string{}, X: []float32{}, Y: []float32{},
		Colorings: a.colorings, Mean: a.mean, Axes: a.axes}
	if out.Colorings == nil {
		out.Colorings = []coloring{}
	}
	if out.Axes == nil {
		out.Axes = []pcAxis{}
	}
	for i, p := range a.poems {
		out.Poems = append(out.Poems, p.String())
		out.X = append(out.X, float32(a.x[i]))
		out.Y = append(out.Y, float32(a.y[i]))
	}
	return out
}

// rawJSON is an answer encoded once: its bytes and their gzip.
type rawJSON struct {
	plain, gz []byte
}

func mustRawJSON(v any) rawJSON {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the map holds only strings and finite numbers
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	return rawJSON{plain: buf.Bytes(), gz: gz.Bytes()}
}

func (raw rawJSON) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Vary", "Accept-Encoding")
	body := raw.plain
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = raw.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *server) mapData(ctx context.Context, rq *request) (any, error) {
	a, err := s.atlas.get()
	if err != nil {
		return nil, err
	}
	return a.body, nil
}

// neighborJSON is a poem of the map near a query.
type neighborJSON struct {
	Index    int     `json:"index"` // in the map's poems
	Poem     string  `json:"poem"`
	Distance float64 `json:"distance"` // between the codes, Euclidean
	X        float64 `json:"x"`
	Y        float64 `json:"y"`
}

// neighbors returns the poems of the map whose codes are nearest a poem's
// posterior mean or a code.
func (s *server) neighbors(ctx context.Context, rq *request) (any, error) {
	k, err := rq.integer("k", 10)
	if err != nil {
		return nil, err
	}
	if k < 1 || k > maxNeighbours {
		return nil, badf("k must be from 1 to %d (got %d)", maxNeighbours, k)
	}
	z, poem, err := s.queryCode(rq)
	if err != nil {
		return nil, err
	}
	if s.atlas.size() == 0 {
		return nil, badf("the map of this server is empty: start it with --corpus FILE")
	}
	a, err := s.atlas.get()
	if err != nil {
		return nil, err
	}
	// Euclidean, as neighborJSON documents: the geometry that the map, a
	// projection on principal components, draws.
	near := model.Nearest(a.mu, z, k, model.Euclidean)
	x, y := a.project(z)
	out := struct {
		Poem      string         `json:"poem,omitempty"`
		Z         []float64      `json:"z"`
		X         float64        `json:"x"`
		Y         float64        `json:"y"`
		Neighbors []neighborJSON `json:"neighbors"`
		Messages  []string       `json:"messages,omitempty"`
	}{Z: z, X: x, Y: y, Messages: rq.messages()}
	if poem != nil {
		out.Poem = poem.String()
	}
	for _, n := range near {
		i := n.Index
		out.Neighbors = append(out.Neighbors, neighborJSON{Index: i, Poem: a.poems[i].String(), Distance: n.Distance, X: a.x[i], Y: a.y[i]})
	}
	return out, nil
}

// direction returns the direction from one group of a colouring of the map
// to another: the difference of their mean codes, as a unit vector and a
// length, for the Explore view to move along.
func (s *server) direction(ctx context.Context, rq *request) (any, error) {
	by, err := rq.text("by")
	if err != nil {
		return nil, err
	}
	from, err := rq.text("from")
	if err != nil {
		return nil, err
	}
	to, err := rq.text("to")
	if err != nil {
		return nil, err
	}
	a, err := s.atlas.get()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, col := range a.colorings {
		names = append(names, col.Name)
		if col.Name != by {
			continue
		}
		group := func(field, name string) (int, error) {
			for g, grp := range col.Groups {
				if grp.Name == name {
					return g, nil
				}
			}
			return 0, badf("%s: no group %q in the map's %s colouring", field, name, by)
		}
		gf, err := group("from", from)
		if err != nil {
			return nil, err
		}
		gt, err := group("to", to)
		if err != nil {
			return nil, err
		}
		if gf == gt {
			return nil, badf("from and to are the same group, %q", from)
		}
		mf, mt := make([]float64, s.m.Config.Latent), make([]float64, s.m.Config.Latent)
		for i, g := range col.Of {
			switch g {
			case gf:
				addScaled(mf, a.mu[i], 1/float64(col.Groups[gf].Count))
			case gt:
				addScaled(mt, a.mu[i], 1/float64(col.Groups[gt].Count))
			}
		}
		vec := make([]float64, len(mf))
		var norm float64
		for j := range vec {
			vec[j] = mt[j] - mf[j]
			norm += vec[j] * vec[j]
		}
		norm = math.Sqrt(norm)
		if norm > 0 {
			for j := range vec {
				vec[j] /= norm
			}
		}
		return map[string]any{"by": by, "from": from, "to": to, "vector": vec, "length": norm,
			"from_mean": mf, "to_mean": mt}, nil
	}
	if len(names) == 0 {
		return nil, badf("the map of this server has no colourings")
	}
	return nil, badf("by: the map is coloured by %s, not %q", strings.Join(quoted(names), " or "), by)
}

// addScaled adds w·v to dst.
func addScaled(dst, v []float64, w float64) {
	for j := range dst {
		dst[j] += w * v[j]
	}
}
