package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/x448/float16"
	"gorgonia.org/tensor"

	"poetvae/corpus"
	"poetvae/poetry"
)

// A checkpoint file is
//
//	magic "POETVAE\n" | version uint32 | payload length uint64 | payload | SHA-256 of all before it
//
// and the payload is a length-prefixed JSON header (configuration, training
// state, parameter names and shapes), the length-prefixed vocabulary, the
// length-prefixed keyword block (version 2 on), then every parameter as
// little-endian float32, then, when the file can resume training, Adam's
// first and second moments in the same order. The checksum catches a
// truncated or damaged file before any of it is trusted; the version lets
// the format change without misreading old files.
//
// The keyword block is empty for a model without a keyword index, and
// otherwise holds two length-prefixed blocks: the index in the binary form
// of corpus.Index, and the poems it refers to, each as its characters
// without punctuation and a newline, in the order of the indices. The
// poems are stored rather than their encodings so that the index stays
// valid for any weights: a resumed run goes on saving the same block.
//
// Version 3 adds the header's "weights" field: "float16" stores every
// parameter as little-endian IEEE half precision instead (a model to give
// away, half the size; it cannot resume training), and the keyword block
// may hold theme figures in place of the index and its poems (see
// encodeKeywords). Version 1 is version 2 without the keyword block; it is
// still read, as a model without an index. Lengths are uvarints.
const (
	ckptMagic   = "POETVAE\n"
	ckptVersion = 3
	// ckptOldest is the oldest version this package reads.
	ckptOldest = 1
)

// Checkpoint is everything a file holds: the model and, when saved during
// training, the state needed to resume it exactly.
type Checkpoint struct {
	Model *Model
	Train *TrainState // nil for a model saved without optimiser state
	// Float16 stores the weights in half precision: half the file, for a
	// model given to others (docs/RESULTS.md measures what it changes). A
	// file with optimiser state cannot be stored so: a resumed run would
	// not continue the same run.
	Float16 bool
	// Sum is the SHA-256 checksum that ends the file the checkpoint was
	// read from, checked against the file as it was read: a name for all
	// that the file holds, for keys such as that of neighbors' cache of
	// codes. It is not set by Save, nor read by it.
	Sum [sha256.Size]byte
}

type ckptHeader struct {
	Config Config      `json:"config"`
	Params []paramInfo `json:"params"`
	Train  *TrainState `json:"train,omitempty"`
	// Sampler is the distribution generation draws codes from (absent in
	// files written before it existed, which sample from the prior).
	Sampler *Mixture `json:"sampler,omitempty"`
	// Rhymes are the rhyme classes learned from the training poems
	// (absent in older files: their models rhyme by Mandarin finals).
	Rhymes *poetry.RhymeClasses `json:"rhymes,omitempty"`
	// Weights is the type the parameters are stored in: "float16", or
	// float32 when absent.
	Weights string `json:"weights,omitempty"`
}

const float16Weights = "float16"

type paramInfo struct {
	Name  string `json:"name"`
	Shape [2]int `json:"shape"`
}

