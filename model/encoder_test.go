package model

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/x448/float16"
	"gorgonia.org/tensor"

	"poetvae/corpus"
	"poetvae/poetry"
)

// sameBits reports whether a and b hold the same float64s, bit for bit.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestEncoderNetMatchesNet: the encoder-only pass encodes exactly as the
// whole one, in both float types, with several highway layers and the
// bag of characters, holds none of the decoder's weights, and refuses to
// decode.
func TestEncoderNetMatchesNet(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"tiny", func(*Config) {}},
		{"two highways and a bag", func(c *Config) { c.Highway, c.BagOfChars, c.Lines = 2, true, 4 }},
		{"no highway", func(c *Config) { c.Highway = 0 }},
		{"language model", func(c *Config) { c.LM = true }},
	} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				c := tinyConfig()
				tc.edit(&c)
				p, err := NewParams(c, dt, 7)
				if err != nil {
					t.Fatal(err)
				}
				const B = 5
				rng := rand.New(rand.NewPCG(3, 4))
				ids := make([]int, B*c.EncSteps())
				for i := range ids {
					ids[i] = rng.IntN(c.Vocab)
				}
				full, enc := NewNet(p), newEncoderNet(p)
				mu, logvar := full.Encode(ids, B)
				mu2, logvar2 := enc.Encode(ids, B)
				if !sameBits(mu, mu2) || !sameBits(logvar, logvar2) {
					t.Errorf("encoder-only pass: mu %v logvar %v, want %v %v", mu2, logvar2, mu, logvar)
				}
				for name := range enc.w {
					if _, ok := full.w[name]; !ok {
						t.Errorf("encoder-only pass has %s, which the whole one has not", name)
					}
				}
				for name, w := range full.w {
					if _, ok := enc.w[name]; ok {
						if !sameBits(enc.w[name], w) {
							t.Errorf("%s differs between the passes", name)
						}
						continue
					}
					if name == "embed" && enc.embed32 != nil {
						if !sameBits(toFloat64(enc.embed32), w) {
							t.Error("the embedding differs between the passes")
						}
						continue
					}
					if isEncoderParam(name) {
						t.Errorf("encoder-only pass lacks %s", name)
					}
				}
				if (dt == tensor.Float32) != (enc.embed32 != nil) {
					t.Errorf("%v parameters: embedding read in place %v", dt, enc.embed32 != nil)
				}
				if _, ok := enc.w["out.W"]; ok {
					t.Error("encoder-only pass holds the output layer")
				}
				defer func() {
					if recover() == nil {
						t.Error("an encoder-only pass decoded")
					}
				}()
				enc.NewDecoder(make([]float64, B*c.Latent), B)
			})
		}
	}
}

// TestModelEncodeFastPath: Model.Encode, which builds only the encoder's
// pass while the model has not decoded, gives the codes of the whole pass
// bit for bit, before and after the whole pass exists, and follows the
// weights through Refresh.
func TestModelEncodeFastPath(t *testing.T) {
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 1, EncHidden: 6, DecHidden: 6, Latent: 3}
	m, err := NewModel(c, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	var four []poetry.Poem
	for _, p := range poems {
		if p.NumLines() == 4 {
			four = append(four, p)
		}
	}
	ids := make([]int, 0, len(four)*c.EncSteps())
	for _, p := range four {
		ids = append(ids, v.Encode(p)...)
	}
	want, wantLV := NewNet(m.Params).Encode(ids, len(four))

	check := func(what string) {
		t.Helper()
		mu, logvar, err := m.Encode(four)
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(slices.Concat(mu...), want) || !sameBits(slices.Concat(logvar...), wantLV) {
			t.Errorf("%s: Encode differs from the whole pass's", what)
		}
	}
	check("encoder only")
	if m.net != nil || m.enc == nil {
		t.Errorf("encoding built the whole pass (net %v, enc %v)", m.net != nil, m.enc != nil)
	}
	m.Forward()
	check("after the whole pass was built")

	// A changed weight, after Refresh, changes the codes.
	m.Refresh()
	w := m.Params.Get("mu.b").Data().([]float32)
	w[0] += 0.5
	m.Refresh()
	mu, _, err := m.Encode(four[:1])
	if err != nil {
		t.Fatal(err)
	}
	if mu[0][0] == want[0] {
		t.Error("the codes did not follow a changed weight")
	}
}

// TestHalvesToFloat32: the float16 conversion of the checkpoint reader is
// float16's, bit for bit, for every one of the 65,536 values.
func TestHalvesToFloat32(t *testing.T) {
	src := make([]byte, 2<<16)
	for h := range 1 << 16 {
		src[2*h], src[2*h+1] = byte(h), byte(h>>8)
	}
	dst := make([]float32, 1<<16)
	halvesToFloat32(dst, src)
	for h := range 1 << 16 {
		want := math.Float32bits(float16.Frombits(uint16(h)).Float32())
		if got := math.Float32bits(dst[h]); got != want {
			t.Fatalf("float16 %#04x: %#08x, want %#08x", h, got, want)
		}
		if got := math.Float32bits(halfToFloat32(uint16(h))); got != want {
			t.Fatalf("halfToFloat32(%#04x) = %#08x, want %#08x", h, got, want)
		}
	}
}

// TestCheckpointSum: a checkpoint read back names the file by the checksum
// it ends with, from a file or from memory, float32 or float16.
func TestCheckpointSum(t *testing.T) {
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	v := corpus.BuildVocab(poems, 1)
	m, err := NewModel(Config{Vocab: v.Size(), Lines: 4, Embed: 4, Highway: 1, EncHidden: 4, DecHidden: 4, Latent: 2}, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sums [][]byte
	for _, f16 := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "m.ckpt")
		if err := (&Checkpoint{Model: m, Float16: f16}).Save(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := data[len(data)-32:]
		ck, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ck.Sum[:], want) {
			t.Errorf("float16 %v: Sum %x, want the file's checksum %x", f16, ck.Sum, want)
		}
		ck, err = LoadBytes("m", data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ck.Sum[:], want) {
			t.Errorf("float16 %v, from memory: Sum %x, want %x", f16, ck.Sum, want)
		}
		sums = append(sums, want)
	}
	if bytes.Equal(sums[0], sums[1]) {
		t.Error("float32 and float16 files have one checksum")
	}
}
