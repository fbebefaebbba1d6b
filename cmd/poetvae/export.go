package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/x448/float16"

	"poetvae/corpus"
	"poetvae/model"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write a model's weights, or a corpus's codes, for other tools",
		Description: `--safetensors FILE writes the model's weights in the safetensors format
(huggingface.co/docs/safetensors), which PyTorch, JAX and NumPy read
without poetvae. Each tensor has the name and the shape of the parameter
in the model: matrices are in × out, applied as x·W (PyTorch's Linear
holds the transpose), and biases are 1 × out. When the model has a
sampling distribution (see poetvae prior) its mixture is stored too:
sampler.weights (K), sampler.means and sampler.vars (K × latent). The
metadata hold the model's configuration (config, JSON), its vocabulary
(vocab, a JSON list of the character of each id, the four special ids
first as <pad>, <bos>, <eos>, <unk>), its rhyme classes where it has
them (rhymes, JSON) and format: poetvae. Weights are F32; --float16
stores them as F16 (rounded to nearest, ties to even) at half the size
(the sampler stays F32: its variances and small weights are what F16
loses first).

--projector CORPUS encodes the poems of the corpus to their posterior
means and writes the two files that the TensorFlow Embedding Projector
(projector.tensorflow.org, "Load") reads: DIR/tensor.tsv, one code a row,
and DIR/metadata.tsv, a header row, then the poem, the rhyme group of its
line 2 (by the model's rhyme classes) and, where --meta or the file name
gives them, its author, title and dynasty. --meta is read as for plot
latent. Poems of another line count than the model's are left out.

Neither replaces an existing file without --force.

Examples:
   poetvae export --safetensors poetvae.safetensors
   poetvae export --model tang.ckpt --float16 --safetensors tang-f16.safetensors
   poetvae export --projector tang_valid.txt --meta tang_meta.tsv --out tang-projector`,
		Flags: []cli.Flag{
			modelFlag(),
			&cli.StringFlag{Name: "safetensors", Usage: "write the weights to `FILE` in the safetensors format"},
			&cli.BoolFlag{Name: "float16", Usage: "with --safetensors, store the weights as F16 rather than F32"},
			&cli.StringFlag{Name: "projector", Usage: "write the codes of the poems of `CORPUS` for the Embedding Projector"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "projector", Usage: "with --projector, the `DIR` to write tensor.tsv and metadata.tsv in"},
			&cli.StringFlag{Name: "meta", Usage: "with --projector, metadata `FILE` (TSV, one row per poem, as for plot latent) for authors, titles and dynasties"},
			&cli.BoolFlag{Name: "force", Usage: "replace output files that already exist"},
			deviceFlag("where to encode the poems (--projector)"),
		},
		Action: export,
	}
}

func export(c *cli.Context) error {
	// An empty or blank name (a variable that was not set, a lost quote)
	// would otherwise be read as no flag, or name a file of blanks.
	if err := refuseEmpty(c, "safetensors", "projector"); err != nil {
		return err
	}
	st, proj := c.String("safetensors"), c.String("projector")
	switch {
	case c.NArg() > 0:
		return usageError("export takes no arguments: the output goes to --safetensors FILE, the corpus to --projector CORPUS")
	case st != "" && proj != "":
		return usageError("give --safetensors or --projector, not both: export them one at a time")
	case st == "" && proj == "":
		return usageError("export needs --safetensors FILE (the weights) or --projector CORPUS (the codes of its poems)")
	}
	if st != "" {
		for _, name := range []string{"out", "meta"} {
			if c.IsSet(name) {
				return usageError("--%s goes with --projector, not --safetensors", name)
			}
		}
		return exportSafetensors(c, st)
	}
	if c.Bool("float16") {
		return usageError("--float16 goes with --safetensors, not --projector")
	}
	return exportProjector(c, proj)
}

// refuseToOverwrite stops an export that would replace a file: an export
// is cheap to redo, but the file it would replace may be the only copy of
// an earlier model's weights.
func refuseToOverwrite(c *cli.Context, paths ...string) error {
	if c.Bool("force") {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists: replace it with --force, or write elsewhere", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking the output: %w", err)
		}
	}
	return nil
}

// Safetensors.

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	name  string
	shape []int
	data  []float32
	half  bool // stored as F16
}

func (t stTensor) dtype() string {
	if t.half {
		return "F16"
	}
	return "F32"
}

func (t stTensor) size() int64 {
	if t.half {
		return 2 * int64(len(t.data))
	}
	return 4 * int64(len(t.data))
}

// specialTokens name the ids below corpus.NumSpecial in the exported
// vocabulary, so that its list lines up with the rows of embed and the
// columns of out.W.
var specialTokens = [corpus.NumSpecial]string{
	corpus.PAD: "<pad>",
	corpus.BOS: "<bos>",
	corpus.EOS: "<eos>",
	corpus.UNK: "<unk>",
}