// Save writes the checkpoint to path atomically: to a temporary file in the
// same directory, synced, then renamed over path, so a crash or Ctrl-C at
// any moment leaves either the old file or the new one, never a mix.
func (ck *Checkpoint) Save(path string) error {
	data, err := ck.encode()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("saving checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving checkpoint %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600; a model is no secret
		tmp.Close()
		return fmt.Errorf("saving checkpoint %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving checkpoint %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

func (ck *Checkpoint) encode() ([]byte, error) {
	m := ck.Model
	if err := m.decodable(); err != nil {
		return nil, err // its decoder's weights are zeros, not the model's
	}
	h := ckptHeader{Config: m.Config, Train: ck.Train, Sampler: m.Sampler, Rhymes: m.Rhymes}
	weightSize := 4
	if ck.Float16 {
		if ck.Train != nil {
			return nil, errors.New("saving checkpoint: a model with training state cannot be stored in float16")
		}
		h.Weights, weightSize = float16Weights, 2
	}
	for i, n := range m.Params.Names {
		s := m.Params.Values[i].Shape()
		h.Params = append(h.Params, paramInfo{Name: n, Shape: [2]int{s[0], s[1]}})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding checkpoint header: %w", err)
	}
	voc, err := m.Vocab.MarshalBinary()
	if err != nil {
		return nil, err
	}
	kw, err := encodeKeywords(m)
	if err != nil {
		return nil, err
	}
	var moments [][]float64
	if ck.Train != nil {
		if len(ck.Train.adamM) != len(m.Params.Values) {
			return nil, errors.New("saving checkpoint: optimiser state does not match the parameters")
		}
		moments = append(slices.Clone(ck.Train.adamM), ck.Train.adamV...)
	}
	// The file is built in one buffer of its exact size: a checkpoint is
	// tens of megabytes, written every epoch, and growing a buffer by
	// doubling cost more than the checksum.
	blocks := [][]byte{hdr, voc, kw}
	size := len(ckptMagic) + 4 + 8 + sha256.Size
	payload := 0
	for _, b := range blocks {
		payload += binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(b))) + len(b)
	}
	payload += weightSize * m.Params.Count()
	for _, v := range moments {
		payload += 8 * len(v)
	}
	out := make([]byte, 0, size+payload)
	out = append(out, ckptMagic...)
	out = binary.LittleEndian.AppendUint32(out, ckptVersion)
	out = binary.LittleEndian.AppendUint64(out, uint64(payload))
	for _, b := range blocks {
		out = appendBlock(out, b)
	}
	for _, v := range m.Params.Values {
		if ck.Float16 {
			out = appendFloat16s(out, v.Data())
		} else {
			out = appendFloat32s(out, v.Data())
		}
	}
	for _, v := range moments {
		out = appendFloat64s(out, v)
	}
	if got := len(out) - (size - sha256.Size); got != payload {
		panic(fmt.Sprintf("model: checkpoint payload of %d bytes, sized as %d", got, payload)) // a programming error
	}
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// The kinds of keyword block, from version 3 on, in its first byte.
const (
	keywordIndex  = 1 // the index and the poems it refers to
	keywordThemes = 2 // theme figures (Themes), no poem text
)

// encodeKeywords returns the keyword block of m: empty without an index or
// theme figures; else a kind byte, then either the index and the poems it
// refers to, or the figures.
func encodeKeywords(m *Model) ([]byte, error) {
	if m.Keywords != nil && m.Themes != nil {
		return nil, errors.New("saving checkpoint: the model has both a keyword index and theme figures")
	}
	if m.Themes != nil {
		t, err := m.Themes.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("saving checkpoint: %w", err)
		}
		return append([]byte{keywordThemes}, t...), nil
	}
	if m.Keywords == nil {
		return nil, nil
	}
	ix, err := m.Keywords.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("saving checkpoint: %w", err)
	}
	// Check here what decodeKeywords checks, so that a bad index fails
	// the save that made it rather than every later load.
	for w, list := range m.Keywords.Words {
		if last := list[len(list)-1]; last >= len(m.Poems) {
			return nil, fmt.Errorf("saving checkpoint: keyword index: word %q refers to poem %d of %d", w, last+1, len(m.Poems))
		}
	}
	var poems bytes.Buffer
	for i, p := range m.Poems {
		if p.NumLines() != m.Config.Lines {
			return nil, fmt.Errorf("saving checkpoint: keyword poem %d has %d lines; the model reads %d-line poems", i+1, p.NumLines(), m.Config.Lines)
		}
		poems.WriteString(p.Text())
		poems.WriteByte('\n')
	}
	return appendBlock(appendBlock([]byte{keywordIndex}, ix), poems.Bytes()), nil
}

// decodeKeywordBlock reads the keyword block of a file of the given
// version: an index with its poems, or theme figures, or neither.
func decodeKeywordBlock(data []byte, lines int, version uint32) (*corpus.Index, []poetry.Poem, *Themes, error) {
	if version < 3 || len(data) == 0 {
		ix, poems, err := decodeKeywords(data, lines)
		return ix, poems, nil, err
	}
	switch data[0] {
	case keywordIndex:
		ix, poems, err := decodeKeywords(data[1:], lines)
		return ix, poems, nil, err
	case keywordThemes:
		t := new(Themes)
		if err := t.UnmarshalBinary(data[1:]); err != nil {
			return nil, nil, nil, fmt.Errorf("checkpoint: %w", err)
		}
		return nil, nil, t, nil
	}
	return nil, nil, nil, fmt.Errorf("checkpoint keyword block of unknown kind %d", data[0])
}

