package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// poetvae neighbors: the poems of a corpus nearest a poem in the latent
// space, by the distance between their posterior means, with the codes of
// a corpus file cached beside it.

const defaultNeighbors = 10

// codesSuffix ends the name of a corpus file's cache of codes, which is
// hidden (.tang_valid.txt.poetvae-codes beside tang_valid.txt) so that it
// stays out of the way of listings and of globs such as data/* given to
// train.
const codesSuffix = ".poetvae-codes"

func neighborsCommand() *cli.Command {
	return &cli.Command{
		Name:      "neighbors",
		Usage:     "find the poems of a corpus nearest a poem in the latent space",
		ArgsUsage: `"POEM"`,
		Description: `Encodes the poem to its posterior mean and lists the poems of the corpus
whose posterior means are nearest it, nearest first: rank, distance, poem,
and author and title where they are known. A poem of the corpus is its own
nearest neighbour, at distance 0.

--metric cosine (the default) compares the directions of the codes: 1 − cos θ,
from 0 (the same direction) through 1 (orthogonal) to 2 (opposite).
--metric euclidean measures the straight distance between them, which counts
their lengths too.

The corpus is --corpus FILE (one poem per line, as for train), or else the
built-in sample corpus, which names the author and title of its poems. For
a file they come from --meta FILE (a TSV with author and title columns, and
text columns to match the poems by, as corpus import --meta writes and plot
latent reads), or else from the first of these beside the corpus that
exists: NAME.tsv, NAME_meta.tsv, PREFIX_meta.tsv (for tang_valid.txt:
tang_valid.tsv, tang_valid_meta.tsv, tang_meta.tsv). --meta "" reads none.

Encoding a large corpus takes a while (some 20 seconds for 15,000 poems with
a model of the default sizes on two cores), so the codes of --corpus FILE
are cached beside it, in .FILE` + codesSuffix + ` (for tang_valid.txt,
.tang_valid.txt` + codesSuffix + `), a binary file that may be deleted at any
time. It holds the codes of one model, and is read only when it was made by
a model of the same weights, from the same poems, on the same kind of device
(cpu or cuda); otherwise, or when it is damaged, the corpus is encoded again
and the cache replaced, with a note on stderr. Where the cache cannot be
written (a read-only folder), the corpus is encoded at every query. The
built-in sample corpus (137 poems, well under a second) is not cached.

Examples:
   poetvae neighbors "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
   poetvae neighbors --corpus tang_valid.txt --k 5 "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
   poetvae neighbors --metric euclidean --json "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"`,
		Flags: []cli.Flag{
			modelFlag(),
			deviceFlag("where to encode"),
			&cli.StringFlag{Name: "corpus", Usage: "corpus `FILE` to search, one poem per line (default: the built-in sample corpus)"},
			&cli.StringFlag{Name: "meta", DefaultText: "a file beside the corpus", Usage: "metadata `FILE` (TSV with author and title columns) naming the corpus's poems"},
			&cli.IntFlag{Name: "k", Value: defaultNeighbors, Usage: "list the `N` nearest poems"},
			&cli.StringFlag{Name: "metric", Value: model.Cosine.String(), Usage: "`NAME` of the distance between codes: cosine or euclidean"},
			strictFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print the neighbours as JSON"},
		},
		Action: findNeighbors,
	}
}

