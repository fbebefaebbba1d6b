package model

import (
	"bytes"
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
	Words  []string    // in increasing order
	Poems  []int       // poems containing each word
	Mean   [][]float64 // mean code of each word's poems
	LogVar [][]float64 // log variance of each word's poems' codes, per dimension
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
		t.Mean = append(t.Mean, mean)
		t.LogVar = append(t.LogVar, lv)
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
	dim := 0
	if len(t.Mean) > 0 {
		dim = len(t.Mean[0])
	}
	out := binary.AppendUvarint(nil, uint64(len(t.Words)))
	out = binary.AppendUvarint(out, uint64(dim))
	for i, w := range t.Words {
		if len(t.Mean[i]) != dim || len(t.LogVar[i]) != dim {
			return nil, fmt.Errorf("themes: word %q has figures of %d and %d dimensions, want %d", w, len(t.Mean[i]), len(t.LogVar[i]), dim)
		}
		out = appendBlock(out, []byte(w))
		out = binary.AppendUvarint(out, uint64(t.Poems[i]))
		out = appendFloat16s(out, t.Mean[i])
		out = appendFloat16s(out, t.LogVar[i])
	}
	return out, nil
}

// UnmarshalBinary reads what MarshalBinary wrote.
func (t *Themes) UnmarshalBinary(data []byte) error {
	r := bytes.NewReader(data)
	n, err1 := binary.ReadUvarint(r)
	dim, err2 := binary.ReadUvarint(r)
	if err := errors.Join(err1, err2); err != nil || n > uint64(len(data)) || dim > 1<<16 {
		return errors.New("theme figures are truncated")
	}
	*t = Themes{}
	for range n {
		w, err := getBlock(r)
		if err != nil {
			return errors.New("theme figures are truncated")
		}
		poems, err := binary.ReadUvarint(r)
		if err != nil {
			return errors.New("theme figures are truncated")
		}
		if len(t.Words) > 0 && string(w) <= t.Words[len(t.Words)-1] {
			return fmt.Errorf("theme figures: word %q out of order", w)
		}
		mean, err := getFloats(r, int(dim), 2)
		if err != nil {
			return errors.New("theme figures are truncated")
		}
		lv, err := getFloats(r, int(dim), 2)
		if err != nil {
			return errors.New("theme figures are truncated")
		}
		t.Words = append(t.Words, string(w))
		t.Poems = append(t.Poems, int(poems))
		t.Mean = append(t.Mean, mean)
		t.LogVar = append(t.LogVar, lv)
	}
	if r.Len() != 0 {
		return fmt.Errorf("theme figures have %d unexpected bytes", r.Len())
	}
	return nil
}
