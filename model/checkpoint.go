package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"poetvae/corpus"
)

// A checkpoint file is
//
//	magic "POETVAE\n" | version uint32 | payload length uint64 | payload | SHA-256 of all before it
//
// and the payload is a length-prefixed JSON header (configuration, training
// state, parameter names and shapes), the length-prefixed vocabulary, then
// every parameter as little-endian float32, then, when the file can resume
// training, Adam's first and second moments in the same order. The checksum
// catches a truncated or damaged file before any of it is trusted; the
// version lets the format change without misreading old files.
const (
	ckptMagic   = "POETVAE\n"
	ckptVersion = 1
)

// Checkpoint is everything a file holds: the model and, when saved during
// training, the state needed to resume it exactly.
type Checkpoint struct {
	Model *Model
	Train *TrainState // nil for a model saved without optimiser state
}

type ckptHeader struct {
	Config Config      `json:"config"`
	Params []paramInfo `json:"params"`
	Train  *TrainState `json:"train,omitempty"`
}

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
	h := ckptHeader{Config: m.Config, Train: ck.Train}
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
	var payload bytes.Buffer
	putBlock(&payload, hdr)
	putBlock(&payload, voc)
	for i := range m.Params.Values {
		putFloats(&payload, m.Params.Float64s(i))
	}
	if ck.Train != nil {
		if len(ck.Train.adamM) != len(m.Params.Values) {
			return nil, errors.New("saving checkpoint: optimiser state does not match the parameters")
		}
		for _, moments := range [][][]float64{ck.Train.adamM, ck.Train.adamV} {
			for _, v := range moments {
				putFloat64s(&payload, v)
			}
		}
	}
	var out bytes.Buffer
	out.WriteString(ckptMagic)
	binary.Write(&out, binary.LittleEndian, uint32(ckptVersion))
	binary.Write(&out, binary.LittleEndian, uint64(payload.Len()))
	out.Write(payload.Bytes())
	sum := sha256.Sum256(out.Bytes())
	out.Write(sum[:])
	return out.Bytes(), nil
}

func putBlock(b *bytes.Buffer, data []byte) {
	b.Write(binary.AppendUvarint(nil, uint64(len(data))))
	b.Write(data)
}

// putFloat64s keeps the optimiser's moments at full precision, so a
// resumed run continues bit for bit.
func putFloat64s(b *bytes.Buffer, v []float64) {
	buf := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(x))
	}
	b.Write(buf)
}

func putFloats(b *bytes.Buffer, v []float64) {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(x)))
	}
	b.Write(buf)
}

// Load reads a checkpoint, with parameters as float32. Every way a file can
// be wrong (missing, not a checkpoint, from a newer version, truncated,
// damaged) is an error that names the file and says which.
func Load(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	ck, err := decodeCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ck, nil
}

func decodeCheckpoint(data []byte) (*Checkpoint, error) {
	const head = len(ckptMagic) + 4 + 8
	if len(data) < len(ckptMagic) || string(data[:len(ckptMagic)]) != ckptMagic {
		return nil, errors.New("not a poetvae checkpoint")
	}
	if len(data) < head {
		return nil, errors.New("checkpoint is truncated")
	}
	if v := binary.LittleEndian.Uint32(data[len(ckptMagic):]); v != ckptVersion {
		return nil, fmt.Errorf("checkpoint format version %d; this poetvae reads version %d", v, ckptVersion)
	}
	n := binary.LittleEndian.Uint64(data[len(ckptMagic)+4:])
	if n > uint64(len(data)) || uint64(len(data)) != uint64(head)+n+sha256.Size {
		if uint64(len(data)) < uint64(head)+n+sha256.Size {
			return nil, fmt.Errorf("checkpoint is truncated (%d bytes, want %d)", len(data), uint64(head)+n+sha256.Size)
		}
		return nil, errors.New("checkpoint has trailing data")
	}
	body := data[:uint64(head)+n]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, errors.New("checkpoint is corrupted (checksum mismatch)")
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
	weights, err := read(4)
	if err != nil {
		return nil, err
	}
	for i, w := range weights {
		p.set(i, w)
	}
	ck := &Checkpoint{Model: &Model{Config: h.Config, Vocab: voc, Params: p}, Train: h.Train}
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

// getFloats reads n little-endian floats of size 4 (float32) or 8 (float64).
func getFloats(r *bytes.Reader, n, size int) ([]float64, error) {
	if r.Len() < size*n {
		return nil, errors.New("checkpoint parameters are truncated")
	}
	buf := make([]byte, size*n)
	r.Read(buf)
	out := make([]float64, n)
	for i := range out {
		if size == 8 {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
		} else {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	return out, nil
}