func findNeighbors(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError(`neighbors needs one poem in quotes: poetvae neighbors "POEM"`)
	}
	k := c.Int("k")
	if k < 1 {
		return usageError("--k must be at least 1 (got %d)", k)
	}
	// Cosine by default: the length of a posterior mean says mostly how sure
	// the encoder is of a poem (an unsure one is drawn towards the prior's
	// centre, 0), and its direction what the poem holds; by Euclidean
	// distance, the poems the encoder is unsure of crowd around every
	// short code. That is reasoning more than measurement. On the small
	// models of the tests, finding each sample poem again from a copy with
	// 4 of its 20 characters changed, the metrics tie at latent size 8
	// (the right poem first 71% of the time by cosine, 70% by Euclidean
	// distance), and Euclidean wins at size 4 (26% to 21%), where a
	// direction keeps only three of the four numbers; the default models
	// have 32.
	metric, err := model.ParseMetric(c.String("metric"))
	if err != nil {
		return usageError("--metric %s: want cosine or euclidean", shortQuote(c.String("metric")))
	}
	// --corpus "" is a file name lost on its way (an unset variable), not a
	// request for the built-in sample corpus, which leaving --corpus out
	// gives. (--meta "" is documented: it reads no metadata.)
	if err := refuseEmpty(c, "corpus"); err != nil {
		return err
	}
	if c.IsSet("meta") && c.String("meta") != "" && c.String("corpus") == "" {
		return usageError("--meta needs --corpus: the metadata describes the poems of a corpus file")
	}
	// The corpus first: a mistyped file name fails before the model loads.
	sc, err := readSearchCorpus(c)
	if err != nil {
		return err
	}
	m, err := loadEncoderModel(c, "it has no latent space to search")
	if err != nil {
		return err
	}
	query, err := parsePoems(c, m, c.Args().Slice())
	if err != nil {
		return err
	}
	if err := sc.keep(c, m.Config.Lines); err != nil {
		return err
	}
	codes, err := corpusCodes(c, m, sc)
	if err != nil {
		return err
	}
	mu, _, err := m.Encode(query)
	if err != nil {
		return err
	}
	near := model.Nearest(codes, mu[0], k, metric)
	credits, err := sc.credits(c, near)
	if err != nil {
		return err
	}
	return printNeighbors(c, query[0], sc, metric, near, credits)
}

// searchCorpus is the corpus a search runs over.
type searchCorpus struct {
	name string // in messages: the file, or the built-in sample corpus
	path string // the file; "" for the sample
	all  []poetry.Poem
	// poems are those of all that the model reads (its line count), whose
	// codes are searched; index[i] is the place of poems[i] in all.
	poems []poetry.Poem
	index []int
}

func readSearchCorpus(c *cli.Context) (*searchCorpus, error) {
	path := c.String("corpus")
	if path == "" {
		all, err := corpus.Sample()
		return &searchCorpus{name: "the built-in sample corpus", all: all}, err
	}
	all, rep, err := readCorpus(c, path)
	if err != nil {
		return nil, err
	}
	if rep.Rejected() > 0 {
		fmt.Fprintf(c.App.ErrWriter, "skipped %s of %s (see poetvae corpus stats)\n", count(rep.Rejected(), "malformed line"), path)
	}
	return &searchCorpus{name: path, path: path, all: all}, nil
}

// keep keeps the poems of the model's line count for the search.
func (sc *searchCorpus) keep(c *cli.Context, lines int) error {
	for i, p := range sc.all {
		if p.NumLines() == lines {
			sc.poems = append(sc.poems, p)
			sc.index = append(sc.index, i)
		}
	}
	if len(sc.poems) == 0 {
		return fmt.Errorf("%s has no %d-line poems, the only ones this model reads", sc.name, lines)
	}
	if n := len(sc.all) - len(sc.poems); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "left out %s of %s of other line counts than the model's %d\n", count(n, "poem"), sc.name, lines)
	}
	return nil
}

// codesKey says what a cache's codes are the codes of. The corpus is named
// by the poems encoded rather than by the file's bytes: the codes depend on
// nothing else, so a comment or a repeated poem added to the file keeps
// the cache, and the key is of what was read, where a second read of the
// file to hash it could meet a file changed in between.
type codesKey struct {
	model  [sha256.Size]byte // the model: Model.WeightsDigest
	poems  string            // the poems encoded, in order (model.Fingerprint)
	engine string            // cpu or cuda, whose codes differ in their last digits
}

