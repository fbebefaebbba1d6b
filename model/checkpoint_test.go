package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

// keywordModel is an untrained small model with a hand-made keyword index
// over poems, which needs no jieba dictionaries.
func keywordModel(t testing.TB, poems []poetry.Poem) *Model {
	t.Helper()
	m := smallSetup(t, poems, DefaultTrainConfig()).Model
	m.Poems = poems
	m.Keywords = &corpus.Index{Words: map[string][]int{
		"明月": {0, 3},
		"故乡": {0},
		"山":  {1, 2, len(poems) - 1},
	}}
	return m
}

func saveBytes(t *testing.T, ck *Checkpoint) []byte {
	t.Helper()
	data, err := ck.encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCheckpointKeywordsRoundTrip(t *testing.T) {
	poems := samplePoems(t, 10)
	m := keywordModel(t, poems)
	for _, train := range []bool{false, true} {
		ck := &Checkpoint{Model: m}
		if train {
			ck.Train = smallSetup(t, poems, DefaultTrainConfig()).State
		}
		path := filepath.Join(t.TempDir(), "m.ckpt")
		if err := ck.Save(path); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Train != nil) != train {
			t.Errorf("train state %v, want %v", got.Train != nil, train)
		}
		gm := got.Model
		if gm.Keywords == nil {
			t.Fatal("keyword index lost")
		}
		if len(gm.Keywords.Words) != len(m.Keywords.Words) {
			t.Errorf("%d keywords, want %d", len(gm.Keywords.Words), len(m.Keywords.Words))
		}
		for w, list := range m.Keywords.Words {
			if !slices.Equal(gm.Keywords.Words[w], list) {
				t.Errorf("keyword %s: poems %v, want %v", w, gm.Keywords.Words[w], list)
			}
		}
		if len(gm.Poems) != len(poems) {
			t.Fatalf("%d poems, want %d", len(gm.Poems), len(poems))
		}
		for i := range poems {
			if !gm.Poems[i].Equal(poems[i]) {
				t.Errorf("poem %d is %s, want %s", i, gm.Poems[i], poems[i])
			}
		}
		for i := range m.Params.Values {
			if !slices.Equal(gm.Params.Float64s(i), m.Params.Float64s(i)) {
				t.Errorf("parameter %s differs", m.Params.Names[i])
			}
		}
	}

	// The same model saves to the same bytes: the index encoding does not
	// depend on map order.
	if a, b := saveBytes(t, &Checkpoint{Model: m}), saveBytes(t, &Checkpoint{Model: m}); !bytes.Equal(a, b) {
		t.Error("saving the same model twice gave different bytes")
	}
}

func TestCheckpointWithoutKeywords(t *testing.T) {
	poems := samplePoems(t, 10)
	m := smallSetup(t, poems, DefaultTrainConfig()).Model
	m.Poems = poems // poems without an index are not saved
	ck, err := decodeCheckpoint(saveBytes(t, &Checkpoint{Model: m}))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model.Keywords != nil || ck.Model.Poems != nil {
		t.Errorf("model without an index loaded with index %v and %d poems", ck.Model.Keywords, len(ck.Model.Poems))
	}
}

// toVersion1 rewrites a version 2 checkpoint without a keyword index in
// the layout of version 1, which lacks the keyword block.
func toVersion1(t *testing.T, data []byte) []byte {
	t.Helper()
	const head = len(ckptMagic) + 4 + 8
	payload := data[head : len(data)-sha256.Size]
	r := bytes.NewReader(payload)
	for range 2 { // header and vocabulary
		if _, err := getBlock(r); err != nil {
			t.Fatal(err)
		}
	}
	at := len(payload) - r.Len()
	if payload[at] != 0 {
		t.Fatal("checkpoint has a keyword index; version 1 cannot hold one")
	}
	payload = slices.Delete(slices.Clone(payload), at, at+1)
	var out bytes.Buffer
	out.WriteString(ckptMagic)
	binary.Write(&out, binary.LittleEndian, uint32(1))
	binary.Write(&out, binary.LittleEndian, uint64(len(payload)))
	out.Write(payload)
	sum := sha256.Sum256(out.Bytes())
	out.Write(sum[:])
	return out.Bytes()
}

func TestCheckpointVersion1(t *testing.T) {
	poems := samplePoems(t, 10)
	tr := smallSetup(t, poems, DefaultTrainConfig())
	for _, train := range []bool{false, true} {
		ck := &Checkpoint{Model: tr.Model}
		if train {
			ck.Train = tr.State
		}
		v1 := toVersion1(t, saveBytes(t, ck))
		path := filepath.Join(t.TempDir(), "v1.ckpt")
		if err := os.WriteFile(path, v1, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatalf("version 1 file: %v", err)
		}
		if got.Model.Keywords != nil || got.Model.Poems != nil {
			t.Error("version 1 file loaded with a keyword index")
		}
		if (got.Train != nil) != train {
			t.Errorf("train state %v, want %v", got.Train != nil, train)
		}
		for i := range tr.Model.Params.Values {
			if !slices.Equal(got.Model.Params.Float64s(i), tr.Model.Params.Float64s(i)) {
				t.Errorf("parameter %s differs", tr.Model.Params.Names[i])
			}
		}
		// Saving again writes the current version, which still loads.
		if _, err := decodeCheckpoint(saveBytes(t, got)); err != nil {
			t.Errorf("version 1 model saved again: %v", err)
		}
	}
}

