package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"poetvae/poetry"
)

// Mixture is a Gaussian mixture with diagonal covariances over the latent
// space, fitted to codes drawn from the posteriors of the training poems:
// an estimate of the aggregate posterior q(z) = E_x q(z|x).
//
// Why generation samples from it rather than from the prior N(0, I): a
// code that carries many nats leaves the aggregate posterior well short of
// filling the prior, and a draw from N(0, I) often lands in a region no
// training poem's posterior covers, where the decoder has learnt nothing
// and writes strings of characters rather than lines (the "holes" of a VAE
// with an informative code). A mixture of a few dozen components follows
// where the poems are without being able to name any one of them, so its
// samples are new poems, not reconstructions.
type Mixture struct {
	Weights []float64   `json:"weights"` // K, summing to 1
	Means   [][]float64 `json:"means"`   // K × Latent
	Vars    [][]float64 `json:"vars"`    // K × Latent, at least mixtureVarFloor
}

const (
	// DefaultMixtureComponents is the number of components train fits.
	DefaultMixtureComponents = 32
	// mixtureVarFloor keeps a component from collapsing onto a few codes.
	mixtureVarFloor = 1e-3
	// mixtureIters bounds EM; mixtureTol stops it earlier, when the mean
	// log-likelihood per code gains less than this in an iteration.
	mixtureIters = 200
	mixtureTol   = 1e-5
)

// Validate checks that the mixture is a distribution over codes of size z.
func (mx *Mixture) Validate(z int) error {
	k := len(mx.Weights)
	if k == 0 || len(mx.Means) != k || len(mx.Vars) != k {
		return errors.New("sampling mixture: components disagree in number")
	}
	var sum float64
	for i, w := range mx.Weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("sampling mixture: weight %d is %v", i, w)
		}
		sum += w
		if len(mx.Means[i]) != z || len(mx.Vars[i]) != z {
			return fmt.Errorf("sampling mixture: component %d is not of size %d", i, z)
		}
		for d := 0; d < z; d++ {
			m, v := mx.Means[i][d], mx.Vars[i][d]
			if math.IsNaN(m) || math.IsInf(m, 0) || !(v > 0) || math.IsInf(v, 0) {
				return fmt.Errorf("sampling mixture: component %d has mean %v and variance %v", i, m, v)
			}
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		return fmt.Errorf("sampling mixture: weights sum to %v, not 1", sum)
	}
	return nil
}

// Sample draws n codes: a component by its weight, then a code from it.
// n < 1 draws none.
func (mx *Mixture) Sample(n int, rng *rand.Rand) [][]float64 {
	cum := make([]float64, len(mx.Weights))
	var s float64
	for i, w := range mx.Weights {
		s += w
		cum[i] = s
	}
	z := make([][]float64, max(n, 0))
	for i := range z {
		u := rng.Float64() * s
		k := 0
		for k < len(cum)-1 && u >= cum[k] {
			k++
		}
		z[i] = make([]float64, len(mx.Means[k]))
		for d := range z[i] {
			z[i][d] = mx.Means[k][d] + math.Sqrt(mx.Vars[k][d])*rng.NormFloat64()
		}
	}
	return z
}

// LogDensity returns log q(z) under the mixture.
func (mx *Mixture) LogDensity(z []float64) float64 {
	lp := make([]float64, len(mx.Weights))
	mx.componentLogs(z, mx.logNorms(), lp)
	return logSumExp(lp)
}

// logNorms returns, for every component, log w_k − ½ Σ_d log(2π var_kd):
// the part of its log-density that is the same for every code, computed
// once rather than for each code of an EM step.
func (mx *Mixture) logNorms() []float64 {
	norms := make([]float64, len(mx.Weights))
	for k, w := range mx.Weights {
		norms[k] = math.Log(w)
		for _, v := range mx.Vars[k] {
			norms[k] -= 0.5 * (log2Pi + math.Log(v))
		}
	}
	return norms
}

// componentLogs writes log(w_k N(z; mean_k, var_k)) for every component,
// given the components' logNorms.
func (mx *Mixture) componentLogs(z, norms, out []float64) {
	for k, l := range norms {
		mean, vars := mx.Means[k], mx.Vars[k]
		for d, zd := range z {
			dev := zd - mean[d]
			l -= 0.5 * dev * dev / vars[d]
		}
		out[k] = l
	}
}