// codesKeyOf is the key of the codes m makes, of poems still to be
// named.
func codesKeyOf(c *cli.Context, m *model.Model) codesKey {
	key := codesKey{model: m.WeightsDigest(), engine: "cpu"}
	if gpu, _ := model.ParseDevice(c.String("device")); gpu >= 0 { // loadModel checked it
		key.engine = "cuda"
	}
	return key
}

// codesPath is where the codes of a corpus file are cached.
func codesPath(corpusPath string) string {
	dir, base := filepath.Split(corpusPath)
	return filepath.Join(dir, "."+base+codesSuffix)
}

// corpusCodes returns the posterior means of the corpus's poems: from the
// cache beside a corpus file when it holds them, else encoded, and then
// cached there for the next query.
func corpusCodes(c *cli.Context, m *model.Model, sc *searchCorpus) ([][]float64, error) {
	say := func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, "note: "+format+"\n", args...) }
	if sc.path == "" {
		return encodeCodes(c, m, sc)
	}
	cache := codesPath(sc.path)
	key := codesKeyOf(c, m)
	key.poems = model.Fingerprint(sc.poems)
	codes, err := readCodes(cache, key, m.Config.Latent)
	var stale *staleCodes
	switch {
	case err == nil:
		return codes, nil
	case errors.Is(err, fs.ErrNotExist):
	case errors.As(err, &stale):
		say("%s holds %s; encoding %s again", cache, stale.what, sc.name)
	default:
		say("cannot use %s (%v); encoding %s again", cache, err, sc.name)
	}
	if codes, err = encodeCodes(c, m, sc); err != nil {
		return nil, err
	}
	if err := writeCodes(cache, key, codes); err != nil {
		say("cannot cache the codes of %s (%v); they will be encoded again at the next query", sc.name, err)
	} else {
		say("codes of %s cached in %s", count(len(codes), "poem"), cache)
	}
	return codes, nil
}

// encodeBarChunk is how many poems are encoded between moves of the
// progress bar.
const encodeBarChunk = 512

// encodeCodes encodes the corpus's poems to their posterior means, with a
// progress bar on a terminal and a line on stderr for a large corpus.
func encodeCodes(c *cli.Context, m *model.Model, sc *searchCorpus) ([][]float64, error) {
	n := len(sc.poems)
	if n > 2*encodeBarChunk {
		fmt.Fprintf(c.App.ErrWriter, "encoding %s of %s\n", count(n, "poem"), sc.name)
	}
	update, clear := countBar(c.App.ErrWriter, "encoding")
	defer clear()
	codes := make([][]float64, 0, n)
	for start := 0; start < n; start += encodeBarChunk {
		mu, _, err := m.Encode(sc.poems[start:min(start+encodeBarChunk, n)])
		if err != nil {
			return nil, err
		}
		codes = append(codes, mu...)
		if update != nil {
			update(len(codes), n)
		}
	}
	return codes, nil
}

// The cache of a corpus file's codes, little-endian:
//
//	magic "POETVAE-CODES\n" | version uint32 | model digest [32]byte |
//	poems key: length uint8, bytes | engine: length uint8, bytes |
//	poems uint32 | latent uint32 | poems × latent float64 | SHA-256 of all before it
//
// The codes are stored as the float64 values the encoder returns, so that
// a cached search answers exactly as a fresh one. The checksum catches a
// damaged or truncated file before any of it is trusted.
const (
	codesMagic   = "POETVAE-CODES\n"
	codesVersion = 1
)

// staleCodes is a sound cache of other codes than those wanted.
type staleCodes struct{ what string }

func (e *staleCodes) Error() string { return "the cache holds " + e.what }

