package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"poetvae/corpus"
	"poetvae/poetry"
)

// CodeRhymeGroup is the rhyme group, by pros (the model's own when nil),
// in which the rhyme loss of a model trained with it (Config.RhymeChars)
// expects a poem of code z to end its even lines: the group whose
// characters the loss's softmax, softmax(z·W + b), gives the most
// probability together. It returns "" for a model without the loss, or
// when no character of the vocabulary has a group.
func (m *Model) CodeRhymeGroup(z []float64, pros *poetry.Prosody) (string, error) {
	if !m.Config.RhymeChars {
		return "", nil
	}
	if len(z) != m.Config.Latent {
		return "", fmt.Errorf("latent code has %d values, the model %d", len(z), m.Config.Latent)
	}
	if err := m.decodable(); err != nil {
		return "", err
	}
	// The groups of each character, as constrained decoding has them.
	t, err := m.tables(pros)
	if err != nil {
		return "", err
	}
	V := m.Config.Vocab
	logits := make([]float64, V)
	convertInto(logits, m.Params.Get("bow.b").Data(), 0)
	w, row := m.Params.Get("bow.W").Data(), make([]float64, V)
	for d, zd := range z {
		convertInto(row, w, d*V)
		for j, wj := range row {
			logits[j] += zd * wj
		}
	}
	top := math.Inf(-1)
	for _, l := range logits[corpus.NumSpecial:] {
		top = max(top, l)
	}
	weight := make([]float64, len(t.names))
	for id := corpus.NumSpecial; id < V; id++ {
		if t.groups[id].empty() {
			continue
		}
		p := math.Exp(logits[id] - top)
		for _, g := range t.groups[id].ids() {
			weight[g] += p
		}
	}
	best := -1
	for g, wg := range weight {
		if best < 0 || wg > weight[best] || (wg == weight[best] && t.names[g] < t.names[best]) {
			best = g
		}
	}
	if best < 0 {
		return "", nil
	}
	return t.names[best], nil
}

// decodeByCodeRhyme decodes each code with its CodeRhymeGroup as the
// rhyme group (see DecodeOptions.RhymeFromCode): the codes of one group
// together, the results in the order of z.
func (m *Model) decodeByCodeRhyme(z [][]float64, opt DecodeOptions, rng *rand.Rand, score bool) ([]DecodeResult, error) {
	opt.RhymeFromCode = false
	var order []string
	rows := map[string][]int{}
	for i, row := range z {
		g, err := m.CodeRhymeGroup(row, opt.Prosody)
		if err != nil {
			return nil, fmt.Errorf("latent code %d: %w", i, err)
		}
		if _, seen := rows[g]; !seen {
			order = append(order, g)
		}
		rows[g] = append(rows[g], i)
	}
	out := make([]DecodeResult, len(z))
	for _, g := range order {
		sub := make([][]float64, len(rows[g]))
		for k, i := range rows[g] {
			sub[k] = z[i]
		}
		o := opt
		o.RhymeGroup = g
		res, err := m.decode(sub, o, rng, score)
		if err != nil {
			return nil, err
		}
		for k, i := range rows[g] {
			out[i] = res[k]
		}
	}
	return out, nil
}
