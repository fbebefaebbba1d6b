package model

import (
	"crypto/sha256"
	"testing"

	"poetvae/corpus"
)

// FuzzDecodeCheckpoint: no byte string makes the checkpoint reader panic
// or allocate beyond what the file could fill. Each input is read as it
// is, and again with its checksum made right, so that the fuzzer reaches
// the header, the blocks and the sizes behind the checksum rather than
// stopping at it every time.
func FuzzDecodeCheckpoint(f *testing.F) {
	// A model as small as the format allows: the fuzzer mutates whole
	// inputs, and a checkpoint of a real model's size slows it to a crawl.
	poems := samplePoems(f, 2)
	v := corpus.BuildVocab(poems, 1)
	m, err := NewModel(Config{Vocab: v.Size(), Lines: 4, Embed: 2, Highway: 1, EncHidden: 2, DecHidden: 2, Latent: 2}, v, 1)
	if err != nil {
		f.Fatal(err)
	}
	m.Poems = poems
	m.Keywords = &corpus.Index{Words: map[string][]int{"明月": {0, 1}, "山": {1}}}
	full, err := (&Checkpoint{Model: m}).encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	mu, logvar, err := m.Encode(poems)
	if err != nil {
		f.Fatal(err)
	}
	th, err := BuildThemes(m.Keywords, mu, logvar, 1)
	if err != nil {
		f.Fatal(err)
	}
	m.Themes, m.Keywords, m.Poems = th, nil, nil
	half, err := (&Checkpoint{Model: m, Float16: true}).encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(half)
	f.Add(full[:len(full)/3])
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ck, err := decodeCheckpoint(data); err == nil {
			roundTrip(t, ck)
		}
		if len(data) <= sha256.Size {
			return
		}
		body := data[:len(data)-sha256.Size]
		sum := sha256.Sum256(body)
		fixed := append(append([]byte(nil), body...), sum[:]...)
		if ck, err := decodeCheckpoint(fixed); err == nil {
			roundTrip(t, ck)
		}
	})
}

// roundTrip checks that a checkpoint read without error saves and reads
// again as the same model.
func roundTrip(t *testing.T, ck *Checkpoint) {
	data, err := ck.encode()
	if err != nil {
		return // a file poetvae reads but would not write, such as a bad index: refused on save
	}
	again, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatalf("a checkpoint read and saved again does not read: %v", err)
	}
	if again.Model.Config != ck.Model.Config || again.Model.Params.Count() != ck.Model.Params.Count() {
		t.Fatalf("round trip changed the model: %+v to %+v", ck.Model.Config, again.Model.Config)
	}
}
