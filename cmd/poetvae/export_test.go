package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/x448/float16"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// modelWithSampler saves the shared model with a sampling mixture and
// rhyme classes of its own, so that their export is tested whether or not
// training kept them (from the few poems of the sample, it keeps neither),
// and returns the file and the model.
func modelWithSampler(t *testing.T) (string, *model.Model) {
	t.Helper()
	ck, err := model.Load(sharedModel(t))
	if err != nil {
		t.Fatal(err)
	}
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.FitSampler(ck.Model, ofLines(poems, ck.Model.Config.Lines), 3, 1); err != nil {
		t.Fatal(err)
	}
	ck.Model.SetRhymes(poetry.LearnRhymes(poems, poetry.LearnOptions{}))
	if ck.Model.Rhymes.Len() == 0 {
		t.Fatal("no rhyme classes learned from the sample")
	}
	path := filepath.Join(t.TempDir(), "sampler.ckpt")
	if err := ck.Save(path); err != nil {
		t.Fatal(err)
	}
	return path, ck.Model
}

// stEntry is a tensor as a safetensors header lists it.
type stEntry struct {
	Name    string
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// parseSafetensors reads a safetensors file as the format defines it and
// checks its framing: a header length that is a multiple of 8, and tensors
// that tile the data in the order the header lists them. It returns the
// metadata and the tensors in the header's order.
func parseSafetensors(t *testing.T, path string) (map[string]string, []stEntry) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 8 {
		t.Fatalf("%s: %d bytes, shorter than the header length", path, len(raw))
	}
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 {
		t.Errorf("%s: header of %d bytes, not a multiple of 8", path, n)
	}
	if 8+n > uint64(len(raw)) {
		t.Fatalf("%s: header of %d bytes in a file of %d", path, n, len(raw))
	}
	header, data := raw[8:8+n], raw[8+n:]
	if trimmed := bytes.TrimRight(header, " "); !bytes.HasSuffix(trimmed, []byte("}")) {
		t.Errorf("%s: header padded with something other than spaces", path)
	}

	// Read the header's keys in order: json.Unmarshal into a map would
	// lose it, and the order is meant to be that of the data.
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: header is not a JSON object: %v", path, err)
	}
	var meta map[string]string
	var entries []stEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: header: %v", path, err)
		}
		name := tok.(string)
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				t.Fatalf("%s: __metadata__ is not an object of strings: %v", path, err)
			}
			continue
		}
		e := stEntry{Name: name}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s: tensor %s: %v", path, name, err)
		}
		entries = append(entries, e)
	}

	var at int64
	for _, e := range entries {
		width := map[string]int64{"F16": 2, "F32": 4}[e.Dtype]
		if width == 0 {
			t.Errorf("%s: tensor %s has dtype %q", path, e.Name, e.Dtype)
			continue
		}
		size := width
		for _, d := range e.Shape {
			size *= int64(d)
		}
		if e.Offsets[0] != at || e.Offsets[1]-e.Offsets[0] != size {
			t.Errorf("%s: tensor %s %v at %v; want %d bytes from %d", path, e.Name, e.Shape, e.Offsets, size, at)
		}
		at = e.Offsets[1]
	}
	if at != int64(len(data)) {
		t.Errorf("%s: tensors end at %d of %d bytes of data", path, at, len(data))
	}
	return meta, entries
}

// safetensorsReader runs a Python script that summarises a safetensors
// file as JSON (pySummary).
type safetensorsReader struct {
	name string // what reads the file, for messages
	cmd  func(file string) *exec.Cmd
}

