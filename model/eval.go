package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"poetvae/corpus"
	"poetvae/poetry"
)

// Evaluation of a trained model: the likelihood of held-out poems, the
// evidence lower bound and its terms, how much information the latent code
// carries, and how well poems survive a round trip through it.
//
// Everything runs on the plain forward pass. Characters outside the
// vocabulary are read and scored as UNK, as in training; a test set with
// many of them gets a likelihood better than its text deserves.
//
// A language model (Config.LM) is evaluated by the same functions: its
// "posterior" is the prior N(0, I) for every poem and its decoder ignores z,
// so the importance-sampled NLL is its exact NLL, KL, mutual information and
// active units are 0, and its reconstruction of every poem is the one poem
// it finds most likely. That makes it the baseline a VAE's figures are read
// against (Bowman et al. 2016).

const (
	// evalRows bounds the rows of one decoder pass, such as the K samples
	// each of a few poems: enough for the matrix products to be efficient,
	// few enough that the B × Vocab logits of a step stay small.
	evalRows = 256

	// activeThreshold is the variance across poems of a posterior mean
	// above which its dimension counts as active (Burda et al. 2016).
	activeThreshold = 0.01

	// bleuOrder is the n-gram order of reconstruction BLEU.
	bleuOrder = 4
)

// log2Pi is log(2π), the constant of the Gaussian log-density.
var log2Pi = math.Log(2 * math.Pi)

// checkEvalPoems reports whether the model can score poems: a model with a
// vocabulary, and poems of the model's number of lines.
func checkEvalPoems(m *Model, poems []poetry.Poem) error {
	if m == nil || m.Vocab == nil || m.Params == nil {
		return errors.New("no model to evaluate")
	}
	for i, p := range poems {
		if p.NumLines() != m.Config.Lines {
			return fmt.Errorf("poem %d has %d lines; the model reads %d-line poems", i+1, p.NumLines(), m.Config.Lines)
		}
	}
	return nil
}

// evalBatches cuts poems into unshuffled batches of at most size poems.
// All poems have the model's shape (see checkEvalPoems), so the batches
// come in order and b.Index maps their rows back to poems.
func evalBatches(m *Model, poems []poetry.Poem, size int) []corpus.Batch {
	return corpus.Batches(poems, m.Vocab, size, -1, false)
}

// logMeanExp returns log(mean(exp(x))) without overflow. It is written so
// that n equal values give back exactly that value, which keeps estimators
// that should vanish for identical inputs at exactly 0.
func logMeanExp(x []float64) float64 {
	top := math.Inf(-1)
	for _, v := range x {
		top = math.Max(top, v)
	}
	if math.IsInf(top, 0) {
		return top
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - top)
	}
	return top + math.Log(s/float64(len(x)))
}

// ImportanceNLL estimates −log p(x) of each poem, in nats, by importance
// sampling with the posterior as proposal (Burda et al. 2016):
//
//	−log p(x) ≈ −log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x),  zₖ ~ q(z|x),
//
// with the sum taken in log space. Its expectation is an upper bound on the
// true −log p(x) that tightens as K grows; with K = 1 it equals, in
// expectation, the negative ELBO, and the gap to the negative ELBO measures
// how far the posterior is from the true one. The K samples of a few poems
// go through the decoder together; the cost is about K validation passes.
//
// rng supplies the noise; results are in the order of poems.
func ImportanceNLL(m *Model, poems []poetry.Poem, k int, rng *rand.Rand) ([]float64, error) {
	return importanceNLL(m, poems, k, 1, rng, nil)
}

// ImportanceNLLWide is ImportanceNLL with the posterior's standard
// deviations multiplied by scale in the proposal: N(mu, (scale·σ)²). Any
// proposal that covers the posterior gives an estimate of the same
// −log p(x), bounded above in expectation; one a little wider than q(z|x)
// can be tighter, since a posterior fitted by variational inference is
// narrower than the true one and misses the tails it under-covers.
func ImportanceNLLWide(m *Model, poems []poetry.Poem, k int, scale float64, rng *rand.Rand) ([]float64, error) {
	return importanceNLL(m, poems, k, scale, rng, nil)
}

