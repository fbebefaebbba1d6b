package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"unsafe"

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
the same model file (named by its checksum), from the same poems, on the
same kind of device (cpu or cuda); otherwise, or when it is damaged, the
corpus is encoded again and the cache replaced, with a note on stderr. A
query whose corpus file is byte for byte the one cached reads only the
poems it shows; a file changed otherwise than in its poems (a comment, a
poem repeated) is read whole, its codes kept. Where the cache cannot be
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
	// A query answered from the cache allocates once what it keeps to the
	// end (the model, the codes): a collection frees nothing and took a
	// tenth of its time. Reading and encoding a corpus turns it back on.
	sc.resumeGC = pauseGC()
	defer sc.resumeGC()
	// The search only encodes: the decoder's weights, most of the model,
	// are not read.
	ck, err := loadEncoderCheckpoint(c, "it has no latent space to search", model.LoadOptions{EncoderOnly: true})
	if err != nil {
		return err
	}
	m := ck.Model
	query, err := parsePoems(c, m, c.Args().Slice())
	if err != nil {
		return err
	}
	codes, err := corpusCodes(c, ck, sc)
	if err != nil {
		return err
	}
	mu, _, err := m.Encode(query)
	if err != nil {
		return err
	}
	near := model.Nearest(codes, mu[0], k, metric)
	poems, err := sc.poemsOf(near)
	if err != nil {
		return err
	}
	credits, err := sc.credits(c, near, poems)
	if err != nil {
		return err
	}
	return printNeighbors(c, query[0], sc, metric, poems, near, credits)
}

// searchCorpus is the corpus a search runs over: the built-in sample
// corpus, or a file. A file's poems are read only when the cache of codes
// beside it does not hold theirs: a query answered from the cache reads
// only the poems it shows.
type searchCorpus struct {
	name string // in messages: the file, or the built-in sample corpus
	path string // the file; "" for the sample

	// all are the poems read, in order, and lines the line of the file
	// each is on; nil while the poems of a file are not read. rejected
	// counts the malformed lines of the file.
	all      []poetry.Poem
	lines    []int
	rejected int
	// poems are those of all that the model reads (its line count), whose
	// codes are searched; index[i] is the place of poems[i] in all.
	poems []poetry.Poem
	index []int

	// The file as read: its bytes, where they were read whole to be
	// compared with the cache's (else nil), their number and SHA-256.
	data []byte
	size int64
	sum  [sha256.Size]byte

	// cache is what the cache of codes beside the file holds, read before
	// the file; cacheErr says why there is none to use.
	cache    *codesCache
	cacheErr error
	// cached: the cache's codes are those searched, and the file's poems
	// were not read.
	cached bool
	// resumeGC turns the garbage collector back on (pauseGC), where
	// findNeighbors turned it off; nil elsewhere.
	resumeGC func()
}

// pauseGC turns the garbage collector off and returns what turns it on
// again, as it was ($GOGC), as often as it is called.
func pauseGC() (resume func()) {
	old := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(old) }
}

// collect turns the garbage collector back on for work that allocates as
// it goes, such as encoding a corpus.
func (sc *searchCorpus) collect() {
	if sc.resumeGC != nil {
		sc.resumeGC()
	}
}

func readSearchCorpus(c *cli.Context) (*searchCorpus, error) {
	path := c.String("corpus")
	if path == "" {
		all, err := corpus.Sample()
		return &searchCorpus{name: "the built-in sample corpus", all: all}, err
	}
	sc := &searchCorpus{name: path, path: path}
	sc.cache, sc.cacheErr = readCodes(codesPath(path))
	if !sc.sameAsCached() {
		if err := sc.read(c); err != nil {
			return nil, err
		}
	}
	if sc.rejected > 0 {
		fmt.Fprintf(c.App.ErrWriter, "skipped %s of %s (see poetvae corpus stats)\n", count(sc.rejected, "malformed line"), path)
	}
	return sc, nil
}