// safetensorsReaders returns the readers of the exported files that are
// here: testdata/read_safetensors.py, the format read with Python's
// standard library alone, under python3; and Python's safetensors package
// itself (testdata/read_safetensors_package.py) under the Python that
// testdata/fetch_safetensors_python.sh unpacks into bin/safetensors-python
// (make test fetches it), or $POETVAE_SAFETENSORS_PYTHON. CI must have both.
func safetensorsReaders(t *testing.T) []safetensorsReader {
	t.Helper()
	script := func(name string) string {
		path, err := filepath.Abs(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	var readers []safetensorsReader
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: CI must check the safetensors file with it", what)
		}
		t.Logf("%s: the exported values are not checked with it", what)
	}
	if python, err := exec.LookPath("python3"); err == nil {
		stdlib := script("read_safetensors.py")
		readers = append(readers, safetensorsReader{"read_safetensors.py", func(file string) *exec.Cmd {
			return exec.Command(python, stdlib, file)
		}})
	} else {
		missing("python3 not found")
	}
	python := os.Getenv("POETVAE_SAFETENSORS_PYTHON")
	if python == "" {
		python = script(filepath.Join("..", "..", "..", "bin", "safetensors-python", "python3"))
	}
	if _, err := os.Stat(python); err == nil {
		pkg := script("read_safetensors_package.py")
		readers = append(readers, safetensorsReader{"Python's safetensors package", func(file string) *exec.Cmd {
			return exec.Command(python, pkg, file)
		}})
	} else {
		missing("no Python with the safetensors package at " + python + " (make test fetches one)")
	}
	return readers
}

// want is an exported tensor as the model holds it.
type want struct {
	shape []int
	vals  []float64
	half  bool
}

type pyTensor struct {
	Dtype string    `json:"dtype"`
	Shape []int     `json:"shape"`
	First []float64 `json:"first"`
	Sum   float64   `json:"sum"`
}

type pySummary struct {
	Metadata map[string]string   `json:"metadata"`
	Tensors  map[string]pyTensor `json:"tensors"`
}

// float16Error is how far from x its nearest float16 may be: half a unit in
// the last place, which is 2⁻¹¹ of x for a normal number and 2⁻²⁵ below
// 2⁻¹⁴, where float16 is subnormal.
func float16Error(x float64) float64 {
	return max(math.Abs(x)*0x1p-11, 0x1p-25)
}

func TestExportSafetensors(t *testing.T) {
	readers := safetensorsReaders(t) // before inTempDir, which leaves the package directory
	ckpt, m := modelWithSampler(t)
	inTempDir(t)

	weights := func(half bool) map[string]want {
		w := map[string]want{}
		for i, name := range m.Params.Names {
			w[name] = want{shape: m.Params.Values[i].Shape().Clone(), vals: m.Params.Float64s(i), half: half}
		}
		var means, vars []float64
		for k := range m.Sampler.Weights {
			means = append(means, m.Sampler.Means[k]...)
			vars = append(vars, m.Sampler.Vars[k]...)
		}
		K, Z := len(m.Sampler.Weights), m.Config.Latent
		w["sampler.weights"] = want{shape: []int{K}, vals: m.Sampler.Weights}
		w["sampler.means"] = want{shape: []int{K, Z}, vals: means}
		w["sampler.vars"] = want{shape: []int{K, Z}, vals: vars}
		return w
	}

	for _, half := range []bool{false, true} {
		out, dtype := "m.safetensors", "F32"
		args := []string{"export", "--model", ckpt, "--safetensors", out}
		if half {
			out, dtype = "m16.safetensors", "F16"
			args = []string{"export", "--model", ckpt, "--float16", "--safetensors", out}
		}
		t.Run(dtype, func(t *testing.T) {
			code, stdout, stderr := poetvae(t, args...)
			if code != 0 {
				t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
			}
			mentions(t, args, stderr, "wrote "+out, "as "+dtype)
			if stdout != "" {
				t.Errorf("export wrote to stdout: %q", stdout)
			}
			assertNoTempFiles(t)
			wants := weights(half)

			// The Go reading of the header: names and shapes in the model's
			// order, the sampler after the parameters.
			meta, entries := parseSafetensors(t, out)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name)
				w := wants[e.Name]
				if !slices.Equal(e.Shape, w.shape) {
					t.Errorf("%s: shape %v, want %v", e.Name, e.Shape, w.shape)
				}
				if wantType := map[bool]string{false: "F32", true: "F16"}[w.half]; e.Dtype != wantType {
					t.Errorf("%s: dtype %s, want %s", e.Name, e.Dtype, wantType)
				}
			}
			if wantNames := append(slices.Clone(m.Params.Names), "sampler.weights", "sampler.means", "sampler.vars"); !slices.Equal(names, wantNames) {
				t.Errorf("tensors %v, want %v", names, wantNames)
			}

			// The metadata.
			if meta["format"] != "poetvae" {
				t.Errorf("metadata format %q, want poetvae", meta["format"])
			}
			var cfg model.Config
			if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil || cfg != m.Config {
				t.Errorf("metadata config %s (%v), want %+v", meta["config"], err, m.Config)
			}
			var vocab []string
			if err := json.Unmarshal([]byte(meta["vocab"]), &vocab); err != nil {
				t.Fatalf("metadata vocab: %v", err)
			}
			if len(vocab) != m.Vocab.Size() || len(vocab) != m.Config.Vocab {
				t.Fatalf("metadata vocab of %d entries, want %d", len(vocab), m.Vocab.Size())
			}
			if !slices.Equal(vocab[:corpus.NumSpecial], []string{"<pad>", "<bos>", "<eos>", "<unk>"}) {
				t.Errorf("vocab begins %q, want the special tokens", vocab[:corpus.NumSpecial])
			}
			for id := corpus.NumSpecial; id < len(vocab); id++ {
				if vocab[id] != string(m.Vocab.Rune(id)) {
					t.Fatalf("vocab[%d] = %q, want %q", id, vocab[id], string(m.Vocab.Rune(id)))
				}
			}
			var rc poetry.RhymeClasses
			if err := json.Unmarshal([]byte(meta["rhymes"]), &rc); err != nil || rc.Len() != m.Rhymes.Len() {
				t.Errorf("metadata rhymes: %d classes (%v), want %d", rc.Len(), err, m.Rhymes.Len())
			}

			// The values, as independent readers see them.
			if len(readers) == 0 {
				t.Skip("no Python here: the values are not checked with an independent reader")
			}
			for _, r := range readers {
				checkPythonReading(t, r, out, meta, wants)
			}
		})
	}

	// F16 halves the weights' share of the file.
	f32, err1 := os.Stat("m.safetensors")
	f16, err2 := os.Stat("m16.safetensors")
	if err1 == nil && err2 == nil && float64(f16.Size()) > 0.6*float64(f32.Size()) {
		t.Errorf("F16 file of %d bytes beside an F32 one of %d: want about half", f16.Size(), f32.Size())
	}
}