// importanceNLL is ImportanceNLL telling progress, when it is not nil, how
// many of the poems it has done after each batch.
func importanceNLL(m *Model, poems []poetry.Poem, k int, scale float64, rng *rand.Rand, progress func(done, total int)) ([]float64, error) {
	if k < 1 {
		return nil, fmt.Errorf("importance samples must be at least 1, not %d", k)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("the proposal's scale must be a positive number, not %g", scale)
	}
	logScale := math.Log(scale)
	if err := checkEvalPoems(m, poems); err != nil {
		return nil, err
	}
	c := m.Config
	if c.LM {
		// q = p and the decoder ignores z: every weight is p(x), so one
		// sample gives the exact value K samples would.
		k = 1
	}
	T, Td, Z := c.EncSteps(), c.DecSteps(), c.Latent
	out := make([]float64, len(poems))
	done := 0
	for _, b := range evalBatches(m, poems, max(1, evalRows/k)) {
		n := b.Rows
		mu, logvar, err := m.encode(b.Enc[:n*T], n)
		if err != nil {
			return nil, err
		}
		rows := n * k
		z := make([]float64, rows*Z)
		logw := make([]float64, rows) // log p(z) − log q(z|x), then − NLL
		decIn, targets := make([]int, rows*Td), make([]int, rows*Td)
		for r := 0; r < n; r++ {
			for s := 0; s < k; s++ {
				row := r*k + s
				copy(decIn[row*Td:(row+1)*Td], b.DecIn[r*Td:(r+1)*Td])
				copy(targets[row*Td:(row+1)*Td], b.Target[r*Td:(r+1)*Td])
				var logq, logp float64
				for d := 0; d < Z; d++ {
					i := r*Z + d
					eps := rng.NormFloat64()
					zd := mu[i] + scale*math.Exp(0.5*logvar[i])*eps
					z[row*Z+d] = zd
					// (z − mu)²/(scale·σ)² is ε²: no division by a small σ².
					logq -= 0.5*(log2Pi+logvar[i]+eps*eps) + logScale
					logp -= 0.5 * (log2Pi + zd*zd)
				}
				logw[row] = logp - logq
			}
		}
		// A batch is one poem when K exceeds evalRows; its samples then go
		// through the decoder evalRows at a time.
		nll := make([]float64, 0, rows)
		for start := 0; start < rows; start += evalRows {
			end := min(start+evalRows, rows)
			part, err := m.decodeNLL(z[start*Z:end*Z], decIn[start*Td:end*Td], targets[start*Td:end*Td], end-start)
			if err != nil {
				return nil, err
			}
			nll = append(nll, part...)
		}
		for r := 0; r < n; r++ {
			w := logw[r*k : (r+1)*k]
			for s := range w {
				w[s] -= nll[r*k+s]
			}
			out[b.Index[r]] = -logMeanExp(w)
		}
		if done += n; progress != nil {
			progress(done, len(poems))
		}
	}
	return out, nil
}

// ELBO returns, for each poem, the two terms of the negative evidence lower
// bound, in nats: the reconstruction NLL −log p(x|z) for one z drawn from
// q(z|x), and the analytic KL(q(z|x) ‖ N(0, I)) summed over dimensions.
// Their sum is an upper bound on −log p(x) in expectation, the training
// objective at β = 1 without free bits. rng supplies the noise.
func ELBO(m *Model, poems []poetry.Poem, rng *rand.Rand) (nll, kl []float64, err error) {
	if err := checkEvalPoems(m, poems); err != nil {
		return nil, nil, err
	}
	nll, kl, _, err = elboTerms(m, poems, rng)
	return nll, kl, err
}

// decodeNLL is Net.NLL on the device the model decodes on (UseDevice):
// with K samples a poem, the importance-sampled NLL is K decoding passes.
func (m *Model) decodeNLL(z []float64, decIn, targets []int, B int) ([]float64, error) {
	d, err := m.newDecoder(z, B)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return teacherForcedNLL(d, m.Config, decIn, targets, B)
}

// elboTerms is ELBO without the checks, also returning the posterior means
// it computed on the way, for validation's active units.
func elboTerms(m *Model, poems []poetry.Poem, rng *rand.Rand) (nll, kl []float64, mu [][]float64, err error) {
	c := m.Config
	T, Td, Z := c.EncSteps(), c.DecSteps(), c.Latent
	nll, kl, mu = make([]float64, len(poems)), make([]float64, len(poems)), make([][]float64, len(poems))
	for _, b := range evalBatches(m, poems, evalRows) {
		n := b.Rows
		means, logvar, err := m.encode(b.Enc[:n*T], n)
		if err != nil {
			return nil, nil, nil, err
		}
		z := make([]float64, n*Z)
		for i := range z {
			z[i] = means[i] + math.Exp(0.5*logvar[i])*rng.NormFloat64()
		}
		rec, err := m.decodeNLL(z, b.DecIn[:n*Td], b.Target[:n*Td], n)
		if err != nil {
			return nil, nil, nil, err
		}
		div := KL(means, logvar)
		for r := 0; r < n; r++ {
			i := b.Index[r]
			nll[i], mu[i] = rec[r], means[r*Z:(r+1)*Z]
			for _, v := range div[r*Z : (r+1)*Z] {
				kl[i] += v
			}
		}
	}
	return nll, kl, mu, nil
}

