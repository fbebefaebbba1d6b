package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"poetvae/corpus"
)

// Themes is what generate --theme needs of a corpus, kept as figures rather
// than as its poems: for each keyword, how many poems contain it and the
// Gaussian that matches the first two moments of those poems' posteriors
// (the average of q(z|x) over the poems). A model given to others carries
// Themes instead of Keywords and Poems, so that it holds no poem text.
type Themes struct {
	Words []string // in increasing order
	Poems []int    // poems containing each word
	// The figures of each word (Figures): the mean code of its poems, and
	// the log variance of their codes, per dimension. They are float64
	// where BuildThemes worked them out, and kept as the float16 a
	// checkpoint stores where they were read from one (halves: for each
	// word its dim means, then its dim log variances), converted only for
	// the words asked for: a model given away holds some ten thousand
	// words, whose 5 MB of float64 figures every command that loads it
	// would make, for generate --theme to use a few.
	dim          int
	mean, logVar [][]float64
	halves       []byte
}

// Dim is the number of dimensions of the figures: the latent size of the
// codes they were worked out from.
func (t *Themes) Dim() int { return t.dim }

// Figures returns the mean code of the poems of the i-th word, and the log
// variance of their codes, per dimension; the caller may change them.
func (t *Themes) Figures(i int) (mean, logVar []float64) {
	if t.halves == nil {
		return slices.Clone(t.mean[i]), slices.Clone(t.logVar[i])
	}
	d := t.dim
	fig := t.halves[4*d*i : 4*d*(i+1)]
	mean, logVar = make([]float64, d), make([]float64, d)
	halves := halfTable()
	for j := range d {
		mean[j] = float64(halves[binary.LittleEndian.Uint16(fig[2*j:])])
		logVar[j] = float64(halves[binary.LittleEndian.Uint16(fig[2*(d+j):])])
	}
	return mean, logVar
}

// BuildThemes summarises ix, an index of poems whose posterior means and
// log variances are mu and logvar, keeping the words that at least
// minPoems poems contain: rarer words say more of their few poems than of
// a theme, and each word costs the file 4 bytes a latent dimension.
func BuildThemes(ix *corpus.Index, mu, logvar [][]float64, minPoems int) (*Themes, error) {
	if len(mu) != len(logvar) {
		return nil, fmt.Errorf("themes: %d means and %d variances", len(mu), len(logvar))
	}
	t := &Themes{}
	if len(mu) > 0 {
		t.dim = len(mu[0])
	}
	for w, list := range ix.Words {
		if len(list) >= max(minPoems, 1) {
			t.Words = append(t.Words, w)
		}
	}
	slices.Sort(t.Words)
	for _, w := range t.Words {
		list := ix.Words[w]
		dim := 0
		if len(mu) > 0 {
			dim = len(mu[0])
		}
		mean, second := make([]float64, dim), make([]float64, dim)
		for _, i := range list {
			if i >= len(mu) {
				return nil, fmt.Errorf("themes: word %q refers to poem %d of %d", w, i+1, len(mu))
			}
			for d := range dim {
				mean[d] += mu[i][d]
				second[d] += math.Exp(logvar[i][d]) + mu[i][d]*mu[i][d]
			}
		}
		lv := make([]float64, dim)
		n := float64(len(list))
		for d := range dim {
			mean[d] /= n
			// The variance of the mixture of the poems' posteriors: their
			// own spread plus that of their means around the word's mean.
			lv[d] = math.Log(max(second[d]/n-mean[d]*mean[d], 1e-8))
		}
		t.Poems = append(t.Poems, len(list))
		t.mean = append(t.mean, mean)
		t.logVar = append(t.logVar, lv)
	}
	return t, nil
}

// Lookup returns the position of word in t, or false.
func (t *Themes) Lookup(word string) (int, bool) {
	return slices.BinarySearch(t.Words, word)
}

// MarshalBinary writes t as: uvarint word count, uvarint latent size, then
// for each word its length-prefixed UTF-8, its uvarint poem count, and its
// mean and log variance as float16 (the figures steer sampling; half
// precision loses nothing that shows, and halves the block).
func (t *Themes) MarshalBinary() ([]byte, error) {
	dim := t.dim
	out := binary.AppendUvarint(nil, uint64(len(t.Words)))
	out = binary.AppendUvarint(out, uint64(dim))
	for i, w := range t.Words {
		out = appendBlock(out, []byte(w))
		out = binary.AppendUvarint(out, uint64(t.Poems[i]))
		if t.halves != nil {
			out = append(out, t.halves[4*dim*i:4*dim*(i+1)]...)
			continue
		}
		if len(t.mean[i]) != dim || len(t.logVar[i]) != dim {
			return nil, fmt.Errorf("themes: word %q has figures of %d and %d dimensions, want %d", w, len(t.mean[i]), len(t.logVar[i]), dim)
		}
		out = appendFloat16s(out, t.mean[i])
		out = appendFloat16s(out, t.logVar[i])
	}
	return out, nil
}

// UnmarshalBinary reads what MarshalBinary wrote, keeping the figures in
// float16 (Figures converts them).
func (t *Themes) UnmarshalBinary(data []byte) error {
	truncated := errors.New("theme figures are truncated")
	n, k := binary.Uvarint(data)
	if k <= 0 {
		return truncated
	}
	dim, k2 := binary.Uvarint(data[k:])
	if k2 <= 0 || n > uint64(len(data)) || dim > 1<<16 {
		return truncated
	}
	r := data[k+k2:]
	d := int(dim)
	// A word takes at least a length, a count and its figures: no more
	// words than that fit in the block are made room for. The words are
	// cut from one string, their bytes in a row.
	room := min(int(n), len(r)/(2+4*d))
	*t = Themes{Poems: make([]int, 0, room), dim: d, halves: make([]byte, 0, 4*d*room)}
	var text, prev []byte
	ends := make([]int, 0, room)
	for range n {
		wl, k := binary.Uvarint(r)
		if k <= 0 || wl > uint64(len(r)-k) {
			return truncated
		}
		w := r[k : k+int(wl)]
		r = r[k+int(wl):]
		poems, k := binary.Uvarint(r)
		if k <= 0 {
			return truncated
		}
		r = r[k:]
		if len(ends) > 0 && string(w) <= string(prev) {
			return fmt.Errorf("theme figures: word %q out of order", w)
		}
		prev = w
		if len(r) < 4*d {
			return truncated
		}
		text = append(text, w...)
		ends = append(ends, len(text))
		t.Poems = append(t.Poems, int(poems))
		t.halves = append(t.halves, r[:4*d]...)
		r = r[4*d:]
	}
	if len(r) != 0 {
		return fmt.Errorf("theme figures have %d unexpected bytes", len(r))
	}
	all, start := string(text), 0
	t.Words = make([]string, len(ends))
	for i, end := range ends {
		t.Words[i], start = all[start:end], end
	}
	return nil
}