func TestFloat16Bits(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},     // 0.0999755859375, the nearest
		{1.0 / 3, 0x3555}, // rounds down
		{65504, 0x7bff},   // the largest finite float16
		{0x1p-14, 0x0400}, // the smallest normal
		{0x1p-24, 0x0001}, // the smallest subnormal
		{-0x1p-24, 0x8001},
		// Ties go to the even neighbour.
		{1 + 0x1p-11, 0x3c00},           // between 0x3c00 and 0x3c01
		{1 + 3*0x1p-11, 0x3c02},         // between 0x3c01 and 0x3c02
		{0x1p-25, 0x0000},               // half the smallest subnormal: to 0
		{3 * 0x1p-25, 0x0002},           // between subnormals 1 and 2
		{1 + 0x1p-11 + 0x1p-20, 0x3c01}, // just past the tie: up
		// Overflow and the values float16 cannot hold.
		{65519, 0x7bff}, // below the midpoint with the next power of two
		{65520, 0x7c00}, // the midpoint: to the even "65536", which is Inf
		{1e6, 0x7c00},
		{-1e6, 0xfc00},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{1e-10, 0x0000}, // underflow
	}
	for _, tt := range tests {
		if got := float16Bits(tt.in); got != tt.want {
			t.Errorf("float16Bits(%g) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	nan := float16Bits(float32(math.NaN()))
	if nan&0x7c00 != 0x7c00 || nan&0x03ff == 0 {
		t.Errorf("float16Bits(NaN) = %#04x, not a NaN", nan)
	}
}

// readTSV reads a file of tab-separated rows.
func readTSV(t *testing.T, path string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range lines(readText(t, path)) {
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

func TestExportProjector(t *testing.T) {
	ckpt := sharedModel(t)
	inTempDir(t)
	ck, err := model.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	m := ck.Model
	sample, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range sample {
		texts = append(texts, p.String())
	}
	// An 8-line poem, which this quatrain model leaves out, and a repeat.
	texts = append(texts, jingYeSi+dengGuanQ, jingYeSi)
	writeFile(t, "tang_sample.txt", strings.Join(texts, "\n")+"\n")
	var poems []poetry.Poem
	seen := map[string]bool{}
	for _, p := range sample {
		if p.NumLines() == m.Config.Lines && !seen[p.Text()] {
			seen[p.Text()] = true
			poems = append(poems, p)
		}
	}
	mu, _, err := m.Encode(poems)
	if err != nil {
		t.Fatal(err)
	}

	// Authors and titles for all but the last poem, found by their text.
	var meta strings.Builder
	meta.WriteString("author\ttitle\ttext\n")
	for i, p := range poems[:len(poems)-1] {
		fmt.Fprintf(&meta, "诗人%d\t题%d\t%s\n", i, i, p.String())
	}
	writeFile(t, "meta.tsv", meta.String())

	args := []string{"export", "--model", ckpt, "--projector", "tang_sample.txt", "--meta", "meta.tsv", "--out", "proj"}
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "left out 1 poem of other line counts", "1 of "+strconv.Itoa(len(poems))+" poems have no row in meta.tsv",
		"wrote "+count(len(poems), "code"), filepath.Join("proj", "tensor.tsv"), filepath.Join("proj", "metadata.tsv"))

	rows := readTSV(t, filepath.Join("proj", "tensor.tsv"))
	if len(rows) != len(poems) {
		t.Fatalf("tensor.tsv has %d rows for %d poems", len(rows), len(poems))
	}
	for i, row := range rows {
		if len(row) != m.Config.Latent {
			t.Fatalf("tensor.tsv row %d has %d values, want %d", i+1, len(row), m.Config.Latent)
		}
		for d, s := range row {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.Abs(v-mu[i][d]) > 1e-9*max(1, math.Abs(mu[i][d])) {
				t.Fatalf("tensor.tsv row %d value %d is %q, want the posterior mean %v", i+1, d+1, s, mu[i][d])
			}
		}
	}

	labels := readTSV(t, filepath.Join("proj", "metadata.tsv"))
	if want := []string{"poem", "rhyme", "author", "title", "dynasty"}; len(labels) == 0 || !slices.Equal(labels[0], want) {
		t.Fatalf("metadata.tsv header %q, want %q", labels[:min(1, len(labels))], want)
	}
	if len(labels) != len(poems)+1 {
		t.Fatalf("metadata.tsv has %d rows for %d poems and a header", len(labels), len(poems))
	}
	pros := m.Prosody()
	for i, p := range poems {
		author, title := fmt.Sprintf("诗人%d", i), fmt.Sprintf("题%d", i)
		if i == len(poems)-1 {
			author, title = "", ""
		}
		want := []string{p.String(), rhymeGroup(pros, p), author, title, "唐"} // tang in the file name
		if !slices.Equal(labels[i+1], want) {
			t.Errorf("metadata.tsv row %d: %q, want %q", i+2, labels[i+1], want)
		}
	}

	// Without metadata and a file name that names no dynasty: the poem and
	// its rhyme, still two columns and so a header.
	writeFile(t, "poems.txt", strings.Join(texts, "\n")+"\n")
	code, _, stderr = poetvae(t, "export", "--model", ckpt, "--projector", "poems.txt", "--out", "plain")
	if code != 0 {
		t.Fatalf("export --projector poems.txt: status %d, stderr:\n%s", code, stderr)
	}
	labels = readTSV(t, filepath.Join("plain", "metadata.tsv"))
	if len(labels) != len(poems)+1 || !slices.Equal(labels[0], []string{"poem", "rhyme"}) {
		t.Errorf("metadata.tsv without --meta: %d rows, header %q; want %d, [poem rhyme]", len(labels), labels[0], len(poems)+1)
	}

	// Again into the same directory: refused, then replaced with --force.
	before := readText(t, filepath.Join("proj", "metadata.tsv"))
	args = []string{"export", "--model", ckpt, "--projector", "poems.txt", "--out", "proj"}
	code, stdout, stderr := poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 1, filepath.Join("proj", "tensor.tsv"), "already exists", "--force")
	if readText(t, filepath.Join("proj", "metadata.tsv")) != before {
		t.Error("a refused export changed metadata.tsv")
	}
	if code, _, stderr := poetvae(t, "export", "--model", ckpt, "--force", "--projector", "poems.txt", "--out", "proj"); code != 0 {
		t.Fatalf("export --force: status %d, stderr:\n%s", code, stderr)
	}
	if readText(t, filepath.Join("proj", "metadata.tsv")) == before {
		t.Error("export --force did not replace metadata.tsv")
	}
	assertNoTempFiles(t)
}

func TestExportUsageErrors(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"neither", []string{"export"}, []string{"--safetensors", "--projector"}},
		{"both", []string{"export", "--safetensors", "m.safetensors", "--projector", "c.txt"}, []string{"not both"}},
		{"argument", []string{"export", "c.txt"}, []string{"no arguments", "--projector"}},
		{"float16 with projector", []string{"export", "--projector", "c.txt", "--float16"}, []string{"--float16", "--safetensors"}},
		{"out with safetensors", []string{"export", "--safetensors", "m.safetensors", "--out", "dir"}, []string{"--out", "--projector"}},
		{"meta with safetensors", []string{"export", "--safetensors", "m.safetensors", "--meta", "m.tsv"}, []string{"--meta", "--projector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := poetvae(t, tt.args...)
			if l := lines(stderr); len(l) != 1 {
				t.Errorf("poetvae %s: stderr has %d lines, want 1:\n%s", strings.Join(tt.args, " "), len(l), stderr)
			}
			failed(t, tt.args, code, stdout, stderr, 2, tt.want...)
		})
	}
	if _, err := os.Stat("m.safetensors"); err == nil {
		t.Error("a usage error wrote m.safetensors")
	}

	// An existing file is kept without --force, and replaced with it.
	ckpt := sharedModel(t)
	writeFile(t, "old.safetensors", "an earlier export")
	args := []string{"export", "--model", ckpt, "--safetensors", "old.safetensors"}
	code, stdout, stderr := poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 1, "old.safetensors already exists", "--force")
	if readText(t, "old.safetensors") != "an earlier export" {
		t.Error("a refused export changed the existing file")
	}
	args = []string{"export", "--model", ckpt, "--force", "--safetensors", "old.safetensors"}
	if code, _, stderr := poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	parseSafetensors(t, "old.safetensors")
	assertNoTempFiles(t)
}