// sameAsCached reads the file whole when it has the size of the file whose
// codes the cache holds, and reports whether its bytes are those.
func (sc *searchCorpus) sameAsCached() bool {
	if sc.cache == nil {
		return false
	}
	if fi, err := os.Stat(sc.path); err != nil || !fi.Mode().IsRegular() || fi.Size() != sc.cache.size {
		return false
	}
	data, err := os.ReadFile(sc.path)
	if err != nil {
		return false // read reports it
	}
	sc.data, sc.size, sc.sum = data, int64(len(data)), sha256.Sum256(data)
	if sc.sum != sc.cache.key.corpus {
		return false
	}
	sc.rejected = sc.cache.rejected
	return true
}

// read reads the poems of the file: from its bytes, where sameAsCached
// read them, or else from the file, hashed as they are read, so that the
// key of their codes is of what was read, not of a second read that could
// meet a file changed in between.
func (sc *searchCorpus) read(c *cli.Context) error {
	if sc.data != nil {
		return sc.parse(c, bytes.NewReader(sc.data))
	}
	f, err := os.Open(sc.path)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer f.Close() // read-only: a close error cannot lose data
	h := &countingHash{Hash: sha256.New()}
	if err := sc.parse(c, io.TeeReader(f, h)); err != nil {
		return err
	}
	if _, err := io.Copy(h, f); err != nil { // anything the reader left (nothing, for a corpus)
		return fmt.Errorf("corpus: %s: %w", sc.path, err)
	}
	sc.size = h.n
	h.Sum(sc.sum[:0])
	return nil
}

func (sc *searchCorpus) parse(c *cli.Context, rd io.Reader) error {
	all, lines, rep, err := corpus.ReadFromLines(rd, sc.path)
	if err != nil {
		return explainCorpusError(c, err)
	}
	sc.all, sc.lines, sc.rejected = all, lines, rep.Rejected()
	return nil
}

// countingHash is a hash that counts the bytes written to it.
type countingHash struct {
	hash.Hash
	n int64
}

func (h *countingHash) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.Hash.Write(p)
}

// keep keeps the poems of the model's line count for the search, and
// says how many it left out.
func (sc *searchCorpus) keep(c *cli.Context, lines int) error {
	if err := sc.selectLines(lines); err != nil {
		return err
	}
	sc.leftOut(c, len(sc.all)-len(sc.poems), lines)
	return nil
}

// selectLines keeps the poems of the given line count for the search.
func (sc *searchCorpus) selectLines(lines int) error {
	sc.poems, sc.index = nil, nil
	for i, p := range sc.all {
		if p.NumLines() == lines {
			sc.poems = append(sc.poems, p)
			sc.index = append(sc.index, i)
		}
	}
	if len(sc.poems) == 0 {
		return fmt.Errorf("%s has no %d-line poems, the only ones this model reads", sc.name, lines)
	}
	return nil
}

func (sc *searchCorpus) leftOut(c *cli.Context, n, lines int) {
	if n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "left out %s of %s of other line counts than the model's %d\n", count(n, "poem"), sc.name, lines)
	}
}

// searched is the number of poems searched.
func (sc *searchCorpus) searched() int {
	if sc.cached {
		return len(sc.cache.codes)
	}
	return len(sc.poems)
}

// poemsOf returns the poems of the neighbours: from the file's lines where
// the codes came from the cache.
func (sc *searchCorpus) poemsOf(near []model.Neighbor) ([]poetry.Poem, error) {
	if !sc.cached {
		poems := make([]poetry.Poem, len(near))
		for i, n := range near {
			poems[i] = sc.poems[n.Index]
		}
		return poems, nil
	}
	lines := make([]int, len(near))
	for i, n := range near {
		lines[i] = sc.cache.lines[n.Index]
	}
	poems, err := corpus.PoemsAt(sc.data, sc.path, lines)
	if err != nil { // never, for a file of the cache's bytes
		return nil, fmt.Errorf("%s does not match %s (%w): delete it, and the next query encodes the corpus again", codesPath(sc.path), sc.path, err)
	}
	return poems, nil
}

