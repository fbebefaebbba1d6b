package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// neighborRow is a line of neighbors' output.
type neighborRow struct {
	rank     int
	distance float64
	poem     string
	credit   string
}

// runNeighbors runs poetvae neighbors ARGS, which must succeed, and
// returns its output: the header, the rows, and stderr.
func runNeighbors(t *testing.T, args ...string) (header string, rows []neighborRow, stderr string) {
	t.Helper()
	args = append([]string{"neighbors"}, args...)
	code, out, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
	}
	ls := lines(out)
	if len(ls) < 2 {
		t.Fatalf("poetvae %s: output %q", strings.Join(args, " "), out)
	}
	for _, l := range ls[1:] {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("poetvae %s: row %q", strings.Join(args, " "), l)
		}
		r := neighborRow{poem: f[2], credit: strings.Join(f[3:], " ")}
		var err1, err2 error
		r.rank, err1 = strconv.Atoi(f[0])
		r.distance, err2 = strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("poetvae %s: row %q", strings.Join(args, " "), l)
		}
		rows = append(rows, r)
	}
	return ls[0], rows, stderr
}

// checkRows checks the ranks, the order of the distances, and that the
// first neighbour is want at distance 0.
func checkRows(t *testing.T, rows []neighborRow, k int, want string) {
	t.Helper()
	if len(rows) != k {
		t.Errorf("%d neighbours, want %d", len(rows), k)
	}
	for i, r := range rows {
		if r.rank != i+1 {
			t.Errorf("row %d has rank %d", i+1, r.rank)
		}
		if i > 0 && r.distance < rows[i-1].distance {
			t.Errorf("neighbours out of order: %v", rows)
		}
	}
	if len(rows) > 0 && (rows[0].poem != want || rows[0].distance > 1e-4) {
		t.Errorf("nearest neighbour %+v, want %s at distance 0", rows[0], want)
	}
}