// decodeKeywords reads a keyword block written by encodeKeywords for a
// model of lines-line poems. An empty block is no index.
func decodeKeywords(data []byte, lines int) (*corpus.Index, []poetry.Poem, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	r := bytes.NewReader(data)
	ixBytes, err := getBlock(r)
	if err != nil {
		return nil, nil, err
	}
	text, err := getBlock(r)
	if err != nil {
		return nil, nil, err
	}
	if r.Len() != 0 {
		return nil, nil, fmt.Errorf("checkpoint keyword block has %d unexpected bytes", r.Len())
	}
	ix := new(corpus.Index)
	if err := ix.UnmarshalBinary(ixBytes); err != nil {
		return nil, nil, fmt.Errorf("checkpoint keyword index: %w", err)
	}
	if len(text) > 0 && text[len(text)-1] != '\n' {
		return nil, nil, errors.New("checkpoint keyword poems do not end with a newline")
	}
	var poems []poetry.Poem
	for line := range bytes.Lines(text) {
		p, err := poetry.New([]rune(string(line[:len(line)-1])))
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint keyword poem %d: %w", len(poems)+1, err)
		}
		if p.NumLines() != lines {
			return nil, nil, fmt.Errorf("checkpoint keyword poem %d has %d lines; the model reads %d-line poems", len(poems)+1, p.NumLines(), lines)
		}
		poems = append(poems, p)
	}
	for w, list := range ix.Words {
		if last := list[len(list)-1]; last >= len(poems) {
			return nil, nil, fmt.Errorf("checkpoint keyword index: word %q refers to poem %d of %d", w, last+1, len(poems))
		}
	}
	return ix, poems, nil
}

func appendBlock(dst, data []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(data))), data...)
}

// appendFloat32s appends a parameter's values as float32 (whatever type
// the tensor holds).
func appendFloat32s(dst []byte, data any) []byte {
	switch d := data.(type) {
	case []float32:
		for _, x := range d {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	case []float64:
		for _, x := range d {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(x)))
		}
	default:
		panic(fmt.Sprintf("model: unexpected data %T", data))
	}
	return dst
}

// appendFloat16s appends a parameter's values as IEEE half precision,
// rounded to nearest even.
func appendFloat16s(dst []byte, data any) []byte {
	for _, x := range toFloat64(data) {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(float16.Fromfloat32(float32(x))))
	}
	return dst
}

// appendFloat64s keeps the optimiser's moments at full precision, so a
// resumed run continues bit for bit.
func appendFloat64s(dst []byte, v []float64) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

// Load reads a checkpoint, with parameters as float32. Every way a file can
// be wrong (missing, not a checkpoint, from a newer version, truncated,
// damaged) is an error that names the file and says which.
func Load(path string) (*Checkpoint, error) {
	return LoadFor(path, LoadOptions{})
}

// readCheckpointFile reads a file that should be a checkpoint, looking at
// its start before reading the rest, so that a large file of another kind
// given as a model is refused at once rather than read whole.
func readCheckpointFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a model", path)
	}
	const head = len(ckptMagic) + 4 + 8
	start := make([]byte, 512)
	k, err := io.ReadFull(f, start)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	start = start[:k]
	if !IsCheckpointStart(start) || k < head {
		_, err := decodeCheckpoint(start) // names what the file is instead
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n := binary.LittleEndian.Uint64(start[len(ckptMagic)+4:]); n > uint64(st.Size()) {
		return nil, fmt.Errorf("%s: checkpoint is truncated or corrupted (its header announces %d bytes, the file has %d)", path, n, st.Size())
	}
	data := make([]byte, st.Size())
	copy(data, start)
	if _, err := io.ReadFull(f, data[k:]); err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	return data, nil
}

// LoadBytes reads a checkpoint held in memory (such as the model built
// into the program); name stands for the file in errors.
func LoadBytes(name string, data []byte) (*Checkpoint, error) {
	return LoadBytesFor(name, data, LoadOptions{})
}