// allIndex is the place among all the poems read of the i-th poem searched.
func (sc *searchCorpus) allIndex(i int) int {
	if sc.cached {
		return sc.cache.index[i]
	}
	return sc.index[i]
}

// allCount is the number of poems read, of every line count.
func (sc *searchCorpus) allCount() int {
	if sc.cached {
		return sc.cache.all
	}
	return len(sc.all)
}

// codesKey says what a cache's codes are the codes of. The model is named
// by the checksum of its file, which holds its weights; the corpus by the
// SHA-256 of the file's bytes, which lets a query check the cache without
// reading a poem, and by the poems encoded, which the codes depend on
// alone: a file changed otherwise (a comment, a poem repeated) keeps its
// codes, and the cache is then made the file's again.
type codesKey struct {
	model  [sha256.Size]byte // the model: the checksum its file ends with (model.Checkpoint.Sum)
	corpus [sha256.Size]byte // the corpus file: the SHA-256 of its bytes as read
	poems  string            // the poems encoded, in order (model.Fingerprint)
	engine string            // cpu or cuda, whose codes differ in their last digits
}

// engineOf is the engine of the codes the command's model makes: cpu or
// cuda.
func engineOf(c *cli.Context) string {
	if gpu, _ := model.ParseDevice(c.String("device")); gpu >= 0 { // loadModel checked it
		return "cuda"
	}
	return "cpu"
}

// codesPath is where the codes of a corpus file are cached.
func codesPath(corpusPath string) string {
	dir, base := filepath.Split(corpusPath)
	return filepath.Join(dir, "."+base+codesSuffix)
}

// corpusCodes returns the posterior means of the corpus's poems: from the
// cache beside a corpus file when it holds them, else encoded, and then
// cached there for the next query.
func corpusCodes(c *cli.Context, ck *model.Checkpoint, sc *searchCorpus) ([][]float64, error) {
	say := func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, "note: "+format+"\n", args...) }
	m, lines := ck.Model, ck.Model.Config.Lines
	if sc.path == "" {
		sc.collect()
		if err := sc.keep(c, lines); err != nil {
			return nil, err
		}
		return encodeCodes(c, m, sc)
	}
	cachePath := codesPath(sc.path)
	key := codesKey{model: ck.Sum, corpus: sc.sum, engine: engineOf(c)}
	cache, cacheErr := sc.cache, sc.cacheErr
	if cache != nil && sc.all == nil && cache.key.model == key.model && cache.key.engine == key.engine &&
		cache.latent == m.Config.Latent && len(cache.codes) > 0 {
		// The file and the model of the cache: its codes, and no poem read.
		sc.cached = true
		sc.leftOut(c, cache.all-len(cache.codes), lines)
		return cache.codes, nil
	}
	sc.collect()
	if sc.all == nil {
		if err := sc.read(c); err != nil {
			return nil, err
		}
	}
	if err := sc.keep(c, lines); err != nil {
		return nil, err
	}
	key.poems = model.Fingerprint(sc.poems)
	var stale *staleCodes
	switch {
	case errors.Is(cacheErr, fs.ErrNotExist):
	case errors.As(cacheErr, &stale):
		say("%s holds %s; encoding %s again", cachePath, stale.what, sc.name)
	case cacheErr != nil:
		say("cannot use %s (%v); encoding %s again", cachePath, cacheErr, sc.name)
	case cache.key.model != key.model:
		say("%s holds the codes of another model; encoding %s again", cachePath, sc.name)
	case cache.key.corpus != key.corpus && cache.key.poems != key.poems:
		say("%s holds the codes of other poems (the corpus changed); encoding %s again", cachePath, sc.name)
	case cache.key.engine != key.engine:
		say("%s holds codes encoded on %s, not %s; encoding %s again", cachePath, cache.key.engine, key.engine, sc.name)
	case cache.latent != m.Config.Latent || len(cache.codes) != len(sc.poems):
		say("cannot use %s (%d codes of %d values, for %s and a model of %d latent values); encoding %s again",
			cachePath, len(cache.codes), cache.latent, count(len(sc.poems), "poem"), m.Config.Latent, sc.name)
	default:
		// The poems of the cache, in a file changed otherwise: their codes,
		// cached anew under the file's bytes (and where its poems now are),
		// so that the next query reads no poem. Where that cannot be
		// written, the next query reads the poems again, as this one did.
		if cache.key.corpus != key.corpus {
			writeCodes(cachePath, sc.newCache(key, cache.codes))
		}
		return cache.codes, nil
	}
	codes, err := encodeCodes(c, m, sc)
	if err != nil {
		return nil, err
	}
	if err := writeCodes(cachePath, sc.newCache(key, codes)); err != nil {
		say("cannot cache the codes of %s (%v); they will be encoded again at the next query", sc.name, err)
	} else {
		say("codes of %s cached in %s", count(len(codes), "poem"), cachePath)
	}
	return codes, nil
}