// posteriors returns the posterior means and log-variances of poems, one
// row each, from the plain pass (the prior's zeros for a language model).
func posteriors(m *Model, poems []poetry.Poem) (mu, logvar [][]float64, err error) {
	c := m.Config
	T, Z := c.EncSteps(), c.Latent
	mu, logvar = make([][]float64, len(poems)), make([][]float64, len(poems))
	for _, b := range evalBatches(m, poems, evalRows) {
		n := b.Rows
		mus, lvs, err := m.encode(b.Enc[:n*T], n)
		if err != nil {
			return nil, nil, err
		}
		for r := 0; r < n; r++ {
			mu[b.Index[r]] = mus[r*Z : (r+1)*Z]
			logvar[b.Index[r]] = lvs[r*Z : (r+1)*Z]
		}
	}
	return mu, logvar, nil
}

// MutualInformation estimates, in nats, the mutual information between a
// poem and its latent code under the encoder, I_q(x; z), over the empirical
// distribution of poems (Hoffman and Johnson 2016):
//
//	I_q(x; z) = E_x E_q(z|x) [log q(z|x) − log q(z)],
//
// where q(z) = (1/N) Σⱼ q(z|xⱼ) is the aggregate posterior, the mixture of
// the N poems' Gaussians. As in He et al. (2019, "Lagging inference
// networks", calc_mi), each poem contributes one sample zᵢ ~ q(z|xᵢ) and
// log q(zᵢ) is the log-mean-exp of log q(zᵢ|xⱼ) over all poems, its own
// included. Unlike calc_mi, which takes E log q(z|x) from the analytic
// entropy, the first term is log q(zᵢ|xᵢ) at the same sample: the two
// terms' noise then cancels, and poems with identical posteriors (a
// collapsed encoder) give exactly 0 rather than a small random value.
//
// The estimate is at most log N, and biased low for small N: compare
// models on the same poems, a few hundred or more. It costs N² Latent
// operations, under a second for a few thousand poems. Fewer than two
// poems give 0.
func MutualInformation(m *Model, poems []poetry.Poem, rng *rand.Rand) (float64, error) {
	if err := checkEvalPoems(m, poems); err != nil {
		return 0, err
	}
	mu, logvar, err := posteriors(m, poems)
	if err != nil {
		return 0, err
	}
	return mutualInformation(mu, logvar, rng), nil
}

// mutualInformation is the estimator of MutualInformation over posteriors
// given as rows of means and log-variances.
func mutualInformation(mu, logvar [][]float64, rng *rand.Rand) float64 {
	N := len(mu)
	if N < 2 {
		return 0
	}
	Z := len(mu[0])
	// log N(z; muⱼ, σⱼ²) = constⱼ − ½ Σ_d (z_d − muⱼd)² / σⱼd²
	konst := make([]float64, N)
	prec := make([][]float64, N)
	for j := range mu {
		prec[j] = make([]float64, Z)
		konst[j] = -0.5 * float64(Z) * log2Pi
		for d, lv := range logvar[j] {
			konst[j] -= 0.5 * lv
			prec[j][d] = math.Exp(-lv)
		}
	}
	density := make([]float64, N)
	z := make([]float64, Z)
	var sum float64
	for i := range mu {
		for d := range z {
			z[d] = mu[i][d] + math.Exp(0.5*logvar[i][d])*rng.NormFloat64()
		}
		for j := range mu {
			var q float64
			for d, zd := range z {
				dev := zd - mu[j][d]
				q += dev * dev * prec[j][d]
			}
			density[j] = konst[j] - 0.5*q
		}
		sum += density[i] - logMeanExp(density)
	}
	return sum / float64(N)
}

// ActiveUnitCount counts the latent dimensions whose posterior mean varies
// across poems with a variance of at least 0.01 (Burda et al. 2016): the
// dimensions the encoder uses. Fewer than two poems give 0.
func ActiveUnitCount(m *Model, poems []poetry.Poem) (int, error) {
	if err := checkEvalPoems(m, poems); err != nil {
		return 0, err
	}
	mu, _, err := posteriors(m, poems)
	if err != nil {
		return 0, err
	}
	return ActiveUnits(mu, activeThreshold), nil
}

