package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// WeightsDigest returns a SHA-256 digest of what the model's encodings and
// decodings depend on: its configuration, its vocabulary and its weights,
// as they are in memory (whichever file, or precision, they were read
// from). What a checkpoint holds besides (training state, the sampling
// mixture, the keyword index, the rhyme classes) is left out, so that a
// model whose sampler alone is refitted keeps its digest.
//
// Hashing a default-size model's weights takes some tens of milliseconds
// (BenchmarkWeightsDigest), well under the time of loading it.
func (m *Model) WeightsDigest() [sha256.Size]byte {
	h := sha256.New()
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		panic(err) // Config holds only numbers and booleans
	}
	vocab, err := m.Vocab.MarshalBinary()
	if err != nil {
		panic(err) // MarshalBinary cannot fail
	}
	for _, block := range [][]byte{cfg, vocab} {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(block))))
		h.Write(block)
	}
	// The weights go through a small buffer, which a model's 15 MB of
	// them would not be worth allocating for.
	buf := make([]byte, 32<<10)
	for i, name := range m.Params.Names {
		h.Write(fmt.Appendf(nil, "%s %v\n", name, m.Params.Values[i].Shape()))
		switch d := m.Params.Values[i].Data().(type) {
		case []float32:
			for len(d) > 0 {
				n := min(len(d), len(buf)/4)
				for j, v := range d[:n] {
					binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
				}
				h.Write(buf[:4*n])
				d = d[n:]
			}
		case []float64:
			for len(d) > 0 {
				n := min(len(d), len(buf)/8)
				for j, v := range d[:n] {
					binary.LittleEndian.PutUint64(buf[8*j:], math.Float64bits(v))
				}
				h.Write(buf[:8*n])
				d = d[n:]
			}
		default:
			panic(fmt.Sprintf("model: unexpected data %T", d))
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