// newCache is the cache of codes, the codes of the poems searched.
func (sc *searchCorpus) newCache(key codesKey, codes [][]float64) *codesCache {
	cc := &codesCache{key: key, size: sc.size, all: len(sc.all), rejected: sc.rejected, codes: codes,
		lines: make([]int, len(sc.index)), index: sc.index}
	if len(codes) > 0 {
		cc.latent = len(codes[0])
	}
	for i, at := range sc.index {
		cc.lines[i] = sc.lines[at]
	}
	return cc
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
//	magic "POETVAE-CODES\n" | version uint32 | model key [32]byte |
//	corpus key [32]byte | corpus size uint64 |
//	poems key: length uint8, bytes | engine: length uint8, bytes |
//	poems read uint32 | malformed lines uint32 | poems encoded uint32 | latent uint32 |
//	poems encoded × (line uint32, place among those read uint32) |
//	zeros to a multiple of 8 bytes | poems encoded × latent float64 |
//	CRC-32C of all before it uint32
//
// The codes are stored as the float64 values the encoder returns, so that
// a cached search answers exactly as a fresh one, and where they fall on a
// multiple of 8 bytes, so that they are read in place. The checksum
// catches a damaged or truncated file before any of it is trusted.
// Version 1 keyed the model by a digest of its weights and the corpus by
// its poems alone, which every query had to hash and read, and ended with
// a SHA-256; its caches are encoded again. A change to what a corpus
// file's bytes read as (corpus.ReadFromLines) must change the version too:
// the cache of a file of the same bytes is trusted without reading them.
const (
	codesMagic   = "POETVAE-CODES\n"
	codesVersion = 2
)

// codesCRC is the checksum's polynomial: Castagnoli's, which the CPU
// computes (a SHA-256 of the 3.9 MB of 15,000 codes took a few ms of every
// query).
var codesCRC = crc32.MakeTable(crc32.Castagnoli)

// codesCache is what a cache of codes holds.
type codesCache struct {
	key      codesKey
	size     int64 // of the corpus file, in bytes
	all      int   // the poems read from the file, of every line count
	rejected int   // the malformed lines of the file
	latent   int
	lines    []int // the line of the file each poem encoded is on
	index    []int // the place of each poem encoded among those read
	codes    [][]float64
}

// staleCodes is a sound cache that cannot be used.
type staleCodes struct{ what string }

func (e *staleCodes) Error() string { return "the cache holds " + e.what }

func writeCodes(path string, cc *codesCache) error {
	n := len(cc.codes)
	buf := make([]byte, 0, len(codesMagic)+4+2*sha256.Size+8+2+len(cc.key.poems)+len(cc.key.engine)+16+8*n+7+8*n*cc.latent+4)
	buf = append(buf, codesMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, codesVersion)
	buf = append(buf, cc.key.model[:]...)
	buf = append(buf, cc.key.corpus[:]...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(cc.size))
	for _, s := range []string{cc.key.poems, cc.key.engine} {
		if len(s) > math.MaxUint8 {
			return fmt.Errorf("writing %s: a key of %d bytes", path, len(s)) // never: both are short names
		}
		buf = append(append(buf, byte(len(s))), s...)
	}
	for _, v := range []int{cc.all, cc.rejected, n, cc.latent} {
		if v < 0 || v > math.MaxUint32 {
			return fmt.Errorf("writing %s: a count of %d", path, v)
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
	}
	for i := range n {
		if cc.lines[i] < 1 || cc.lines[i] > math.MaxUint32 || cc.index[i] < 0 || cc.index[i] >= cc.all {
			return fmt.Errorf("writing %s: poem %d at line %d, the %dth of %d", path, i+1, cc.lines[i], cc.index[i]+1, cc.all) // never
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(cc.lines[i]))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(cc.index[i]))
	}
	for len(buf)%8 != 0 {
		buf = append(buf, 0)
	}
	for _, z := range cc.codes {
		if len(z) != cc.latent {
			return fmt.Errorf("writing %s: codes of %d and %d values", path, cc.latent, len(z)) // never
		}
		for _, v := range z {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, codesCRC))

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

// readCodes reads the cache of codes at path. The error wraps
// fs.ErrNotExist when there is none, is a *staleCodes for a cache of
// another format version, and says what is wrong with a damaged file.
func readCodes(path string) (*codesCache, error) {
	data, err := readMapped(path) // the codes are used in place, never written
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(codesMagic)) {
		return nil, errors.New("not a cache of codes")
	}
	r := data[len(codesMagic):]
	if len(r) < 4 {
		return nil, errors.New("truncated")
	}
	// The version first: version 1 ended with a SHA-256, not a CRC.
	if v := binary.LittleEndian.Uint32(r); v != codesVersion {
		if v == 1 && len(data) >= len(codesMagic)+4+sha256.Size {
			body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
			if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
				return nil, errors.New("checksum mismatch: damaged or truncated")
			}
		}
		return nil, &staleCodes{fmt.Sprintf("codes in format version %d, not %d", v, codesVersion)}
	}
	if len(r) < 8 {
		return nil, errors.New("truncated")
	}
	body := data[:len(data)-4]
	if binary.LittleEndian.Uint32(data[len(body):]) != crc32.Checksum(body, codesCRC) {
		return nil, errors.New("checksum mismatch: damaged or truncated")
	}
	r = body[len(codesMagic)+4:]
	truncated := errors.New("truncated header")
	if len(r) < 2*sha256.Size+8 {
		return nil, truncated
	}
	cc := &codesCache{}
	cc.key.model = [sha256.Size]byte(r)
	cc.key.corpus = [sha256.Size]byte(r[sha256.Size:])
	cc.size = int64(binary.LittleEndian.Uint64(r[2*sha256.Size:]))
	r = r[2*sha256.Size+8:]
	for _, s := range []*string{&cc.key.poems, &cc.key.engine} {
		if len(r) < 1 || len(r) < 1+int(r[0]) {
			return nil, truncated
		}
		*s, r = string(r[1:1+int(r[0])]), r[1+int(r[0]):]
	}
	if len(r) < 16 {
		return nil, truncated
	}
	var n int
	for i, v := range []*int{&cc.all, &cc.rejected, &n, &cc.latent} {
		*v = int(binary.LittleEndian.Uint32(r[4*i:]))
	}
	r = r[16:]
	pad := (8 - (len(body)-len(r)+8*n)%8) % 8
	if cc.size < 0 || n > cc.all || len(r) != 8*n+pad+8*n*cc.latent {
		return nil, fmt.Errorf("%d codes of %d values (of %d poems) in %d bytes", n, cc.latent, cc.all, len(r))
	}
	cc.lines, cc.index = make([]int, n), make([]int, n)
	for i := range n {
		cc.lines[i] = int(binary.LittleEndian.Uint32(r[8*i:]))
		cc.index[i] = int(binary.LittleEndian.Uint32(r[8*i+4:]))
		if cc.lines[i] < 1 || cc.index[i] >= cc.all {
			return nil, fmt.Errorf("poem %d at line %d, the %dth of %d", i+1, cc.lines[i], cc.index[i]+1, cc.all)
		}
	}
	r = r[8*n+pad:]
	d := cc.latent
	flat := float64sAt(r)
	cc.codes = make([][]float64, n)
	for i := range cc.codes {
		cc.codes[i] = flat[i*d : (i+1)*d : (i+1)*d]
	}
	return cc, nil
}