// Report gathers the evaluation of a model on a set of poems. Likelihoods
// are in nats per poem, averaged over poems; perplexities are per token,
// a token being a character or the closing EOS.
type Report struct {
	Poems   int `json:"poems"`
	Samples int `json:"samples"` // importance samples K per poem
	// ProposalScale widens the importance sampler's proposal to
	// N(mu, (scale·σ)²) (ImportanceNLLWide); 0 or 1 is q(z|x) itself.
	ProposalScale float64 `json:"proposal_scale,omitempty"`
	Tokens        int     `json:"tokens"` // tokens per poem: characters and EOS

	ISNLL float64 `json:"is_nll"` // importance-sampled −log p(x) (see ImportanceNLL)
	ISPPL float64 `json:"is_ppl"` // exp(ISNLL / Tokens)

	NLL     float64 `json:"nll"`      // reconstruction term: −log p(x|z), one z ~ q(z|x)
	KL      float64 `json:"kl"`       // KL(q(z|x) ‖ N(0, I))
	ELBO    float64 `json:"elbo"`     // NLL + KL: the negative ELBO, as in ValidStats
	ELBOPPL float64 `json:"elbo_ppl"` // exp(ELBO / Tokens), at least ISPPL in expectation

	MI          float64 `json:"mi"`           // I_q(x; z) in nats (see MutualInformation)
	ActiveUnits int     `json:"active_units"` // of Latent (see ActiveUnitCount)
	Latent      int     `json:"latent"`

	// Reconstruction decodes each poem's posterior mean greedily (as
	// Model.Reconstruct does) and compares the result with the poem. A
	// model trained with the rhyme loss ends the even lines in the rhyme
	// group its code predicts (DecodeOptions.RhymeFromCode), and says so
	// by ReconRhymeFromCode.
	ReconRhymeFromCode bool    `json:"recon_rhyme_from_code,omitempty"`
	CharsRecovered     float64 `json:"chars_recovered"` // share of characters in place
	LinesRecovered     float64 `json:"lines_recovered"` // share of lines recovered whole
	ReconBLEU          float64 `json:"recon_bleu"`      // corpus BLEU-4 of the reconstructions against the poems

	// ShuffledCharsRecovered is the control of CharsRecovered: the same
	// share, with each poem's reconstruction decoded greedily from another
	// poem's posterior mean, the poems paired by a fixed derangement drawn
	// from the seed (see derangement). It is what the decoder recovers
	// from the language alone, common characters in common places, rather
	// than from the code: CharsRecovered well above it says the code
	// carries the poem. A decoder that ignores z, as a language model's
	// does, gets CharsRecovered itself. It is nil (null in JSON) for a
	// single poem, which has no other poem to take a code from.
	ShuffledCharsRecovered *float64 `json:"shuffled_chars_recovered"`

	// Reconstructions holds the greedy reconstructions from the posterior
	// means, in the order of the poems, for figures that need more than
	// the model knows, such as rhyme; ShuffledReconstructions those of the
	// control, from another poem's code. They are not part of the JSON
	// report.
	Reconstructions         []poetry.Poem `json:"-"`
	ShuffledReconstructions []poetry.Poem `json:"-"`
}

// Evaluation noise streams: each measurement draws from a generator of its
// own, so that changing K or leaving one measurement out does not change
// the others.
const (
	streamIS   = 0x69735f6e6c6c // "is_nll"
	streamELBO = 0x656c626f     // "elbo"
	streamMI   = 0x6d69         // "mi"
	// streamShuffle draws the derangement of the shuffled-code control.
	streamShuffle = 0x73687566 // "shuf"
)

