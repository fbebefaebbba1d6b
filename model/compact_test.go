package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"

	"poetvae/corpus"
)

// TestCheckpointFloat16: a model stored in half precision loads with every
// weight its float16 rounding, in a file about half the size, and saves
// again in half precision; with training state it is refused.
func TestCheckpointFloat16(t *testing.T) {
	poems := samplePoems(t, 10)
	m := smallSetup(t, poems, DefaultTrainConfig()).Model
	full := saveBytes(t, &Checkpoint{Model: m})
	half := saveBytes(t, &Checkpoint{Model: m, Float16: true})
	weights := 4 * m.Params.Count()
	// Half the weights' bytes, less the header's word for them.
	if got, want := len(full)-len(half), weights/2-len(`,"weights":"float16"`); got != want {
		t.Errorf("float16 file is %d bytes smaller, want %d (half of %d bytes of weights, less the header's field)", got, want, weights)
	}
	ck, err := decodeCheckpoint(half)
	if err != nil {
		t.Fatal(err)
	}
	if !ck.Float16 {
		t.Error("float16 file loaded as float32")
	}
	changed := 0
	for i, name := range m.Params.Names {
		orig, got := m.Params.Float64s(i), ck.Model.Params.Float64s(i)
		for j := range orig {
			want := float64(float16.Fromfloat32(float32(orig[j])).Float32())
			if got[j] != want {
				t.Fatalf("%s[%d] = %g, want %g (the float16 of %g)", name, j, got[j], want, orig[j])
			}
			// Half precision keeps 11 significant bits.
			if math.Abs(got[j]-orig[j]) > math.Abs(orig[j])/1024+1e-7 {
				t.Fatalf("%s[%d] = %g, too far from %g", name, j, got[j], orig[j])
			}
			if got[j] != orig[j] {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Error("no weight changed in half precision: the test is not testing it")
	}
	again := saveBytes(t, ck)
	if len(again) != len(half) {
		t.Errorf("a float16 model saved again is %d bytes, want %d", len(again), len(half))
	}
	tr := smallSetup(t, poems, DefaultTrainConfig())
	if _, err := (&Checkpoint{Model: tr.Model, Train: tr.State, Float16: true}).encode(); err == nil || !strings.Contains(err.Error(), "float16") {
		t.Errorf("float16 with training state: %v, want a refusal", err)
	}
}

// TestBuildThemes checks the figures against moments worked out by hand:
// two poems with one-dimensional posteriors N(1, 1) and N(3, e^0 = 1).
func TestBuildThemes(t *testing.T) {
	ix := &corpus.Index{Words: map[string][]int{"月": {0, 1}, "山": {1}, "水": {0, 1, 2}}}
	mu := [][]float64{{1, 0}, {3, 0}, {5, 2}}
	logvar := [][]float64{{0, 0}, {0, math.Log(4)}, {0, 0}}
	th, err := BuildThemes(ix, mu, logvar, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(th.Words, []string{"月", "水"}) { // 山 has one poem, under the floor
		t.Fatalf("words %q", th.Words)
	}
	i, ok := th.Lookup("月")
	if !ok || th.Poems[i] != 2 {
		t.Fatalf("月: %d %v", i, ok)
	}
	// Mean 2; second moment ((1+1) + (1+9))/2 = 6, variance 2 in the first
	// dimension; in the second (1 + 4)/2 = 2.5.
	mean, logVar := th.Figures(i)
	if got := mean; math.Abs(got[0]-2) > 1e-12 || math.Abs(got[1]) > 1e-12 {
		t.Errorf("月 mean %v, want [2 0]", got)
	}
	if got := logVar; math.Abs(got[0]-math.Log(2)) > 1e-12 || math.Abs(got[1]-math.Log(2.5)) > 1e-12 {
		t.Errorf("月 log variance %v, want [log 2, log 2.5]", got)
	}
	if _, ok := th.Lookup("山"); ok {
		t.Error("山 found below the floor")
	}

	data, err := th.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := new(Themes)
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Words, th.Words) || !slices.Equal(back.Poems, th.Poems) {
		t.Fatalf("round trip: %q %v, want %q %v", back.Words, back.Poems, th.Words, th.Poems)
	}
	if back.Dim() != th.Dim() {
		t.Errorf("round trip: %d dimensions, want %d", back.Dim(), th.Dim())
	}
	for k := range th.Words {
		mean, logVar := th.Figures(k)
		backMean, backLogVar := back.Figures(k)
		for d := range mean {
			if math.Abs(backMean[d]-mean[d]) > 1e-3*(1+math.Abs(mean[d])) ||
				math.Abs(backLogVar[d]-logVar[d]) > 1e-3*(1+math.Abs(logVar[d])) {
				t.Errorf("%s[%d]: %g %g after the round trip, want %g %g", th.Words[k], d, backMean[d], backLogVar[d], mean[d], logVar[d])
			}
		}
	}
	// Read back and written again: the same bytes.
	again, err := back.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("figures read back and written again differ (%v)", err)
	}
	for cut := range len(data) {
		if err := new(Themes).UnmarshalBinary(data[:cut]); err == nil {
			t.Errorf("figures cut at %d of %d bytes read without error", cut, len(data))
		}
	}
}

// TestCheckpointThemes: a model with theme figures in place of its index
// saves and loads them, and holds no poem text.
func TestCheckpointThemes(t *testing.T) {
	poems := samplePoems(t, 10)
	m := keywordModel(t, poems)
	mu, logvar, err := m.Encode(poems)
	if err != nil {
		t.Fatal(err)
	}
	th, err := BuildThemes(m.Keywords, mu, logvar, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Checkpoint{Model: m}).encode(); err != nil {
		t.Fatal(err)
	}
	m.Themes = th
	if _, err := (&Checkpoint{Model: m}).encode(); err == nil {
		t.Error("a model with both an index and theme figures saved")
	}
	m.Keywords, m.Poems = nil, nil
	data := saveBytes(t, &Checkpoint{Model: m, Float16: true})
	for _, p := range poems {
		if line := []byte(string(p.Line(0))); bytes.Contains(data, line) {
			t.Fatalf("the file holds the line %s", string(p.Line(0)))
		}
	}
	ck, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model.Themes == nil || !slices.Equal(ck.Model.Themes.Words, th.Words) || ck.Model.Keywords != nil {
		t.Fatalf("loaded themes %v, keywords %v", ck.Model.Themes, ck.Model.Keywords)
	}
}

// TestCheckpointVersion2Index: a version 2 file, whose keyword block has no
// kind byte, still loads with its index and poems.
func TestCheckpointVersion2Index(t *testing.T) {
	poems := samplePoems(t, 10)
	m := keywordModel(t, poems)
	data := saveBytes(t, &Checkpoint{Model: m})
	const head = len(ckptMagic) + 4 + 8
	payload := data[head : len(data)-sha256.Size]
	r := bytes.NewReader(payload)
	var blocks [][]byte
	for range 3 {
		b, err := getBlock(r)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	if blocks[2][0] != keywordIndex {
		t.Fatalf("keyword block starts with %d", blocks[2][0])
	}
	rest := payload[len(payload)-r.Len():]
	var p []byte
	p = appendBlock(p, blocks[0])
	p = appendBlock(p, blocks[1])
	p = appendBlock(p, blocks[2][1:]) // version 2 has no kind byte
	p = append(p, rest...)
	var out bytes.Buffer
	out.WriteString(ckptMagic)
	binary.Write(&out, binary.LittleEndian, uint32(2))
	binary.Write(&out, binary.LittleEndian, uint64(len(p)))
	out.Write(p)
	sum := sha256.Sum256(out.Bytes())
	out.Write(sum[:])
	ck, err := decodeCheckpoint(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ck.Model.Keywords.Lookup("明月"); !slices.Equal(got, []int{0, 3}) || len(ck.Model.Poems) != len(poems) {
		t.Errorf("version 2 index: 明月 %v, %d poems", got, len(ck.Model.Poems))
	}
}

// TestLoadEncoderOnly: a model read for encoding only has the encoder's
// weights of the full read, at both precisions, and encodes the same
// means; its decoder's are zero, and it refuses to decode, to give a
// rhyme group, to fit codes or to be saved. Trusted skips the checksum
// only: a damaged file read trusted still has every other check.
func TestLoadEncoderOnly(t *testing.T) {
	poems := samplePoems(t, 10)
	m := smallSetup(t, poems, DefaultTrainConfig()).Model
	for _, half := range []bool{false, true} {
		data := saveBytes(t, &Checkpoint{Model: m, Float16: half})
		full, err := decodeCheckpoint(data)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := decodeCheckpointFor(data, LoadOptions{EncoderOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		read := 0
		for i, name := range full.Model.Params.Names {
			want, got := full.Model.Params.Float64s(i), enc.Model.Params.Float64s(i)
			for j := range want {
				if isEncoderParam(name) && got[j] != want[j] || !isEncoderParam(name) && got[j] != 0 {
					t.Fatalf("float16 %v: %s[%d] read for encoding only is %g, the full read's %g", half, name, j, got[j], want[j])
				}
			}
			if isEncoderParam(name) {
				read++
			}
		}
		if read == 0 || read == len(full.Model.Params.Names) {
			t.Fatalf("%d of %d tensors are the encoder's", read, len(full.Model.Params.Names))
		}
		wantMu, _, err := full.Model.Encode(poems)
		if err != nil {
			t.Fatal(err)
		}
		gotMu, _, err := enc.Model.Encode(poems)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(wantMu, gotMu, slices.Equal) {
			t.Errorf("float16 %v: the encoder-only model encodes other means", half)
		}
		em := enc.Model
		if _, err := em.Decode(wantMu, ReconOptions(em), nil); !errors.Is(err, errEncoderOnly) {
			t.Errorf("decoding with the encoder alone: %v", err)
		}
		if _, err := em.CodeRhymeGroup(wantMu[0], nil); em.Config.RhymeChars && !errors.Is(err, errEncoderOnly) {
			t.Errorf("a rhyme group from the encoder alone: %v", err)
		}
		if _, _, _, err := em.FitCodes(poems, CeilingFit); !errors.Is(err, errEncoderOnly) {
			t.Errorf("fitting codes with the encoder alone: %v", err)
		}
		if _, err := enc.encode(); !errors.Is(err, errEncoderOnly) {
			t.Errorf("saving the encoder alone: %v", err)
		}
	}
	data := saveBytes(t, &Checkpoint{Model: m})
	data[len(data)-1] ^= 1 // the checksum itself
	if _, err := decodeCheckpoint(data); err == nil {
		t.Fatal("a wrong checksum was accepted")
	}
	if _, err := decodeCheckpointFor(data, LoadOptions{Trusted: true}); err != nil {
		t.Errorf("read trusted, a wrong checksum is not checked: %v", err)
	}
	if _, err := decodeCheckpointFor(data[:len(data)-100], LoadOptions{Trusted: true}); err == nil {
		t.Error("read trusted, a truncated file was accepted")
	}
}