// LoadOptions say what a checkpoint is read for, where a command needs less
// than all of it.
type LoadOptions struct {
	// EncoderOnly reads the encoder's weights alone and leaves the
	// decoder's zero, for a command that only encodes poems (neighbors):
	// the decoder's are three fifths of a default model's weights, most of
	// the cost of reading it. Nor does it read the keyword index or theme
	// figures (generate --theme's). The model it gives refuses to decode
	// or to be saved.
	EncoderOnly bool
	// Trusted skips the checksum of the bytes, for the model built into the
	// program, which a test of the program's build checks instead: a
	// damaged copy of it is a damaged program, not a damaged file.
	Trusted bool
}

// LoadFor is Load for what opt says the checkpoint is read for.
func LoadFor(path string, opt LoadOptions) (*Checkpoint, error) {
	data, err := readCheckpointFile(path)
	if err != nil {
		return nil, err
	}
	ck, err := decodeCheckpointFor(data, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ck, nil
}

// LoadBytesFor is LoadBytes for what opt says the checkpoint is read for.
func LoadBytesFor(name string, data []byte, opt LoadOptions) (*Checkpoint, error) {
	ck, err := decodeCheckpointFor(data, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ck, nil
}

// IsCheckpointStart reports whether start, the first bytes of a file, is
// the start of a checkpoint: for telling a model given in place of a
// corpus, say, from other files that are not text.
func IsCheckpointStart(start []byte) bool {
	return bytes.HasPrefix(start, []byte(ckptMagic))
}

// looksLikeText reports whether data starts as UTF-8 text does: no control
// byte but tab and line ends, and no invalid sequence in its first bytes (a
// character the cut splits excepted).
func looksLikeText(data []byte) bool {
	start := data[:min(len(data), 512)]
	for range utf8.UTFMax - 1 {
		if utf8.Valid(start) || len(start) == 0 {
			break
		}
		start = start[:len(start)-1]
	}
	control := func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }
	return len(start) > 0 && utf8.Valid(start) && bytes.IndexFunc(start, control) < 0
}

func decodeCheckpoint(data []byte) (*Checkpoint, error) {
	return decodeCheckpointFor(data, LoadOptions{})
}

func decodeCheckpointFor(data []byte, opt LoadOptions) (*Checkpoint, error) {
	const head = len(ckptMagic) + 4 + 8
	if !IsCheckpointStart(data) {
		if looksLikeText(data) {
			return nil, errors.New("not a poetvae checkpoint but text (a corpus?): models are the files poetvae train writes")
		}
		return nil, errors.New("not a poetvae checkpoint")
	}
	if len(data) < head+sha256.Size {
		return nil, errors.New("checkpoint is truncated")
	}
	// The checksum first, over all that precedes it, so that no field of a
	// damaged file is believed: a flipped bit in the version or a length
	// is reported as the damage it is, not as a newer format. Only when it
	// fails do the lengths say whether the file was cut short.
	version := binary.LittleEndian.Uint32(data[len(ckptMagic):])
	n := binary.LittleEndian.Uint64(data[len(ckptMagic)+4:])
	body := data[:len(data)-sha256.Size]
	if !opt.Trusted && sha256.Sum256(body) != [sha256.Size]byte(data[len(body):]) {
		if want := uint64(head) + n + sha256.Size; n < uint64(math.MaxInt64/2) && uint64(len(data)) < want {
			return nil, fmt.Errorf("checkpoint is truncated (%d bytes, want %d)", len(data), want)
		}
		return nil, errors.New("checkpoint is corrupted (checksum mismatch)")
	}
	if version < ckptOldest || version > ckptVersion {
		return nil, fmt.Errorf("checkpoint format version %d; this poetvae reads versions %d to %d", version, ckptOldest, ckptVersion)
	}
	if uint64(len(body)) != uint64(head)+n {
		return nil, errors.New("checkpoint's length field does not match the file")
	}
	r := bytes.NewReader(body[head:])
	hdrBytes, err := getBlock(r)
	if err != nil {
		return nil, err
	}
	var h ckptHeader
	if err := json.Unmarshal(hdrBytes, &h); err != nil {
		return nil, fmt.Errorf("checkpoint header: %w", err)
	}
	if err := h.Config.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint configuration: %w", err)
	}
	if h.Sampler != nil {
		if err := h.Sampler.Validate(h.Config.Latent); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	vocBytes, err := getBlock(r)
	if err != nil {
		return nil, err
	}
	voc := new(corpus.Vocab)
	if err := voc.UnmarshalBinary(vocBytes); err != nil {
		return nil, fmt.Errorf("checkpoint vocabulary: %w", err)
	}
	if voc.Size() != h.Config.Vocab {
		return nil, fmt.Errorf("checkpoint vocabulary has %d entries, configuration says %d", voc.Size(), h.Config.Vocab)
	}
	var keywords *corpus.Index
	var poems []poetry.Poem
	var themes *Themes
	if version >= 2 {
		kwBytes, err := getBlock(r)
		if err != nil {
			return nil, err
		}
		// What --theme starts from is no encoder's business.
		if !opt.EncoderOnly {
			if keywords, poems, themes, err = decodeKeywordBlock(kwBytes, h.Config.Lines, version); err != nil {
				return nil, err
			}
			if themes != nil && len(themes.Words) > 0 && themes.Dim() != h.Config.Latent {
				return nil, fmt.Errorf("checkpoint theme figures have %d dimensions, the model's code %d", themes.Dim(), h.Config.Latent)
			}
		}
	}
	weightSize := 4
	switch h.Weights {
	case "", "float32":
	case float16Weights:
		weightSize = 2
	default:
		return nil, fmt.Errorf("checkpoint weights stored as %q, which this poetvae does not read", h.Weights)
	}
	// The sizes the header announces, checked against what the file holds
	// before the tensors are made: a damaged or hostile header must not
	// make poetvae allocate more than the file could fill.
	names, shapes := layout(h.Config)
	values, perValue := 0, weightSize
	for _, sh := range shapes {
		if sh[0] <= 0 || sh[1] <= 0 || sh[0] > r.Len() || sh[1] > r.Len() {
			return nil, fmt.Errorf("checkpoint configuration makes a %d × %d parameter, more than the file holds", sh[0], sh[1])
		}
		values += sh[0] * sh[1]
		if values > r.Len() {
			return nil, fmt.Errorf("checkpoint configuration needs more parameters than the file holds (%d bytes left)", r.Len())
		}
	}
	if h.Train != nil {
		perValue += 16 // two float64 moments a weight
	}
	if values*perValue > r.Len() {
		return nil, fmt.Errorf("checkpoint parameters are truncated: %d values of %d bytes announced, %d bytes left", values, perValue, r.Len())
	}
	if len(h.Params) != len(names) {
		return nil, fmt.Errorf("checkpoint has %d parameter tensors, the model %d", len(h.Params), len(names))
	}
	p := newParams(h.Config, tensor.Float32)
	if len(h.Params) != len(p.Names) {
		return nil, fmt.Errorf("checkpoint has %d parameter tensors, the model %d", len(h.Params), len(p.Names))
	}
	for i, info := range h.Params {
		s := p.Values[i].Shape()
		if info.Name != p.Names[i] || info.Shape != [2]int{s[0], s[1]} {
			return nil, fmt.Errorf("checkpoint parameter %d is %s %v, want %s %v", i, info.Name, info.Shape, p.Names[i], s)
		}
	}
	read := func(size int) ([][]float64, error) {
		out := make([][]float64, len(p.Values))
		for i := range p.Values {
			v, err := getFloats(r, p.Values[i].Shape().TotalSize(), size)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	rest := body[len(body)-r.Len():]
	wanted := func(string) bool { return true }
	if opt.EncoderOnly {
		wanted = isEncoderParam
	}
	if err := readWeights(rest, p, weightSize, wanted); err != nil {
		return nil, err
	}
	r.Seek(int64(weightSize*values), io.SeekCurrent) // within r: values*weightSize <= r.Len() was checked
	ck := &Checkpoint{Model: &Model{Config: h.Config, Vocab: voc, Params: p, Keywords: keywords, Poems: poems, Themes: themes, Sampler: h.Sampler, encoderOnly: opt.EncoderOnly}, Train: h.Train, Float16: weightSize == 2,
		Sum: [sha256.Size]byte(data[len(body):])}
	if ck.Float16 && h.Train != nil {
		return nil, errors.New("checkpoint stores float16 weights with training state, which no poetvae writes")
	}
	ck.Model.SetRhymes(h.Rhymes)
	if h.Train != nil {
		if ck.Train.adamM, err = read(8); err != nil {
			return nil, err
		}
		if ck.Train.adamV, err = read(8); err != nil {
			return nil, err
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("checkpoint has %d unexpected bytes", r.Len())
	}
	return ck, nil
}

func getBlock(r *bytes.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return nil, errors.New("checkpoint block is truncated")
	}
	b := make([]byte, n)
	r.Read(b)
	return b, nil
}

// readWeights fills the float32 parameters p that wanted names with their
// values, stored one after another at the start of data as float32 (size
// 4) or float16 (size 2), and leaves the others zero: straight into the
// tensors, since every command that uses a model pays for its reading
// before its first poem, and on all the cores, each its share of the
// wanted values in the order stored (the weights' first touch, the
// kernel's zeroing of fresh memory, is much of the cost).
func readWeights(data []byte, p *Params, size int, wanted func(name string) bool) error {
	// The wanted tensors, each with where its values start in data.
	type part struct {
		dst []float32
		src int
	}
	var parts []part
	total, read := 0, 0
	for i, v := range p.Values {
		d := v.Data().([]float32)
		if wanted(p.Names[i]) {
			parts = append(parts, part{d, total})
			read += len(d)
		}
		total += len(d)
	}
	if len(data) < size*total {
		return errors.New("checkpoint parameters are truncated")
	}
	for _, pt := range parts {
		prefault(pt.dst)
		prefaultRead(data[size*pt.src : size*(pt.src+len(pt.dst))])
	}
	inParallel(read, weightsPerCore, func(lo, hi int) {
		at := 0 // the place of pt.dst[0] among the values read
		for _, pt := range parts {
			if from, to := max(lo, at)-at, min(hi, at+len(pt.dst))-at; from < to {
				dst, src := pt.dst[from:to], data[size*(pt.src+from):size*(pt.src+to)]
				switch {
				case size == 2:
					halvesToFloat32(dst, src)
				case littleEndian: // the bytes as they are
					copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
				default:
					for j := range dst {
						dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
					}
				}
			}
			at += len(pt.dst)
		}
	})
	return nil
}

// littleEndian says whether the machine stores a float32 as a file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// weightsPerCore is the fewest weights that readWeights gives a core:
// a millisecond's work or so.
const weightsPerCore = 1 << 19

// halvesToFloat32 sets dst to the len(dst) little-endian float16 values at
// the start of src, exactly as float16's Float32 converts them: by a table
// of all 65,536 of them, which every model of half-precision weights
// repays many times over (a load of the built-in model's 4.7 million
// weights took 12 ms through float16's branches, 5 through the table).
func halvesToFloat32(dst []float32, src []byte) {
	table := halfTable()
	src = src[:2*len(dst)]
	for j := range dst {
		dst[j] = table[binary.LittleEndian.Uint16(src[2*j:])]
	}
}

// halfTable holds the float32 of every float16, by its bits.
var halfTable = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for h := range t {
		t[h] = float16.Frombits(uint16(h)).Float32()
	}
	return t
})

// halfToFloat32 is float16's Float32 of the float16 h.
func halfToFloat32(h uint16) float32 { return halfTable()[h] }

// getFloats reads n little-endian floats of size 2 (float16), 4 (float32)
// or 8 (float64).
func getFloats(r *bytes.Reader, n, size int) ([]float64, error) {
	if r.Len() < size*n {
		return nil, errors.New("checkpoint parameters are truncated")
	}
	buf := make([]byte, size*n)
	r.Read(buf)
	out := make([]float64, n)
	for i := range out {
		switch size {
		case 8:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
		case 2:
			out[i] = float64(halfToFloat32(binary.LittleEndian.Uint16(buf[2*i:])))
		default:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	return out, nil
}