func writeCodes(path string, key codesKey, codes [][]float64) error {
	latent := 0
	if len(codes) > 0 {
		latent = len(codes[0])
	}
	buf := make([]byte, 0, len(codesMagic)+4+sha256.Size+2+len(key.poems)+len(key.engine)+8+8*len(codes)*latent+sha256.Size)
	buf = append(buf, codesMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, codesVersion)
	buf = append(buf, key.model[:]...)
	for _, s := range []string{key.poems, key.engine} {
		if len(s) > math.MaxUint8 {
			return fmt.Errorf("writing %s: a key of %d bytes", path, len(s)) // never: both are short names
		}
		buf = append(append(buf, byte(len(s))), s...)
	}
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(codes)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(latent))
	for _, z := range codes {
		for _, v := range z {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:]...)

	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer f.abort()
	// Readable by all, as the corpus beside it usually is (a temporary
	// file is made private): another user's query may read it.
	if err := f.f.Chmod(0o644); err != nil {
		return err
	}
	if _, err := f.w.Write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.commit()
}

// readCodes reads the cached codes at path, when they are the codes of
// key with latent values each. The error wraps fs.ErrNotExist when there
// is no cache, is a *staleCodes when it holds other codes, and says what
// is wrong with a damaged file.
func readCodes(path string, key codesKey, latent int) ([][]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(codesMagic)) {
		return nil, errors.New("not a cache of codes")
	}
	if len(data) < len(codesMagic)+4+sha256.Size+2+8+sha256.Size { // a cache of no codes with empty keys
		return nil, errors.New("truncated")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, errors.New("checksum mismatch: damaged or truncated")
	}
	r := body[len(codesMagic):]
	if v := binary.LittleEndian.Uint32(r); v != codesVersion {
		return nil, &staleCodes{fmt.Sprintf("codes in format version %d, not %d", v, codesVersion)}
	}
	r = r[4:]
	var cached codesKey
	cached.model = [sha256.Size]byte(r[:sha256.Size])
	r = r[sha256.Size:]
	for _, s := range []*string{&cached.poems, &cached.engine} {
		if len(r) < 1 || len(r) < 1+int(r[0]) {
			return nil, errors.New("truncated header")
		}
		*s, r = string(r[1:1+int(r[0])]), r[1+int(r[0]):]
	}
	switch {
	case cached.model != key.model:
		return nil, &staleCodes{"the codes of another model"}
	case cached.poems != key.poems:
		return nil, &staleCodes{"the codes of other poems (the corpus changed)"}
	case cached.engine != key.engine:
		return nil, &staleCodes{fmt.Sprintf("codes encoded on %s, not %s", cached.engine, key.engine)}
	}
	if len(r) < 8 {
		return nil, errors.New("truncated header")
	}
	n, d := int(binary.LittleEndian.Uint32(r)), int(binary.LittleEndian.Uint32(r[4:]))
	r = r[8:]
	if d != latent || len(r) != 8*n*d {
		return nil, fmt.Errorf("%d codes of %d values in %d bytes, for a model of %d latent values", n, d, len(r), latent)
	}
	flat := make([]float64, n*d)
	for i := range flat {
		flat[i] = math.Float64frombits(binary.LittleEndian.Uint64(r[8*i:]))
	}
	codes := make([][]float64, n)
	for i := range codes {
		codes[i] = flat[i*d : (i+1)*d : (i+1)*d]
	}
	return codes, nil
}

// credit is the author and title of a poem, as far as they are known.
type credit struct {
	Author string `json:"author,omitempty"`
	Title  string `json:"title,omitempty"`
	Note   string `json:"note,omitempty"` // after the title, in the sample corpus: 其二, （通行本）
}

// String writes the credit as 作者《题目》.
func (cr credit) String() string {
	if cr.Title == "" {
		return cr.Author
	}
	return cr.Author + "《" + cr.Title + "》" + cr.Note
}