// derangement returns a permutation p of 0, …, n−1 with no fixed point,
// p[i] ≠ i for every i, drawn from rng by Sattolo's algorithm: a single
// cycle through all n indices, so that it is a derangement for every draw
// (though not a uniform one among all derangements). Two indices give
// [1 0]; fewer than two have no derangement, and give nil.
func derangement(n int, rng *rand.Rand) []int {
	if n < 2 {
		return nil
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i) // j < i: i never stays in place
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// greedyDecode decodes each row of mu greedily into a poem of the model's
// number of lines, evalRows rows a pass: as Model.Reconstruct does.
func greedyDecode(m *Model, mu [][]float64) ([]poetry.Poem, error) {
	out := make([]poetry.Poem, 0, len(mu))
	for start := 0; start < len(mu); start += evalRows {
		part, err := m.Decode(mu[start:min(start+evalRows, len(mu))], reconOptions(m), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

// charsRecovered is the share of the characters of poems that recon, poem
// for poem, has in the same place.
func charsRecovered(poems, recon []poetry.Poem) float64 {
	var chars, same int
	for i, p := range poems {
		a, b := p.Chars(), recon[i].Chars()
		for j := range a {
			if a[j] == b[j] {
				same++
			}
		}
		chars += len(a)
	}
	return float64(same) / float64(chars)
}

// Evaluate measures the model on poems with k importance samples per poem,
// drawing all noise from generators seeded by seed, so that the same model,
// poems, k and seed give the same report.
//
// On held-out poems, ISNLL and ISPPL are the figures to compare models by:
// they estimate the likelihood itself (lower is better), and ISPPL is
// comparable with a language model's perplexity. ELBO says how much of the
// likelihood the training objective accounts for, and MI, ActiveUnits and
// the reconstruction shares how much of a poem the latent code keeps: the
// characters recovered read against ShuffledCharsRecovered, what a code
// of another poem gets.
// K of 100 or more is usual for reporting (Burda et al. use 5000); the
// cost, almost all of it in ImportanceNLL, grows linearly with K.
// progress, when not nil, is told how many poems the importance sampling
// has done, out of all, as it goes (a minute or two at K = 100 for some
// hundreds of poems).
func Evaluate(m *Model, poems []poetry.Poem, k int, seed uint64, progress func(done, total int)) (Report, error) {
	return EvaluateWide(m, poems, k, 1, seed, progress)
}

// EvaluateWide is Evaluate with the importance sampler's proposal widened
// by scale (ImportanceNLLWide); every other figure is the same.
func EvaluateWide(m *Model, poems []poetry.Poem, k int, scale float64, seed uint64, progress func(done, total int)) (Report, error) {
	if len(poems) == 0 {
		return Report{}, errors.New("no poems to evaluate")
	}
	is, err := importanceNLL(m, poems, k, scale, rand.New(rand.NewPCG(seed, streamIS)), progress)
	if err != nil {
		return Report{}, err
	}
	nll, kl, err := ELBO(m, poems, rand.New(rand.NewPCG(seed, streamELBO)))
	if err != nil {
		return Report{}, err
	}
	mu, logvar, err := posteriors(m, poems)
	if err != nil {
		return Report{}, err
	}
	c := m.Config
	r := Report{Poems: len(poems), Samples: k, Tokens: c.DecSteps(), Latent: c.Latent}
	if scale != 1 && !c.LM { // a language model's estimate ignores the proposal
		r.ProposalScale = scale
	}
	r.MI = mutualInformation(mu, logvar, rand.New(rand.NewPCG(seed, streamMI)))
	r.ActiveUnits = ActiveUnits(mu, activeThreshold)
	for i := range poems {
		r.ISNLL += is[i]
		r.NLL += nll[i]
		r.KL += kl[i]
	}
	n := float64(len(poems))
	r.ISNLL /= n
	r.NLL /= n
	r.KL /= n
	r.ELBO = r.NLL + r.KL
	r.ISPPL = math.Exp(r.ISNLL / float64(r.Tokens))
	r.ELBOPPL = math.Exp(r.ELBO / float64(r.Tokens))

	recon, err := greedyDecode(m, mu)
	if err != nil {
		return Report{}, err
	}
	var lines, sameLines int
	refs := make([][]poetry.Poem, len(poems))
	for i, p := range poems {
		refs[i] = poems[i : i+1]
		for l := 0; l < p.NumLines(); l++ {
			if slices.Equal(p.Line(l), recon[i].Line(l)) {
				sameLines++
			}
		}
		lines += p.NumLines()
	}
	r.CharsRecovered = charsRecovered(poems, recon)
	r.ReconRhymeFromCode = reconOptions(m).RhymeFromCode
	r.LinesRecovered = float64(sameLines) / float64(lines)
	r.Reconstructions = recon
	if perm := derangement(len(poems), rand.New(rand.NewPCG(seed, streamShuffle))); perm != nil {
		other := make([][]float64, len(mu))
		for i, j := range perm {
			other[i] = mu[j]
		}
		shuffled, err := greedyDecode(m, other)
		if err != nil {
			return Report{}, err
		}
		share := charsRecovered(poems, shuffled)
		r.ShuffledCharsRecovered = &share
		r.ShuffledReconstructions = shuffled
	}
	r.ReconBLEU = poetry.CorpusBLEU(recon, refs, bleuOrder)
	return r, nil
}