func TestCheckpointVersions(t *testing.T) {
	poems := samplePoems(t, 10)
	data := saveBytes(t, &Checkpoint{Model: smallSetup(t, poems, DefaultTrainConfig()).Model})
	for _, v := range []uint32{0, 4} {
		// A well-formed file of another version: its checksum holds.
		other := bytes.Clone(data)
		binary.LittleEndian.PutUint32(other[len(ckptMagic):], v)
		body := other[:len(other)-sha256.Size]
		sum := sha256.Sum256(body)
		copy(other[len(body):], sum[:])
		_, err := decodeCheckpoint(other)
		if err == nil || !strings.Contains(err.Error(), "versions 1 to 3") {
			t.Errorf("version %d: error %v, want one naming the versions read", v, err)
		}
		// The same bytes changed in a file of this version are damage,
		// and are reported as such, not as another version.
		flipped := bytes.Clone(data)
		binary.LittleEndian.PutUint32(flipped[len(ckptMagic):], v)
		if _, err := decodeCheckpoint(flipped); err == nil || !strings.Contains(err.Error(), "corrupted") {
			t.Errorf("version field damaged to %d: error %v, want corruption", v, err)
		}
	}
}

// TestLoadRefusesLargeNonCheckpoint: a file that is not a checkpoint, or
// whose header announces more than the file holds, is refused from its
// first bytes.
func TestLoadRefusesLargeNonCheckpoint(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(text); err == nil || !strings.Contains(err.Error(), "not a poetvae checkpoint but text") || !strings.Contains(err.Error(), text) {
		t.Errorf("Load(text) = %v", err)
	}
	big := make([]byte, 64)
	copy(big, ckptMagic)
	binary.LittleEndian.PutUint32(big[len(ckptMagic):], ckptVersion)
	binary.LittleEndian.PutUint64(big[len(ckptMagic)+4:], 1<<40)
	path := filepath.Join(dir, "huge.ckpt")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "announces") {
		t.Errorf("Load(header announcing 1 TiB) = %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Load(dir) = %v", err)
	}
}

// TestCheckpointKeywordDamage: a damaged file with an index is caught as
// before, and a bad index fails to save rather than to load.
func TestCheckpointKeywordDamage(t *testing.T) {
	poems := samplePoems(t, 10)
	m := keywordModel(t, poems)
	data := saveBytes(t, &Checkpoint{Model: m})
	for n := 0; n < len(data); n += 13 {
		if _, err := decodeCheckpoint(data[:n]); err == nil {
			t.Fatalf("checkpoint cut at %d bytes loaded", n)
		}
	}
	// Flip a bit inside the keyword block: the poems follow the header and
	// vocabulary, so a poem's text is there.
	at := bytes.Index(data, []byte(poems[0].Text()))
	if at < 0 {
		t.Fatal("poem text not found in the checkpoint")
	}
	bad := bytes.Clone(data)
	bad[at] ^= 0x01
	if _, err := decodeCheckpoint(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bit flip in the keyword poems: error %v, want a checksum mismatch", err)
	}

	// An index that refers past the poems, or to poems of another shape,
	// is refused on saving.
	m.Keywords.Words["秋"] = []int{len(poems)}
	if _, err := (&Checkpoint{Model: m}).encode(); err == nil || !strings.Contains(err.Error(), "秋") {
		t.Errorf("index referring past the poems: error %v, want one naming the word", err)
	}
	delete(m.Keywords.Words, "秋")
	two, _ := poetry.Parse("床前明月光，疑是地上霜。")
	m.Poems = append(slices.Clone(poems), two)
	if _, err := (&Checkpoint{Model: m}).encode(); err == nil || !strings.Contains(err.Error(), "2 lines") {
		t.Errorf("two-line poem in a quatrain model's index: error %v", err)
	}
}

// TestDecodeKeywords checks the keyword block on its own, past the checksum
// that normally guards it.
func TestDecodeKeywords(t *testing.T) {
	poems := samplePoems(t, 3)
	ix, _ := (&corpus.Index{Words: map[string][]int{"月": {0, 2}}}).MarshalBinary()
	block := func(ix []byte, text string) []byte {
		return appendBlock(appendBlock(nil, ix), []byte(text))
	}
	var text strings.Builder
	for _, p := range poems {
		text.WriteString(p.Text() + "\n")
	}
	good := block(ix, text.String())
	gotIx, gotPoems, err := decodeKeywords(good, 4)
	if err != nil || len(gotPoems) != 3 || !slices.Equal(gotIx.Lookup("月"), []int{0, 2}) {
		t.Fatalf("decodeKeywords = %v, %d poems, %v", gotIx, len(gotPoems), err)
	}
	if ix, p, err := decodeKeywords(nil, 4); ix != nil || p != nil || err != nil {
		t.Errorf("empty block: %v, %v, %v; want no index", ix, p, err)
	}
	cases := map[string][]byte{
		"trailing bytes":  append(slices.Clone(good), 0),
		"bad index":       block([]byte("PVINDEX?"), text.String()),
		"no final line":   block(ix, strings.TrimSuffix(text.String(), "\n")),
		"short poem":      block(ix, "床前明月光\n"+text.String()),
		"two-line poem":   block(ix, "床前明月光疑是地上霜\n"+text.String()),
		"missing poem":    block(ix, poems[0].Text()+"\n"),
		"truncated block": good[:len(good)-5],
	}
	for name, data := range cases {
		if _, _, err := decodeKeywords(data, 4); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