// checkPythonReading holds what a Python reader makes of the exported file
// to the metadata that Go read and to the model's values.
func checkPythonReading(t *testing.T, r safetensorsReader, out string, meta map[string]string, wants map[string]want) {
	t.Helper()
	cmd := r.cmd(out)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	js, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s reading %s: %v\n%s", r.name, out, err, errb.String())
	}
	var py pySummary
	if err := json.Unmarshal(js, &py); err != nil {
		t.Fatalf("%s reading %s: %v", r.name, out, err)
	}
	if !maps.Equal(py.Metadata, meta) {
		t.Errorf("%s reads the metadata as %v, Go as %v", r.name, py.Metadata, meta)
	}
	if len(py.Tensors) != len(wants) {
		t.Errorf("%s reads %d tensors, want %d", r.name, len(py.Tensors), len(wants))
	}
	for name, w := range wants {
		got, ok := py.Tensors[name]
		if !ok {
			t.Errorf("%s reads no tensor %s", r.name, name)
			continue
		}
		if !slices.Equal(got.Shape, w.shape) || len(got.First) != min(8, len(w.vals)) {
			t.Errorf("%s: shape %v with %d first values, want %v", name, got.Shape, len(got.First), w.shape)
			continue
		}
		var wantSum, bound float64
		for _, v := range w.vals {
			x := float64(float32(v))
			wantSum += x
			if w.half {
				bound += float16Error(x)
			} else {
				bound += 1e-6 * math.Abs(x)
			}
		}
		for j, g := range got.First {
			x := float64(float32(w.vals[j]))
			tol := 1e-6 * math.Abs(x)
			if w.half {
				tol = float16Error(x)
				// And the bits are those of round-to-nearest-even.
				if near := float64(float16.Frombits(float16Bits(float32(x))).Float32()); g != near {
					t.Errorf("%s[%d]: %s reads %v, the nearest float16 to %v is %v", name, j, r.name, g, x, near)
				}
			}
			if math.Abs(g-x) > tol {
				t.Errorf("%s[%d] = %v by %s, want %v within %g", name, j, g, r.name, x, tol)
			}
		}
		if math.Abs(got.Sum-wantSum) > bound+1e-9 {
			t.Errorf("%s: values sum to %v by %s, want %v within %g", name, got.Sum, r.name, wantSum, bound)
		}
	}
}
