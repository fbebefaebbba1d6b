package corpus

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"poetvae/poetry"
)

// Ids with a fixed meaning. Characters get ids from NumSpecial on.
const (
	PAD        = 0 // padding of unused batch rows; never a model target
	BOS        = 1 // start of the decoder input
	EOS        = 2 // end of the decoder target
	UNK        = 3 // any character not in the vocabulary
	NumSpecial = 4 // number of special ids
)

// Vocab maps characters to ids and back. Its zero value is an empty
// vocabulary that maps every character to UNK.
type Vocab struct {
	runes  []rune       // runes[id-NumSpecial]
	counts []int        // counts[id-NumSpecial]
	ids    map[rune]int // rune -> id
}

// BuildVocab counts the characters of poems and gives ids to those that
// occur at least minCount times, from NumSpecial on: the most frequent
// character first, ties broken by code point, so that the same poems always
// give the same ids. Rarer characters are left out and encode as UNK, which
// gives the model training examples of UNK to use for unseen characters.
// A minCount below 1 counts as 1.
func BuildVocab(poems []poetry.Poem, minCount int) *Vocab {
	counts := make(map[rune]int)
	for _, p := range poems {
		for _, r := range p.Chars() {
			counts[r]++
		}
	}
	type entry struct {
		r rune
		n int
	}
	entries := make([]entry, 0, len(counts))
	for r, n := range counts {
		if n >= minCount {
			entries = append(entries, entry{r, n})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.r, b.r)
	})
	v := &Vocab{
		runes:  make([]rune, len(entries)),
		counts: make([]int, len(entries)),
		ids:    make(map[rune]int, len(entries)),
	}
	for i, e := range entries {
		v.runes[i], v.counts[i] = e.r, e.n
		v.ids[e.r] = i + NumSpecial
	}
	return v
}

// Size reports the number of ids, special ids included; valid ids are
// 0 through Size()-1.
func (v *Vocab) Size() int { return NumSpecial + len(v.runes) }

// ID returns the id of r, or UNK when r is not in the vocabulary.
func (v *Vocab) ID(r rune) int {
	if id, ok := v.ids[r]; ok {
		return id
	}
	return UNK
}

// Has reports whether r has an id of its own.
func (v *Vocab) Has(r rune) bool {
	_, ok := v.ids[r]
	return ok
}

// Rune returns the character with the given id, or 0 for a special or
// out-of-range id.
func (v *Vocab) Rune(id int) rune {
	if id < NumSpecial || id >= v.Size() {
		return 0
	}
	return v.runes[id-NumSpecial]
}

// Count returns how often the character with the given id occurred in the
// poems the vocabulary was built from, or 0 for a special or out-of-range id.
func (v *Vocab) Count(id int) int {
	if id < NumSpecial || id >= v.Size() {
		return 0
	}
	return v.counts[id-NumSpecial]
}

// FirstDifference returns the first id that v and o give to different
// characters (or that only one of them has), and -1 when they give every
// character the same id: models whose vocabularies differ cannot share
// weights indexed by id.
func (v *Vocab) FirstDifference(o *Vocab) int {
	n := min(len(v.runes), len(o.runes))
	for i := 0; i < n; i++ {
		if v.runes[i] != o.runes[i] {
			return NumSpecial + i
		}
	}
	if len(v.runes) != len(o.runes) {
		return NumSpecial + n
	}
	return -1
}

// Encode returns the ids of the characters of p, line after line, without
// BOS or EOS.
func (v *Vocab) Encode(p poetry.Poem) []int {
	chars := p.Chars()
	ids := make([]int, len(chars))
	for i, r := range chars {
		ids[i] = v.ID(r)
	}
	return ids
}

// Unknown returns the distinct characters of p that are not in the
// vocabulary, in order of first occurrence.
func (v *Vocab) Unknown(p poetry.Poem) []rune {
	var unknown []rune
	for _, r := range p.Chars() {
		if !v.Has(r) && !slices.Contains(unknown, r) {
			unknown = append(unknown, r)
		}
	}
	return unknown
}

// The binary form of a Vocab is
//
//	"PVVOCAB" version count (rune n)...
//
// with version, count, each rune and each n written as uvarints, entries in
// id order from NumSpecial on. The magic makes a wrong file fail loudly and
// the version lets the format change without misreading old files.
const (
	vocabMagic   = "PVVOCAB"
	vocabVersion = 1
)

// MarshalBinary encodes the vocabulary, ids and counts included, so that a
// trained model can be stored with the exact ids it was trained on.
func (v *Vocab) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(vocabMagic)+2*binary.MaxVarintLen32+len(v.runes)*5)
	b = append(b, vocabMagic...)
	b = binary.AppendUvarint(b, vocabVersion)
	b = binary.AppendUvarint(b, uint64(len(v.runes)))
	for i, r := range v.runes {
		b = binary.AppendUvarint(b, uint64(r))
		b = binary.AppendUvarint(b, uint64(v.counts[i]))
	}
	return b, nil
}

// UnmarshalBinary decodes a vocabulary written by MarshalBinary, replacing
// the contents of v. It rejects data that is truncated, has trailing bytes,
// lacks the magic, has another version, or holds an entry that is not a
// valid character, is the 0 reserved for special ids, or repeats one.
func (v *Vocab) UnmarshalBinary(data []byte) error {
	d := decoder{what: "vocabulary", data: data}
	if err := d.magic(vocabMagic, vocabVersion); err != nil {
		return err
	}
	// Each entry takes at least two bytes; checking that before allocating
	// keeps a corrupt count from asking for gigabytes.
	n, err := d.length("entry count", 2)
	if err != nil {
		return err
	}
	w := Vocab{
		runes:  make([]rune, n),
		counts: make([]int, n),
		ids:    make(map[rune]int, n),
	}
	for i := range n {
		id := i + NumSpecial
		x, err := d.uvarint(fmt.Sprintf("character of id %d", id))
		if err != nil {
			return err
		}
		r := rune(x)
		switch {
		case x == 0:
			return fmt.Errorf("corpus: vocabulary: id %d has character 0, which is reserved for the special ids", id)
		case x > utf8.MaxRune || !utf8.ValidRune(r):
			return fmt.Errorf("corpus: vocabulary: id %d has invalid character %#x", id, x)
		}
		if prev, dup := w.ids[r]; dup {
			return fmt.Errorf("corpus: vocabulary: character %q has both id %d and id %d", r, prev, id)
		}
		c, err := d.uvarint(fmt.Sprintf("count of id %d", id))
		if err != nil {
			return err
		}
		if c > 1<<53 {
			return fmt.Errorf("corpus: vocabulary: id %d has implausible count %d", id, c)
		}
		w.runes[i], w.counts[i], w.ids[r] = r, int(c), id
	}
	if err := d.end(); err != nil {
		return err
	}
	*v = w
	return nil
}