// FitMixture fits a k-component mixture to codes by expectation
// maximisation, started from k codes chosen by k-means++ seeding (seeded by
// rng), and returns it with the mean log-likelihood per code it reached.
func FitMixture(codes [][]float64, k int, rng *rand.Rand) (*Mixture, float64, error) {
	n := len(codes)
	if k < 1 {
		return nil, 0, fmt.Errorf("a mixture needs at least 1 component, not %d", k)
	}
	if n < 2*k {
		return nil, 0, fmt.Errorf("%d codes are too few to fit %d components (want at least %d)", n, k, 2*k)
	}
	Z := len(codes[0])
	// The spread of all codes: the starting variance of every component.
	mean, vars := make([]float64, Z), make([]float64, Z)
	for _, c := range codes {
		for d, x := range c {
			mean[d] += x / float64(n)
		}
	}
	for _, c := range codes {
		for d, x := range c {
			vars[d] += (x - mean[d]) * (x - mean[d]) / float64(n)
		}
	}
	mx := &Mixture{Weights: make([]float64, k), Means: make([][]float64, k), Vars: make([][]float64, k)}
	for i, c := range kmeansPlusPlus(codes, k, rng) {
		mx.Weights[i] = 1 / float64(k)
		mx.Means[i] = append([]float64(nil), codes[c]...)
		mx.Vars[i] = make([]float64, Z)
		for d := range vars {
			mx.Vars[i][d] = math.Max(vars[d], mixtureVarFloor)
		}
	}
	resp := make([][]float64, n) // responsibilities, n × k
	total := make([]float64, n)  // log q(code) of each code
	for i := range resp {
		resp[i] = make([]float64, k)
	}
	prev := math.Inf(-1)
	var ll float64
	for iter := 0; iter < mixtureIters; iter++ {
		// E step: responsibilities and the log-likelihood.
		norms := mx.logNorms()
		inParallel(n, 256, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				mx.componentLogs(codes[i], norms, resp[i])
				total[i] = logSumExp(resp[i])
				for j := range resp[i] {
					resp[i][j] = math.Exp(resp[i][j] - total[i])
				}
			}
		})
		ll = 0
		for _, t := range total {
			ll += t / float64(n)
		}
		if ll-prev < mixtureTol {
			break
		}
		prev = ll
		// M step, each component on its own.
		empty := make([]bool, k)
		inParallel(k, 1, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				var nj float64
				m, v := make([]float64, Z), make([]float64, Z)
				for i, c := range codes {
					r := resp[i][j]
					nj += r
					for d, x := range c {
						m[d] += r * x
					}
				}
				if nj < 1e-9 {
					empty[j] = true
					continue
				}
				for d := range m {
					m[d] /= nj
				}
				for i, c := range codes {
					r := resp[i][j]
					for d, x := range c {
						v[d] += r * (x - m[d]) * (x - m[d])
					}
				}
				for d := range v {
					v[d] = math.Max(v[d]/nj, mixtureVarFloor)
				}
				mx.Weights[j], mx.Means[j], mx.Vars[j] = nj/float64(n), m, v
			}
		})
		for j, e := range empty { // restart an empty component on a random code
			if e {
				copy(mx.Means[j], codes[rng.IntN(n)])
				mx.Weights[j] = 1e-9
			}
		}
		normalise(mx.Weights)
	}
	return mx, ll, nil
}

func normalise(w []float64) {
	var s float64
	for _, x := range w {
		s += x
	}
	for i := range w {
		w[i] /= s
	}
}

// kmeansPlusPlus picks k distinct rows of codes, each after the first with
// probability proportional to its squared distance from the nearest one
// already picked (Arthur and Vassilvitskii 2007): starting points spread
// over the data, so that EM does not begin with two components on one mode.
func kmeansPlusPlus(codes [][]float64, k int, rng *rand.Rand) []int {
	n := len(codes)
	picked := []int{rng.IntN(n)}
	dist := make([]float64, n)
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	for len(picked) < k {
		last := codes[picked[len(picked)-1]]
		var total float64
		for i, c := range codes {
			var s float64
			for d, x := range c {
				s += (x - last[d]) * (x - last[d])
			}
			dist[i] = math.Min(dist[i], s)
			total += dist[i]
		}
		next := n - 1
		u := rng.Float64() * total
		for i, d := range dist {
			if u < d {
				next = i
				break
			}
			u -= d
		}
		if dist[next] == 0 { // every code is already a centre's twin
			break
		}
		picked = append(picked, next)
	}
	for len(picked) < k { // duplicate codes only: repeat the first
		picked = append(picked, picked[0])
	}
	return picked
}

// PosteriorSamples encodes poems and draws one code from each posterior
// q(z|x), the sample FitMixture is fitted to.
func PosteriorSamples(m *Model, poems []poetry.Poem, rng *rand.Rand) ([][]float64, error) {
	if m.Config.LM {
		return nil, errors.New("a language model has no latent code to fit a sampling distribution to")
	}
	if err := checkEvalPoems(m, poems); err != nil {
		return nil, err
	}
	mu, logvar, err := posteriors(m, poems)
	if err != nil {
		return nil, err
	}
	for i := range mu {
		for d := range mu[i] {
			mu[i][d] += math.Exp(0.5*logvar[i][d]) * rng.NormFloat64()
		}
	}
	return mu, nil
}

// maxFitPoems bounds the poems a sampler is fitted to: a seeded sample of
// this many pins a mixture of a few dozen components down as well as all
// of a large corpus would, in a fraction of the encoding and EM time.
const maxFitPoems = 40000

// FitSampler fits a k-component Mixture to one posterior sample of each of
// the poems (of a seeded subset of maxFitPoems when there are more) and
// makes it the model's Sampler. It returns the mean log-density of the
// codes under the mixture, to compare with PriorLogDensity of the same.
func FitSampler(m *Model, poems []poetry.Poem, k int, seed uint64) (float64, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6d6978)) // "mix"
	if len(poems) > maxFitPoems {
		idx := rng.Perm(len(poems))[:maxFitPoems]
		slices.Sort(idx) // keep the corpus order: batches of similar poems encode alike
		sub := make([]poetry.Poem, len(idx))
		for i, j := range idx {
			sub[i] = poems[j]
		}
		poems = sub
	}
	codes, err := PosteriorSamples(m, poems, rng)
	if err != nil {
		return 0, err
	}
	mx, ll, err := FitMixture(codes, k, rng)
	if err != nil {
		return 0, err
	}
	m.Sampler = mx
	return ll, nil
}

// PriorLogDensity is the mean log-density of codes under N(0, I).
func PriorLogDensity(codes [][]float64) float64 {
	var s float64
	for _, z := range codes {
		for _, x := range z {
			s -= 0.5 * (log2Pi + x*x)
		}
	}
	return s / float64(len(codes))
}
