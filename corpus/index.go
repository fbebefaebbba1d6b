package corpus

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/yanyiwu/gojieba"

	"poetvae/poetry"
)

// An Index maps words to the poems that contain them, so that the keywords
// of a theme can pick poems to start generation from.
type Index struct {
	// Words maps a word to the indices, into the poems given to
	// BuildIndex, of the poems containing it, in increasing order.
	Words map[string][]int
}

// BuildIndex segments every poem with s and indexes it under each of its
// words that is made of Han characters and is not a stop word.
//
// Poems are cut in jieba's search mode, which adds the dictionary words
// inside a longer word to the word itself: verse runs words together, and
// the accurate mode of Cut turns 床前明月光 into 床前/明月光 and 举头望明月
// into 举头/望明月, which would hide both from a search for 明月.
//
// The jieba dictionaries are in simplified characters and segment
// traditional text poorly, so when traditional is set (see LooksTraditional)
// each poem is converted to simplified characters before it is segmented.
// The keys of the index are then simplified words, as Extract returns them.
// Poems are segmented in their punctuated form, so no word spans two lines.
func BuildIndex(poems []poetry.Poem, s *Segmenter, traditional bool) (*Index, error) {
	ix := &Index{Words: make(map[string][]int)}
	for i, p := range poems {
		text := p.String()
		if traditional {
			var err error
			if text, err = simplify(text); err != nil {
				return nil, err
			}
		}
		var words []string
		if err := s.with(func(jb *gojieba.Jieba) { words = jb.CutForSearch(text, true) }); err != nil {
			return nil, err
		}
		for _, w := range words {
			if !isKeyword(w) {
				continue
			}
			// Poems come in increasing i, so a repeat of a word within
			// one poem shows as i at the end of its list.
			list := ix.Words[w]
			if n := len(list); n == 0 || list[n-1] != i {
				ix.Words[w] = append(list, i)
			}
		}
	}
	return ix, nil
}

// Lookup returns the indices of the poems containing any of words, in
// increasing order and without repeats. Words are matched exactly; for an
// index built with traditional set, they must be simplified.
func (ix *Index) Lookup(words ...string) []int {
	if ix == nil {
		return nil
	}
	var out []int
	for _, w := range words {
		out = append(out, ix.Words[w]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The binary form of an Index is
//
//	"PVINDEX" version words (len word count first gap...)...
//
// with every number a uvarint, words in increasing byte order, and each list
// of poem indices written as its first index followed by the gaps to the
// next, which keeps the small numbers that uvarints store in a byte.
const (
	indexMagic   = "PVINDEX"
	indexVersion = 1
)

// MarshalBinary encodes the index. The encoding does not depend on map
// order, so the same index always gives the same bytes.
func (ix *Index) MarshalBinary() ([]byte, error) {
	var b []byte
	b = append(b, indexMagic...)
	b = binary.AppendUvarint(b, indexVersion)
	b = binary.AppendUvarint(b, uint64(len(ix.Words)))
	for _, w := range slices.Sorted(maps.Keys(ix.Words)) {
		list := ix.Words[w]
		if w == "" || !utf8.ValidString(w) {
			return nil, fmt.Errorf("corpus: keyword index: cannot encode word %q: not valid text", w)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("corpus: keyword index: word %q has no poems", w)
		}
		b = binary.AppendUvarint(b, uint64(len(w)))
		b = append(b, w...)
		b = binary.AppendUvarint(b, uint64(len(list)))
		prev := -1
		for _, i := range list {
			if i <= prev {
				return nil, fmt.Errorf("corpus: keyword index: poems of word %q are not in increasing order (%d after %d)", w, i, prev)
			}
			b = binary.AppendUvarint(b, uint64(i-prev))
			prev = i
		}
	}
	return b, nil
}

// UnmarshalBinary decodes an index written by MarshalBinary, replacing the
// contents of ix. It rejects data that is truncated, has trailing bytes,
// lacks the magic, has another version, repeats a word, or holds a word
// that is not valid UTF-8 or has no poems.
func (ix *Index) UnmarshalBinary(data []byte) error {
	d := decoder{what: "keyword index", data: data}
	if err := d.magic(indexMagic, indexVersion); err != nil {
		return err
	}
	// A word takes at least three bytes: its length, one byte, a count.
	n, err := d.length("word count", 3)
	if err != nil {
		return err
	}
	words := make(map[string][]int, n)
	prevWord := ""
	for k := range n {
		wlen, err := d.length(fmt.Sprintf("length of word %d", k+1), 1)
		if err != nil {
			return err
		}
		wb, err := d.bytes(wlen, fmt.Sprintf("word %d", k+1))
		if err != nil {
			return err
		}
		w := string(wb)
		switch {
		case w == "" || !utf8.ValidString(w):
			return d.errorf("word %d is not valid text: %q", k+1, w)
		case k > 0 && w == prevWord:
			return d.errorf("word %q occurs twice", w)
		case k > 0 && w < prevWord:
			return d.errorf("word %q comes after %q; words must be in increasing order", w, prevWord)
		}
		prevWord = w
		// Every index takes at least one byte.
		count, err := d.length(fmt.Sprintf("poem count of %q", w), 1)
		if err != nil {
			return err
		}
		if count == 0 {
			return d.errorf("word %q has no poems", w)
		}
		list := make([]int, count)
		prev := -1
		for j := range list {
			gap, err := d.uvarint(fmt.Sprintf("poem %d of %q", j+1, w))
			if err != nil {
				return err
			}
			if gap == 0 || gap > uint64(maxPoemIndex-prev) {
				return d.errorf("poem %d of %q: gap %d is out of range", j+1, w, gap)
			}
			prev += int(gap)
			list[j] = prev
		}
		words[w] = list
	}
	if err := d.end(); err != nil {
		return err
	}
	ix.Words = words
	return nil
}

// maxPoemIndex bounds decoded poem indices so that they fit an int on any
// platform.
const maxPoemIndex = 1<<31 - 1
