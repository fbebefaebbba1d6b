package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"poetvae/corpus"
	"poetvae/poetry"
)

// DecodeOptions says how to turn latent codes into poems.
type DecodeOptions struct {
	Lines       int     // lines to write: 2, or the model's 4 or 8 (an 8-line model also writes 4)
	Greedy      bool    // take the most likely character at every step
	Temperature float64 // sampling temperature (> 0); ignored when greedy
	TopK        int     // sample among the k most likely characters; 0 means all
}

// CheckLines reports whether the model can write poems of n lines.
func (c Config) CheckLines(n int) error {
	if n == 2 || n == c.Lines || (n == 4 && c.Lines == 8) {
		return nil
	}
	allowed := "2 or 4"
	if c.Lines == 8 {
		allowed = "2, 4 or 8"
	}
	return fmt.Errorf("cannot write %d-line poems with a model trained on %d-line poems (use %s)", n, c.Lines, allowed)
}

// Decode writes one poem from each latent code. Every poem is well formed
// by construction: at each of the 5·Lines steps the special tokens (PAD,
// BOS, EOS, UNK) are masked out, so only characters can be chosen, and the
// poem ends exactly when its last line is full (EOS is forced there and
// never needs to be sampled).
func (m *Model) Decode(z [][]float64, opt DecodeOptions, rng *rand.Rand) ([]poetry.Poem, error) {
	if err := m.Config.CheckLines(opt.Lines); err != nil {
		return nil, err
	}
	if !opt.Greedy && !(opt.Temperature > 0) {
		return nil, fmt.Errorf("temperature must be positive, not %g", opt.Temperature)
	}
	if opt.TopK < 0 {
		return nil, fmt.Errorf("top-k cannot be negative (%d)", opt.TopK)
	}
	B, V, Z := len(z), m.Config.Vocab, m.Config.Latent
	if B == 0 {
		return nil, nil
	}
	flat := make([]float64, 0, B*Z)
	for i, row := range z {
		if len(row) != Z {
			return nil, fmt.Errorf("latent code %d has %d values, the model %d", i, len(row), Z)
		}
		flat = append(flat, row...)
	}
	N := 5 * opt.Lines
	d := m.Forward().NewDecoder(flat, B)
	prev := make([]int, B)
	for b := range prev {
		prev[b] = corpus.BOS
	}
	chars := make([][]rune, B)
	probs := make([]float64, V)
	for s := 0; s < N; s++ {
		logits := d.Step(prev)
		for b := 0; b < B; b++ {
			row := logits[b*V : (b+1)*V]
			for id := 0; id < corpus.NumSpecial; id++ {
				row[id] = math.Inf(-1)
			}
			var id int
			if opt.Greedy {
				id = argmax(row)
			} else {
				id = sample(row, probs, opt.Temperature, opt.TopK, rng)
			}
			prev[b] = id
			chars[b] = append(chars[b], m.Vocab.Rune(id))
		}
	}
	poems := make([]poetry.Poem, B)
	for b, cs := range chars {
		p, err := poetry.New(cs)
		if err != nil { // the vocabulary holds only Han characters, so this means a damaged model
			return nil, fmt.Errorf("decoding produced a malformed poem: %w", err)
		}
		poems[b] = p
	}
	return poems, nil
}

func argmax(row []float64) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// sample draws an index from softmax(row/temperature), restricted to the
// topK largest entries when topK > 0. Masked entries are −Inf.
func sample(row, probs []float64, temperature float64, topK int, rng *rand.Rand) int {
	cut := math.Inf(-1)
	if topK > 0 && topK < len(row) {
		sorted := slices.Clone(row)
		slices.Sort(sorted)
		cut = sorted[len(sorted)-topK]
	}
	maxv := row[argmax(row)]
	var total float64
	for i, v := range row {
		p := 0.0
		if v >= cut && !math.IsInf(v, -1) {
			p = math.Exp((v - maxv) / temperature)
		}
		probs[i] = p
		total += p
	}
	u := rng.Float64() * total
	last := 0
	for i, p := range probs {
		if p == 0 {
			continue
		}
		last = i
		if u < p {
			return i
		}
		u -= p
	}
	return last
}

// SamplePrior draws n latent codes from N(0, I).
func (m *Model) SamplePrior(n int, rng *rand.Rand) [][]float64 {
	z := make([][]float64, n)
	for i := range z {
		z[i] = make([]float64, m.Config.Latent)
		for d := range z[i] {
			z[i][d] = rng.NormFloat64()
		}
	}
	return z
}

// Reconstruct encodes poems to their posterior means and decodes them
// greedily: what the model keeps of each poem.
func (m *Model) Reconstruct(poems []poetry.Poem) ([]poetry.Poem, error) {
	mu, _, err := m.Encode(poems)
	if err != nil {
		return nil, err
	}
	return m.Decode(mu, DecodeOptions{Lines: m.Config.Lines, Greedy: true}, nil)
}

// Recovered is the share of positions where two poems of the same shape
// have the same character.
func Recovered(a, b poetry.Poem) float64 {
	ca, cb := a.Chars(), b.Chars()
	if len(ca) != len(cb) || len(ca) == 0 {
		return 0
	}
	same := 0
	for i := range ca {
		if ca[i] == cb[i] {
			same++
		}
	}
	return float64(same) / float64(len(ca))
}