// modelTensors returns the model's parameters, in the model's order and
// under its names, and then its sampling mixture if it has one.
func modelTensors(m *model.Model, half bool) []stTensor {
	p := m.Params
	var ts []stTensor
	for i, name := range p.Names {
		// Parameters are float32 in every model that is saved, so this
		// round trip through float64 changes no value.
		vals := p.Float64s(i)
		data := make([]float32, len(vals))
		for j, v := range vals {
			data[j] = float32(v)
		}
		ts = append(ts, stTensor{name: name, shape: p.Values[i].Shape().Clone(), data: data, half: half})
	}
	if mx := m.Sampler; mx != nil {
		flat := func(rows [][]float64) []float32 {
			var out []float32
			for _, r := range rows {
				for _, v := range r {
					out = append(out, float32(v))
				}
			}
			return out
		}
		k, z := len(mx.Weights), m.Config.Latent
		ts = append(ts,
			stTensor{name: "sampler.weights", shape: []int{k}, data: flat([][]float64{mx.Weights})},
			stTensor{name: "sampler.means", shape: []int{k, z}, data: flat(mx.Means)},
			stTensor{name: "sampler.vars", shape: []int{k, z}, data: flat(mx.Vars)})
	}
	return ts
}

// modelMetadata returns the safetensors metadata of m: every value a
// string, as the format requires, so the structured ones are JSON.
func modelMetadata(m *model.Model) (map[string]string, error) {
	meta := map[string]string{"format": "poetvae"}
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return nil, err
	}
	meta["config"] = string(cfg)
	vocab := make([]string, m.Vocab.Size())
	for id := range vocab {
		if id < corpus.NumSpecial {
			vocab[id] = specialTokens[id]
		} else {
			vocab[id] = string(m.Vocab.Rune(id))
		}
	}
	if meta["vocab"], err = jsonString(vocab); err != nil {
		return nil, err
	}
	if m.Rhymes != nil && m.Rhymes.Len() > 0 {
		if meta["rhymes"], err = jsonString(m.Rhymes); err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// jsonString is json.Marshal without the escaping of <, > and & that
// json.Marshal does for HTML: the vocabulary's <pad> should read as such
// in the header too.
func jsonString(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// safetensorsHeader returns the JSON header of a file of the tensors, in
// their order, padded with spaces to a multiple of 8 bytes so that the
// data after the 8-byte length starts aligned. It is built by hand rather
// than from a map so that the tensors are listed in the order their data
// follows.
func safetensorsHeader(ts []stTensor, meta map[string]string) ([]byte, error) {
	type entry struct {
		Dtype   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	var h bytes.Buffer
	h.WriteString(`{"__metadata__":`)
	mj, err := jsonString(meta)
	if err != nil {
		return nil, err
	}
	h.WriteString(mj)
	var off int64
	for _, t := range ts {
		name, err := json.Marshal(t.name)
		if err != nil {
			return nil, err
		}
		e, err := json.Marshal(entry{Dtype: t.dtype(), Shape: t.shape, Offsets: [2]int64{off, off + t.size()}})
		if err != nil {
			return nil, err
		}
		h.WriteByte(',')
		h.Write(name)
		h.WriteByte(':')
		h.Write(e)
		off += t.size()
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes(), nil
}

// writeSafetensors writes the file's length, header and data to w and
// returns how many values F16 could not hold (written as ±Inf).
func writeSafetensors(w io.Writer, ts []stTensor, meta map[string]string) (overflows int, err error) {
	hdr, err := safetensorsHeader(ts, meta)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))); err != nil {
		return 0, err
	}
	if _, err := w.Write(hdr); err != nil {
		return 0, err
	}
	var buf []byte
	for _, t := range ts {
		buf = buf[:0]
		for _, v := range t.data {
			if t.half {
				h := float16Bits(v)
				if h&0x7fff == 0x7c00 && !math.IsInf(float64(v), 0) {
					overflows++
				}
				buf = binary.LittleEndian.AppendUint16(buf, h)
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
		}
		if _, err := w.Write(buf); err != nil {
			return overflows, err
		}
	}
	return overflows, nil
}

// float16Bits returns the IEEE 754 binary16 nearest to f, ties to even:
// values beyond ±65504 become ±Inf, those below the smallest subnormal
// (2⁻²⁴) ±0, and NaN stays NaN.
func float16Bits(f float32) uint16 {
	return float16.Fromfloat32(f).Bits()
}

func exportSafetensors(c *cli.Context, path string) error {
	if err := refuseDirectory("--safetensors", path); err != nil {
		return err
	}
	if err := refuseToOverwrite(c, path); err != nil {
		return err
	}
	m, err := loadModel(c)
	if err != nil {
		return err
	}
	half := c.Bool("float16")
	ts := modelTensors(m, half)
	meta, err := modelMetadata(m)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := createAtomic(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer f.abort()
	if err := f.f.Chmod(0o644); err != nil { // CreateTemp makes 0600; weights are no secret
		return fmt.Errorf("writing %s: %w", path, err)
	}
	overflows, err := writeSafetensors(f.w, ts, meta)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.commit(); err != nil {
		return err
	}
	if overflows > 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s beyond ±65504 stored as ±Inf in F16: export without --float16 to keep them\n",
			count(overflows, "weight"))
	}
	values := 0
	for _, t := range ts {
		values += len(t.data)
	}
	dtype := "F32"
	if half {
		dtype = "F16"
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %s: %s, %s as %s, %s\n",
		path, count(len(ts), "tensor"), count(values, "value"), dtype, fileSize(path))
	return nil
}

// fileSize says how large the file is, or nothing when it cannot be read.
func fileSize(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "size unknown"
	}
	return formatBytes(fi.Size())
}