// credits returns the credit of each neighbour: from the comment lines of
// the sample corpus, or from the metadata of a corpus file.
func (sc *searchCorpus) credits(c *cli.Context, near []model.Neighbor) ([]credit, error) {
	out := make([]credit, len(near))
	if sc.path == "" {
		known := corpus.SampleCredits()
		for i, n := range near {
			cr := known[sc.poems[n.Index].Text()]
			out[i] = credit{cr.Author, cr.Title, cr.Note}
		}
		return out, nil
	}
	path, given := metaPath(c, sc.path)
	if path == "" {
		return out, nil
	}
	// A file found beside the corpus was not asked for: when it cannot
	// name the poems, that is a note, not an error.
	fail := func(err error) ([]credit, error) {
		if given {
			return nil, err
		}
		fmt.Fprintf(c.App.ErrWriter, "note: no authors or titles from %s: %v\n", path, err)
		return out, nil
	}
	meta, err := readMetaTable(path)
	if err != nil {
		return fail(err)
	}
	if !meta.has("author") && !meta.has("title") {
		return fail(fmt.Errorf("metadata file %s has no author or title column", path))
	}
	all := make([]corpusPoem, len(sc.all))
	for i, p := range sc.all {
		all[i] = corpusPoem{poem: p, file: sc.path, index: i}
	}
	poems := make([]corpusPoem, len(near))
	for i, n := range near {
		poems[i] = all[sc.index[n.Index]]
	}
	rows, err := meta.match(all, poems)
	if err != nil {
		return fail(err)
	}
	for i, r := range rows {
		if r < 0 {
			continue
		}
		if col, ok := meta.cols["author"]; ok {
			out[i].Author = meta.field(r, col)
		}
		if col, ok := meta.cols["title"]; ok {
			out[i].Title = meta.field(r, col)
		}
	}
	return out, nil
}

// metaPath returns the metadata file of a corpus file: --meta, or else the
// first of NAME.tsv, NAME_meta.tsv and PREFIX_meta.tsv beside it that
// exists, NAME being the file's name without .gz and .txt and PREFIX what
// comes before its first _ (tang_meta.tsv for tang_valid.txt). given says
// it was asked for with --meta.
func metaPath(c *cli.Context, corpusPath string) (path string, given bool) {
	if c.IsSet("meta") {
		return c.String("meta"), true
	}
	dir, base := filepath.Split(corpusPath)
	name := strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".txt")
	candidates := []string{name + ".tsv", name + "_meta.tsv"}
	if prefix, _, ok := strings.Cut(name, "_"); ok && prefix != "" {
		candidates = append(candidates, prefix+"_meta.tsv")
	}
	for _, cand := range candidates {
		if fi, err := os.Stat(filepath.Join(dir, cand)); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(dir, cand), false
		}
	}
	return "", false
}

// neighborOutJSON is a neighbour in the answer of --json.
type neighborOutJSON struct {
	Rank     int     `json:"rank"`
	Distance float64 `json:"distance"`
	Poem     string  `json:"poem"`
	credit
}

func printNeighbors(c *cli.Context, query poetry.Poem, sc *searchCorpus, metric model.Metric, near []model.Neighbor, credits []credit) error {
	w := c.App.Writer
	if c.Bool("json") {
		out := struct {
			Poem      string            `json:"poem"`
			Corpus    string            `json:"corpus"`
			Poems     int               `json:"poems"`
			Metric    string            `json:"metric"`
			Neighbors []neighborOutJSON `json:"neighbors"`
		}{Poem: query.String(), Corpus: sc.name, Poems: len(sc.poems), Metric: metric.String(), Neighbors: []neighborOutJSON{}}
		for i, n := range near {
			out.Neighbors = append(out.Neighbors, neighborOutJSON{i + 1, n.Distance, sc.poems[n.Index].String(), credits[i]})
		}
		return writeJSON(w, out)
	}
	what := "cosine distance (1 − cos θ)"
	if metric == model.Euclidean {
		what = "Euclidean distance"
	}
	fmt.Fprintf(w, "%d nearest of %s in %s to %s, by %s between posterior means:\n",
		len(near), count(len(sc.poems), "poem"), sc.name, query, what)
	width := len(strconv.Itoa(len(near)))
	for i, n := range near {
		line := fmt.Sprintf("%*d  %.4f  %s", width, i+1, n.Distance, sc.poems[n.Index])
		if cr := credits[i].String(); cr != "" {
			line += "  " + cr
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