// TestNeighbors searches the built-in sample corpus: a poem of it is its
// own nearest neighbour by either metric, named by its author and title.
func TestNeighbors(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	for _, metric := range []string{"cosine", "euclidean"} {
		header, rows, stderr := runNeighbors(t, "--model", m, "--metric", metric, "--k", "5", jingYeSi)
		checkRows(t, rows, 5, jingYeSi)
		if !strings.Contains(strings.ToLower(header), metric) || !strings.Contains(header, "sample corpus") {
			t.Errorf("--metric %s: header %q names neither the metric nor the corpus", metric, header)
		}
		if len(rows) > 0 && rows[0].credit != "李白《静夜思》（通行本）" {
			t.Errorf("credit of 静夜思: %q", rows[0].credit)
		}
		for _, r := range rows {
			if !strings.Contains(r.credit, "《") {
				t.Errorf("no author and title for %s: %q", r.poem, r.credit)
			}
		}
		if stderr != "" {
			t.Errorf("stderr: %q", stderr)
		}
	}
	// The default metric is cosine, which keeps distances within [0, 2].
	header, rows, _ := runNeighbors(t, "--model", m, "--k", "200", dengGuanQ)
	checkRows(t, rows, 137, dengGuanQ) // --k over the corpus: all of it
	if !strings.Contains(header, "cosine") {
		t.Errorf("default metric: header %q", header)
	}
	for _, r := range rows {
		if r.distance < 0 || r.distance > 2 {
			t.Errorf("cosine distance %g", r.distance)
		}
	}

	// A simplified poem read by a traditional model, or the other way
	// round, is the same poem.
	code, out, _ := poetvae(t, "neighbors", "--model", m, "--json", "--k", "3", chunXiao)
	if code != 0 {
		t.Fatalf("--json: status %d", code)
	}
	var got struct {
		Poem      string
		Corpus    string
		Poems     int
		Metric    string
		Neighbors []struct {
			Rank     int
			Distance float64
			Poem     string
			Author   string
			Title    string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if got.Poem != chunXiao || got.Metric != "cosine" || got.Poems != 137 || len(got.Neighbors) != 3 {
		t.Errorf("--json: %+v", got)
	}
	if n := got.Neighbors[0]; n.Rank != 1 || n.Poem != chunXiao || n.Distance > 1e-4 || n.Author != "孟浩然" || n.Title != "春晓" {
		t.Errorf("--json: nearest %+v", n)
	}
}

// sampleCopy writes the poems of the sample corpus to name in the working
// directory, one a line, and returns them.
func sampleCopy(t *testing.T, name string) []poetry.Poem {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, p := range poems {
		fmt.Fprintln(&text, p)
	}
	writeFile(t, name, text.String())
	return poems
}

// TestNeighborsCache: the codes of a corpus file are cached beside it, read
// by the next query, and encoded again when the model or the corpus
// changed or the cache is damaged.
func TestNeighborsCache(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	poems := sampleCopy(t, "poems.txt")
	cache := ".poems.txt" + codesSuffix
	args := []string{"--model", m, "--corpus", "poems.txt", "--k", "4", jingYeSi}

	_, first, stderr := runNeighbors(t, args...)
	checkRows(t, first, 4, jingYeSi)
	if !strings.Contains(stderr, "cached in "+cache) {
		t.Errorf("first query: stderr %q does not say where the codes are cached", stderr)
	}
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache after the first query: %v", err)
	}
	assertNoTempFiles(t)
	// The same answer from the cache, silently.
	same := func(what string) {
		t.Helper()
		_, rows, stderr := runNeighbors(t, args...)
		if !slices.Equal(rows, first) {
			t.Errorf("%s: %v, want %v", what, rows, first)
		}
		if stderr != "" {
			t.Errorf("%s: stderr %q", what, stderr)
		}
	}
	same("second query")

	// The cache is what the second query read: the same file with the
	// codes moved one poem along is trusted, and answers otherwise. It
	// names the model by its file's checksum and the corpus by its bytes
	// and its poems.
	ck, err := model.Load(m)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := readCodes(cache)
	if err != nil {
		t.Fatalf("reading the cache: %v", err)
	}
	text, err := os.ReadFile("poems.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := codesKey{model: ck.Sum, corpus: sha256.Sum256(text), poems: model.Fingerprint(poems), engine: "cpu"}
	if cc.key != want || cc.size != int64(len(text)) || cc.all != len(poems) || cc.rejected != 0 || len(cc.codes) != len(poems) {
		t.Errorf("cache of key %+v, size %d, %d poems read, %d rejected, %d codes; want key %+v, size %d, %d poems",
			cc.key, cc.size, cc.all, cc.rejected, len(cc.codes), want, len(text), len(poems))
	}
	codes := cc.codes
	moved := *cc
	moved.codes = append(slices.Clone(codes[1:]), codes[0])
	if err := writeCodes(cache, &moved); err != nil {
		t.Fatal(err)
	}
	_, rows, _ := runNeighbors(t, args...)
	at := slices.IndexFunc(poems, func(p poetry.Poem) bool { return p.String() == jingYeSi })
	if want := poems[at-1].String(); rows[0].poem != want {
		t.Errorf("the moved codes were not read: nearest %s, want %s", rows[0].poem, want)
	}

	// Damaged, truncated, or not a cache at all: a note, the corpus
	// encoded again, the same answer, and the cache good again.
	if err := writeCodes(cache, cc); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		word string
	}{
		{"a flipped byte", flip(good, len(good)/2), "checksum"},
		{"truncated", good[:len(good)/2], "checksum"},
		{"empty", nil, "not a cache"},
		{"text", []byte("床前明月光\n"), "not a cache"},
	} {
		writeFile(t, cache, string(tc.data))
		_, rows, stderr := runNeighbors(t, args...)
		if !slices.Equal(rows, first) {
			t.Errorf("%s cache: %v, want %v", tc.name, rows, first)
		}
		mentions(t, args, stderr, "cannot use "+cache, tc.word, "encoding poems.txt again", "cached in")
		same("after a " + tc.name + " cache")
	}

	// A comment, or a poem repeated, leaves the poems as they were, and
	// the cache good: it is made the changed file's, which the next query
	// need not read.
	appendLines(t, "poems.txt", "# 又一首", jingYeSi)
	same("after a comment and a repeated poem were added")
	text, err = os.ReadFile("poems.txt")
	if err != nil {
		t.Fatal(err)
	}
	if cc, err := readCodes(cache); err != nil || cc.key.corpus != sha256.Sum256(text) || cc.size != int64(len(text)) {
		t.Errorf("after a comment was added, the cache is not the file's: %v", err)
	}
	same("again after a comment and a repeated poem were added")
	// A comment put first moves every poem a line down: the poems shown
	// are those of the lines they are on now.
	writeFile(t, "poems.txt", "# 唐诗\n"+string(text))
	same("after a comment was put first")
	same("again after a comment was put first")

	// Another poem in the corpus: its codes are not in the cache.
	const extra = "明月照山空，春风入故乡。花落知何处，夜来思不归。" // not in the sample
	appendLines(t, "poems.txt", extra)
	_, rows, stderr = runNeighbors(t, "--model", m, "--corpus", "poems.txt", "--k", "3", extra)
	mentions(t, args, stderr, "the corpus changed", "encoding poems.txt again")
	checkRows(t, rows, 3, extra)
	_, rows, stderr = runNeighbors(t, args...)
	if stderr != "" || !slices.Equal(rows, first) {
		t.Errorf("after the corpus changed: %v, stderr %q", rows, stderr)
	}

	// Another model: encoded again, and cached for that model instead.
	other := untrainedModel(t, poems, 2)
	_, rows, stderr = runNeighbors(t, "--model", other, "--corpus", "poems.txt", "--k", "2", jingYeSi)
	mentions(t, args, stderr, "another model", "encoding poems.txt again", "cached in")
	checkRows(t, rows, 2, jingYeSi)
	_, _, stderr = runNeighbors(t, args...)
	mentions(t, args, stderr, "another model")
	assertNoTempFiles(t)
}

func appendLines(t *testing.T, name string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// untrainedModel saves a model of random weights over the poems'
// characters, of the shared model's sizes, and returns its path.
func untrainedModel(t testing.TB, poems []poetry.Poem, seed uint64) string {
	t.Helper()
	v := corpus.BuildVocab(poems, 1)
	c := model.Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 16, DecHidden: 16, Latent: 4}
	m, err := model.NewModel(c, v, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "untrained.ckpt")
	if err := (&model.Checkpoint{Model: m}).Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNeighborsNoCache: where the cache cannot be written, the query
// answers all the same, and says so.
func TestNeighborsNoCache(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	sampleCopy(t, "poems.txt")
	args := []string{"--model", m, "--corpus", "poems.txt", "--k", "3", jingYeSi}
	// A folder where the cache would go: it can be neither read nor
	// replaced, whoever runs the test.
	cache := ".poems.txt" + codesSuffix
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, rows, stderr := runNeighbors(t, args...)
		checkRows(t, rows, 3, jingYeSi)
		mentions(t, args, stderr, "cannot cache the codes of poems.txt", "encoded again at the next query")
	}
	assertNoTempFiles(t)
	os.Remove(cache)

	if os.Geteuid() == 0 {
		t.Log("running as root, which may write anywhere: not checked in a read-only folder")
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	corpusPath := filepath.Join(dir, "poems.txt")
	data, _ := os.ReadFile("poems.txt")
	writeFile(t, corpusPath, string(data))
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	_, rows, stderr := runNeighbors(t, "--model", m, "--corpus", corpusPath, "--k", "3", jingYeSi)
	checkRows(t, rows, 3, jingYeSi)
	mentions(t, args, stderr, "cannot cache", "permission denied")
}

// TestNeighborsMeta: authors and titles from a metadata file, given or
// found beside the corpus.
func TestNeighborsMeta(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	poems := sampleCopy(t, "tang_valid.txt")
	// By text, in the other script and in another order, as the shared
	// data's metadata is.
	var meta strings.Builder
	meta.WriteString("author\ttitle\tsource\ttext_simplified\n")
	for i := len(poems) - 1; i >= 0; i-- {
		fmt.Fprintf(&meta, "poet%d\ttitle %d\tsample\t%s\n", i, i, poems[i])
	}
	writeFile(t, "tang_meta.tsv", meta.String())
	at := slices.IndexFunc(poems, func(p poetry.Poem) bool { return p.String() == jingYeSi })
	want := fmt.Sprintf("poet%d《title %d》", at, at)

	args := []string{"--model", m, "--corpus", "tang_valid.txt", "--k", "5", jingYeSi}
	_, rows, _ := runNeighbors(t, args...)
	checkRows(t, rows, 5, jingYeSi)
	if rows[0].credit != want {
		t.Errorf("credit from tang_meta.tsv beside the corpus: %q, want %q", rows[0].credit, want)
	}
	for _, r := range rows {
		i := slices.IndexFunc(poems, func(p poetry.Poem) bool { return p.String() == r.poem })
		if w := fmt.Sprintf("poet%d《title %d》", i, i); r.credit != w {
			t.Errorf("credit of %s: %q, want %q", r.poem, r.credit, w)
		}
	}

	// --meta names another file, here without a header (as corpus import
	// --meta writes it) and with authors only for some poems.
	var imported strings.Builder
	for i, p := range poems {
		author := ""
		if i != at {
			author = "someone"
		}
		fmt.Fprintf(&imported, "%s\ttitle\tsample\t%s\n", author, p)
	}
	writeFile(t, "imported.tsv", imported.String())
	_, rows, _ = runNeighbors(t, "--model", m, "--corpus", "tang_valid.txt", "--meta", "imported.tsv", "--k", "2", jingYeSi)
	if rows[0].credit != "《title》" || rows[1].credit != "someone《title》" {
		t.Errorf("credits from --meta imported.tsv: %v", rows)
	}

	// --meta "" reads none.
	_, rows, _ = runNeighbors(t, "--model", m, "--corpus", "tang_valid.txt", "--meta", "", "--k", "2", jingYeSi)
	if rows[0].credit != "" {
		t.Errorf(`--meta "": credit %q`, rows[0].credit)
	}

	// A file beside the corpus that cannot name its poems is a note; the
	// same file given with --meta, an error.
	writeFile(t, "tang_meta.tsv", "author\ttitle\npoet\ttitle\n")
	_, rows, stderr := runNeighbors(t, args...)
	checkRows(t, rows, 5, jingYeSi)
	mentions(t, args, stderr, "tang_meta.tsv", "no text column")
	if rows[0].credit != "" {
		t.Errorf("credit from a metadata file that does not match: %q", rows[0].credit)
	}
	bad := []string{"neighbors", "--model", m, "--corpus", "tang_valid.txt", "--meta", "tang_meta.tsv", jingYeSi}
	code, out, stderr := poetvae(t, bad...)
	failed(t, bad, code, out, stderr, 1, "tang_meta.tsv", "no text column")
	writeFile(t, "nothing.tsv", "source\tid\na\t1\n")
	bad = []string{"neighbors", "--model", m, "--corpus", "tang_valid.txt", "--meta", "nothing.tsv", jingYeSi}
	code, out, stderr = poetvae(t, bad...)
	failed(t, bad, code, out, stderr, 1, "nothing.tsv", "no author or title column")
}

func TestNeighborsErrors(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeFile(t, "empty.txt", "# no poems\n")
	tests := []struct {
		args  []string
		code  int
		words []string
	}{
		{[]string{"neighbors", "--model", m}, 2, []string{"needs one poem"}},
		{[]string{"neighbors", "--model", m, jingYeSi, dengGuanQ}, 2, []string{"needs one poem"}},
		{[]string{"neighbors", "--model", m, "--k", "0", jingYeSi}, 2, []string{"--k must be at least 1"}},
		{[]string{"neighbors", "--model", m, "--k", "many", jingYeSi}, 2, []string{"many"}},
		{[]string{"neighbors", "--model", m, "--metric", "manhattan", jingYeSi}, 2, []string{"manhattan", "cosine or euclidean"}},
		{[]string{"neighbors", "--model", m, jingYeSi, "--k", "3"}, 2, []string{"--k comes after the arguments"}},
		{[]string{"neighbors", "--model", m, "--meta", "meta.tsv", jingYeSi}, 2, []string{"--meta needs --corpus"}},
		{[]string{"neighbors", "--model", m, "--corpus", "none.txt", jingYeSi}, 1, []string{"none.txt", "no such file"}},
		{[]string{"neighbors", "--model", m, "--corpus", "empty.txt", jingYeSi}, 1, []string{"empty.txt"}},
		{[]string{"neighbors", "--model", m, "--corpus", m, jingYeSi}, 1, []string{"is a poetvae model, not a corpus"}},
		{[]string{"neighbors", "--model", m, "床前明月光，疑是地上霜。"}, 2, []string{"2 lines", "4-line"}},
	}
	for _, tt := range tests {
		code, out, stderr := poetvae(t, tt.args...)
		failed(t, tt.args, code, out, stderr, tt.code, tt.words...)
	}
	assertNoTempFiles(t)
}

// The benchmarks time a query of a corpus of 15,000 poems whose codes are
// cached: the search alone, the cache's read alone, and the whole command
// with a model of the default sizes.

const benchPoems, benchLatent = 15000, 32

func randomCodes(n, d int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 5))
	codes := make([][]float64, n)
	for i := range codes {
		codes[i] = make([]float64, d)
		for j := range codes[i] {
			codes[i][j] = rng.NormFloat64()
		}
	}
	return codes
}