// formatBytes gives a size in bytes, KiB or MiB, as a person reads it.
func formatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return count(int(n), "byte")
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// Embedding Projector.

const (
	projectorTensors  = "tensor.tsv"
	projectorMetadata = "metadata.tsv"
)

func exportProjector(c *cli.Context, file string) error {
	dir := c.String("out")
	if strings.TrimSpace(dir) == "" {
		return usageError("--out needs a directory to write %s and %s in", projectorTensors, projectorMetadata)
	}
	tensorPath, metaPath := filepath.Join(dir, projectorTensors), filepath.Join(dir, projectorMetadata)
	if err := refuseToOverwrite(c, tensorPath, metaPath); err != nil {
		return err
	}
	m, err := loadEncoderModel(c, "it has no codes to export")
	if err != nil {
		return err
	}
	all, err := readMapCorpus(c, []string{file})
	if err != nil {
		return err
	}
	poems := ofModelLines(c, m, all)
	if len(poems) == 0 {
		return fmt.Errorf("%s has no poems of %d lines, the model's", file, m.Config.Lines)
	}
	header, labels, err := projectorLabels(c, m, all, poems)
	if err != nil {
		return err
	}
	mu, err := encodeCorpus(m, poems)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", dir, err)
	}
	var rows strings.Builder
	for _, z := range mu {
		for d, v := range z {
			if d > 0 {
				rows.WriteByte('\t')
			}
			rows.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		rows.WriteByte('\n')
	}
	var meta strings.Builder
	// The Projector reads a file of one column as labels alone and one of
	// several as a header row and labels; there are always several here.
	meta.WriteString(strings.Join(header, "\t") + "\n")
	for _, row := range labels {
		for j, field := range row {
			if j > 0 {
				meta.WriteByte('\t')
			}
			meta.WriteString(corpus.TSVField(field))
		}
		meta.WriteByte('\n')
	}
	for _, out := range []struct{ path, text string }{{tensorPath, rows.String()}, {metaPath, meta.String()}} {
		if err := writeFileAtomic(out.path, out.text); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "wrote %s of %d dimensions to %s (%s) and their labels to %s (%s): load both at projector.tensorflow.org\n",
		count(len(mu), "code"), m.Config.Latent, tensorPath, fileSize(tensorPath), metaPath, fileSize(metaPath))
	return nil
}

// projectorLabels returns the columns of metadata.tsv and each poem's row:
// the poem and its rhyme group always, its author and title where --meta
// has those columns, its dynasty where the metadata or the file name says
// it (found as plot latent finds it).
func projectorLabels(c *cli.Context, m *model.Model, all, poems []corpusPoem) ([]string, [][]string, error) {
	var meta *metaTable
	rows := make([]int, len(poems))
	for i := range rows {
		rows[i] = -1
	}
	if path := c.String("meta"); path != "" {
		var err error
		if meta, err = readMetaTable(path); err != nil {
			return nil, nil, err
		}
		if rows, err = meta.match(all, poems); err != nil {
			return nil, nil, err
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
	field := func(i int, col string) string {
		if rows[i] < 0 {
			return ""
		}
		return meta.field(rows[i], meta.cols[col])
	}

	header := []string{"poem", "rhyme"}
	var cols []string // of the metadata file
	for _, col := range []string{"author", "title"} {
		if meta != nil && meta.has(col) {
			cols = append(cols, col)
		}
	}
	header = append(header, cols...)
	dynasties := make([]string, len(poems))
	anyDynasty := false
	for i, p := range poems {
		switch {
		case meta != nil && meta.has("dynasty"):
			dynasties[i] = field(i, "dynasty")
		case meta != nil && meta.has("source") && dynastyOf(field(i, "source")) != "":
			dynasties[i] = dynastyOf(field(i, "source"))
		default:
			dynasties[i] = dynastyOf(p.file)
		}
		anyDynasty = anyDynasty || dynasties[i] != ""
	}
	if anyDynasty {
		header = append(header, "dynasty")
	}

	pros := m.Prosody()
	labels := make([][]string, len(poems))
	for i, p := range poems {
		row := []string{p.poem.String(), rhymeGroup(pros, p.poem)}
		for _, col := range cols {
			row = append(row, field(i, col))
		}
		if anyDynasty {
			row = append(row, dynasties[i])
		}
		labels[i] = row
	}
	return header, labels, nil
}

// writeFileAtomic writes text to path through a temporary file renamed
// into place, so that an interrupted export leaves no half-written file.
func writeFileAtomic(path, text string) error {
	f, err := createAtomic(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer f.abort()
	if err := f.f.Chmod(0o644); err != nil { // CreateTemp makes 0600
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.w.WriteString(text); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.commit()
}
