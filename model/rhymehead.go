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
	if pros == nil {
		pros = m.Prosody()
	}
	V := m.Config.Vocab
	w, b := m.Params.Float64s(m.Params.index["bow.W"]), m.Params.Float64s(m.Params.index["bow.b"])
	logits := make([]float64, V)
	copy(logits, b)
	for d, zd := range z {
		row := w[d*V : (d+1)*V]
		for j, wj := range row {
			logits[j] += zd * wj
		}
	}
	top := math.Inf(-1)
	for _, l := range logits {
		top = max(top, l)
	}
	weight := map[string]float64{}
	for id := corpus.NumSpecial; id < V; id++ {
		groups := pros.RhymeGroups(m.Vocab.Rune(id))
		p := math.Exp(logits[id] - top)
		for _, g := range groups {
			weight[g] += p
		}
	}
	best, bestW := "", 0.0
	for g, w := range weight {
		if w > bestW || (w == bestW && g < best) {
			best, bestW = g, w
		}
	}
	return best, nil
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