// timeMedian runs f b.N times and reports the median time of a run beside
// the mean, which a busy machine's slowest runs pull up.
func timeMedian(b *testing.B, f func()) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		f()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/1e6, "median-ms")
}

func BenchmarkNeighborsSearch(b *testing.B) {
	codes := randomCodes(benchPoems, benchLatent, 1)
	z := randomCodes(1, benchLatent, 2)[0]
	timeMedian(b, func() { model.Nearest(codes, z, defaultNeighbors, model.Cosine) })
}

func BenchmarkNeighborsCacheRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), ".poems.txt"+codesSuffix)
	cc := &codesCache{key: codesKey{poems: "0123456789abcdef", engine: "cpu"}, all: benchPoems, latent: benchLatent,
		codes: randomCodes(benchPoems, benchLatent, 1), lines: make([]int, benchPoems), index: make([]int, benchPoems)}
	for i := range benchPoems {
		cc.lines[i], cc.index[i] = i+1, i
	}
	if err := writeCodes(path, cc); err != nil {
		b.Fatal(err)
	}
	timeMedian(b, func() {
		if _, err := readCodes(path); err != nil {
			b.Fatal(err)
		}
	})
}

// cacheCodes caches codes as those of the poems of the model's line count
// of a corpus file, under the key that neighbors computes.
func cacheCodes(t testing.TB, corpusPath, modelPath string, codes func(n, latent int) [][]float64) {
	t.Helper()
	data, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := model.Load(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := &searchCorpus{name: corpusPath, path: corpusPath, data: data, size: int64(len(data)), sum: sha256.Sum256(data)}
	var rep *corpus.Report
	if sc.all, sc.lines, rep, err = corpus.ReadFromLines(bytes.NewReader(data), corpusPath); err != nil {
		t.Fatal(err)
	}
	sc.rejected = rep.Rejected()
	if err := sc.selectLines(ck.Model.Config.Lines); err != nil {
		t.Fatal(err)
	}
	key := codesKey{model: ck.Sum, corpus: sc.sum, poems: model.Fingerprint(sc.poems), engine: "cpu"}
	if err := writeCodes(codesPath(corpusPath), sc.newCache(key, codes(len(sc.poems), ck.Model.Config.Latent))); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNeighborsCached runs poetvae neighbors over 15,000 random poems
// of 6,000 characters with a model of random weights of the default sizes
// (latent 32), its codes cached beforehand (random codes, under the key
// the command computes): the time of a query from start to end, loading
// the model included.
func BenchmarkNeighborsCached(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 5))
	var text strings.Builder
	seen := map[string]bool{}
	for len(seen) < benchPoems {
		chars := make([]rune, 20)
		for i := range chars {
			chars[i] = rune(0x4e00 + rng.IntN(6000))
		}
		p, err := poetry.New(chars)
		if err != nil {
			b.Fatal(err)
		}
		if !seen[p.Text()] {
			seen[p.Text()] = true
			fmt.Fprintln(&text, p)
		}
	}
	corpusPath := filepath.Join(dir, "poems.txt")
	if err := os.WriteFile(corpusPath, []byte(text.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	poems, _, err := corpus.Read(corpusPath)
	if err != nil {
		b.Fatal(err)
	}
	v := corpus.BuildVocab(poems, 1)
	m, err := model.NewModel(model.DefaultConfig(v.Size(), 4), v, 1)
	if err != nil {
		b.Fatal(err)
	}
	modelPath := filepath.Join(dir, "m.ckpt")
	if err := (&model.Checkpoint{Model: m}).Save(modelPath); err != nil {
		b.Fatal(err)
	}
	cacheCodes(b, corpusPath, modelPath, func(n, latent int) [][]float64 { return randomCodes(n, latent, 4) })
	args := []string{"poetvae", "neighbors", "--model", modelPath, "--corpus", corpusPath, poems[0].String()}
	var stderr strings.Builder
	if code := run(args, io.Discard, &stderr); code != 0 || stderr.Len() > 0 {
		b.Fatalf("status %d: %s", code, stderr.String()) // a note would say the cache was not read
	}
	timeMedian(b, func() { run(args, io.Discard, io.Discard) })
}