// float64sAt returns the little-endian float64s of b: b itself, read in
// place, where the machine is little-endian and b falls on a multiple of 8
// bytes in memory (as a file's codes do in the buffer it was read into),
// else a copy.
func float64sAt(b []byte) []float64 {
	n := len(b) / 8
	if n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%8 == 0 {
		return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// littleEndian says whether the machine stores numbers as the cache does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

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

// credits returns the credit of each neighbour, of the given poems: from
// the comment lines of the sample corpus, or from the metadata of a corpus
// file.
func (sc *searchCorpus) credits(c *cli.Context, near []model.Neighbor, poems []poetry.Poem) ([]credit, error) {
	out := make([]credit, len(near))
	if sc.path == "" {
		known := corpus.SampleCredits()
		for i, p := range poems {
			cr := known[p.Text()]
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
	// The metadata matches the poems by their text, or by their places
	// among all the poems read (whose text it needs not).
	all := make([]corpusPoem, sc.allCount())
	for i, p := range sc.all {
		all[i] = corpusPoem{poem: p, file: sc.path, index: i}
	}
	targets := make([]corpusPoem, len(near))
	for i, n := range near {
		at := sc.allIndex(n.Index)
		targets[i] = corpusPoem{poem: poems[i], file: sc.path, index: at}
	}
	rows, err := meta.match(all, targets)
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

func printNeighbors(c *cli.Context, query poetry.Poem, sc *searchCorpus, metric model.Metric, poems []poetry.Poem, near []model.Neighbor, credits []credit) error {
	w := c.App.Writer
	if c.Bool("json") {
		out := struct {
			Poem      string            `json:"poem"`
			Corpus    string            `json:"corpus"`
			Poems     int               `json:"poems"`
			Metric    string            `json:"metric"`
			Neighbors []neighborOutJSON `json:"neighbors"`
		}{Poem: query.String(), Corpus: sc.name, Poems: sc.searched(), Metric: metric.String(), Neighbors: []neighborOutJSON{}}
		for i, n := range near {
			out.Neighbors = append(out.Neighbors, neighborOutJSON{i + 1, n.Distance, poems[i].String(), credits[i]})
		}
		return writeJSON(w, out)
	}
	what := "cosine distance (1 − cos θ)"
	if metric == model.Euclidean {
		what = "Euclidean distance"
	}
	fmt.Fprintf(w, "%d nearest of %s in %s to %s, by %s between posterior means:\n",
		len(near), count(sc.searched(), "poem"), sc.name, query, what)
	width := len(strconv.Itoa(len(near)))
	for i, n := range near {
		line := fmt.Sprintf("%*d  %.4f  %s", width, i+1, n.Distance, poems[i])
		if cr := credits[i].String(); cr != "" {
			line += "  " + cr
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
