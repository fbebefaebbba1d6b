package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"poetvae/corpus"
	"poetvae/poetry"
)

// DecodeOptions says how to turn latent codes into poems, and which
// constraints the poems must keep. The zero value of every constraint
// leaves the poems to the model, and then the same random numbers give the
// same poems as decoding without constraints ever did.
//
// Constraints are masks on the model's distribution at each step: a
// character that would break one is never chosen, and sampling (top-k
// included) and beam search see only the characters allowed. Where no
// character keeps them all, the search first looks wider (beam search
// takes the other beams' continuations) and then gives up, for that step
// only, the weakest constraint that lets a character through, in the order
// no-repeat, tones, rhyme; [DecodeResult.Notes] says where. Fixed
// characters and the form of the poem are never given up.
type DecodeOptions struct {
	Lines       int     // lines to write: 2, or the model's 4 or 8 (an 8-line model also writes 4)
	Greedy      bool    // take the most likely character at every step
	Temperature float64 // sampling temperature (> 0); ignored when greedy
	TopK        int     // sample among the k most likely characters; 0 means all

	// Beam, when above 1, searches for the most likely poem (the highest
	// [DecodeResult.LogProb]) that keeps the constraints, keeping the Beam
	// best beginnings at each step; Greedy, Temperature and TopK are then
	// ignored. 0 and 1 sample, or decode greedily with Greedy.
	Beam int

	// Template fixes the characters at some positions: Template[i] is the
	// character of line i/5, position i%5 (from 0), or 0 where the model
	// chooses. It has 5·Lines entries, or none; poetry.ParseTemplate reads
	// one from text such as 春□□□□，□□□□□。…
	Template []rune
	// Fixed fixes characters too, by position (i as for Template); it is
	// merged with Template, which must not give a position another
	// character.
	Fixed map[int]rune

	// Rhyme makes the last characters of lines 2 and 4 (and 6 and 8) rhyme
	// in one group of Prosody: the group of the first of them written, or
	// the one RhymeGroup names, or that of RhymeChar. Under a rhyme table,
	// characters the table lacks rhyme by their Mandarin final. Setting
	// RhymeGroup, RhymeChar or RhymeFirstLine implies Rhyme.
	Rhyme bool
	// RhymeGroup names the group as Prosody.RhymeGroups writes it ("ang",
	// "下平聲七陽"), or by the end of its name ("七陽"), or by a character
	// of it that names no group ("阳" for the groups of 阳).
	RhymeGroup string
	// RhymeChar asks for the group of this character (光 for "ang").
	RhymeChar rune
	// RhymeFirstLine makes the first line rhyme as well (首句入韵); under
	// TonesStrict it selects the patterns whose first line rhymes.
	RhymeFirstLine bool
	// Tones is the tone rule: TonesOff (or ""), TonesLoose or TonesStrict.
	// Characters of unknown or either tone keep every rule.
	Tones ToneRule
	// NoRepeat forbids a character to appear twice in a poem.
	NoRepeat bool
	// Prosody judges tones and rhymes; nil means poetry.NewProsody().
	Prosody *poetry.Prosody
	// RhymeFromCode, when Rhyme is set and neither RhymeGroup nor
	// RhymeChar names a group, rhymes each poem in the group its code
	// predicts (CodeRhymeGroup), for a model trained with the rhyme loss;
	// other models choose the group as they write.
	RhymeFromCode bool
}

// OptionError is a mistake in one field of [DecodeOptions], which it names
// as Go does ("Lines", "RhymeGroup"), so that a caller can say which of its
// own settings (a flag, a field of a request) is wrong, and tell a mistake
// in what was asked for from a failure to decode.
type OptionError struct {
	Option string // the field of DecodeOptions
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// optionErr wraps err, when it is not nil, as a mistake in option.
func optionErr(option string, err error) error {
	if err == nil {
		return nil
	}
	return &OptionError{Option: option, Err: err}
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
// never needs to be sampled). Use DecodeResults to learn where constraints
// were relaxed.
func (m *Model) Decode(z [][]float64, opt DecodeOptions, rng *rand.Rand) ([]poetry.Poem, error) {
	res, err := m.decode(z, opt, rng, false)
	if err != nil || res == nil {
		return nil, err
	}
	poems := make([]poetry.Poem, len(res))
	for i, r := range res {
		poems[i] = r.Poem
	}
	return poems, nil
}

// DecodeResults is Decode with what the constraints made of each poem: its
// log-probability, tonal pattern and rhyme, and the notes on any constraint
// relaxed.
func (m *Model) DecodeResults(z [][]float64, opt DecodeOptions, rng *rand.Rand) ([]DecodeResult, error) {
	return m.decode(z, opt, rng, true)
}

// CheckOptions reports whether the model can decode with opt, making the
// checks Decode makes before it decodes anything: a caller can refuse a
// mistake in the options before long work, and the errors are
// [*OptionError]s.
func (m *Model) CheckOptions(opt DecodeOptions) error {
	_, err := m.checkOptions(opt)
	return err
}

// checkOptions is CheckOptions, returning the compiled constraints.
func (m *Model) checkOptions(opt DecodeOptions) (*plan, error) {
	if err := m.Config.CheckLines(opt.Lines); err != nil {
		return nil, optionErr("Lines", err)
	}
	if opt.Beam < 0 {
		return nil, optionErr("Beam", fmt.Errorf("beam width cannot be negative (%d)", opt.Beam))
	}
	if opt.Beam <= 1 && !opt.Greedy && !(opt.Temperature > 0 && !math.IsInf(opt.Temperature, 1)) {
		return nil, optionErr("Temperature", fmt.Errorf("temperature must be positive and finite, not %g", opt.Temperature))
	}
	if opt.TopK < 0 {
		return nil, optionErr("TopK", fmt.Errorf("top-k cannot be negative (%d)", opt.TopK))
	}
	return m.newPlan(opt)
}

// decodePassBytes bounds the memory of one pass of the decoder: the
// rows decoded together (poems, or beams of poems) are cut into passes of
// at most this many bytes of state and scores, so that what decoding takes
// does not grow with the number of codes it is given. (A variable, so that
// a test can cut a few codes into passes.)
var decodePassBytes = 64 << 20

// decodeRowBytes estimates the memory that decoding takes for each row it
// decodes at once (a poem, or one beam of a poem): the scores of every
// character (and, for beam search, which constraints each breaks), and the
// decoder's state.
func (m *Model) decodeRowBytes() int {
	c := m.Config
	return 8*(c.Vocab+10*c.DecHidden+c.Embed+c.Latent) + c.Vocab + 64*c.DecSteps()
}

// decode implements Decode and DecodeResults; score asks for LogProb, which
// sampling and greedy decoding need not compute otherwise.
func (m *Model) decode(z [][]float64, opt DecodeOptions, rng *rand.Rand, score bool) ([]DecodeResult, error) {
	if opt.RhymeFromCode && m.Config.RhymeChars && opt.Rhyme && opt.RhymeGroup == "" && opt.RhymeChar == 0 {
		return m.decodeByCodeRhyme(z, opt, rng, score)
	}
	p, err := m.checkOptions(opt)
	if err != nil {
		return nil, err
	}
	B, Z := len(z), m.Config.Latent
	if B == 0 {
		return nil, nil
	}
	for i, row := range z {
		if len(row) != Z {
			return nil, fmt.Errorf("latent code %d has %d values, the model %d", i, len(row), Z)
		}
		// A value that is not a number makes every score NaN, and no
		// character can be chosen by them.
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("latent code %d holds %g: codes must be finite numbers", i, v)
			}
		}
	}
	rowsPerPoem := max(1, opt.Beam)
	perPass := max(1, decodePassBytes/(m.decodeRowBytes()*rowsPerPoem))
	out := make([]DecodeResult, 0, B)
	flat := make([]float64, 0, min(B, perPass)*Z)
	for start := 0; start < B; start += perPass {
		end := min(B, start+perPass)
		flat = flat[:0]
		for _, row := range z[start:end] {
			flat = append(flat, row...)
		}
		var hyps []hyp
		if opt.Beam > 1 {
			hyps, err = m.beamSearch(flat, end-start, opt.Beam, p)
		} else {
			hyps, err = m.stepwise(flat, end-start, opt, p, rng, score)
		}
		if err != nil {
			return nil, err
		}
		for b := range hyps {
			r, err := p.result(&hyps[b])
			if err != nil {
				return nil, fmt.Errorf("latent code %d: %w", start+b, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// stepwise decodes B poems together, choosing each character greedily or
// by sampling from the masked distribution.
func (m *Model) stepwise(flat []float64, B int, opt DecodeOptions, p *plan, rng *rand.Rand, score bool) ([]hyp, error) {
	V, N := m.Config.Vocab, 5*opt.Lines
	d, err := m.newDecoder(flat, B)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	prev := make([]int, B)
	hyps := make([]hyp, B)
	for b := range prev {
		prev[b] = corpus.BOS
		hyps[b] = p.start()
	}
	probs := make([]float64, V)
	scratch := make([]float64, 0, V)
	var v []uint8
	if p.active {
		v = make([]uint8, V)
	}
	for s := 0; s < N; s++ {
		logits := d.Step(prev)
		for b := 0; b < B; b++ {
			row := logits[b*V : (b+1)*V]
			for id := 0; id < corpus.NumSpecial; id++ {
				row[id] = math.Inf(-1)
			}
			h := &hyps[b]
			var lse float64
			if score {
				lse = logSumExp(row[corpus.NumSpecial:])
			}
			id := p.fixed[s]
			if id != 0 {
				if br := p.breaks(h, s, id); br != 0 {
					p.note(h, s, id, br, true)
				}
			} else {
				present := uint8(0)
				if p.active {
					present = p.fill(h, s, v)
				}
				if present != 0 {
					relax := relaxation(present)
					for i := corpus.NumSpecial; i < V; i++ {
						if v[i]&^relax != 0 {
							row[i] = math.Inf(-1)
						}
					}
				}
				if opt.Greedy {
					id = argmax(row)
				} else {
					id = sample(row, probs, scratch, opt.Temperature, opt.TopK, rng)
				}
				if present != 0 && v[id] != 0 {
					p.note(h, s, id, v[id], false)
				}
			}
			if score {
				h.logp += row[id] - lse
			}
			p.advance(h, s, id)
			prev[b] = id
		}
	}
	return hyps, d.Err()
}

// beamCand is a continuation of a beam considered at one step.
type beamCand struct {
	score float64
	k, id int   // the beam continued and the character
	bits  uint8 // the constraints the character breaks
}

// beamSearch decodes B poems with K beams each: at every step each poem
// keeps the K best continuations of its beams, by summed log-probability,
// among the characters the constraints allow. The allowed set is judged
// across all of a poem's beams, so a constraint is relaxed only when no
// beam can keep it.
func (m *Model) beamSearch(flat []float64, B, K int, p *plan) ([]hyp, error) {
	V, Z, N := m.Config.Vocab, m.Config.Latent, 5*p.lines
	rows := B * K
	zz := make([]float64, 0, rows*Z)
	for b := 0; b < B; b++ {
		for range K {
			zz = append(zz, flat[b*Z:(b+1)*Z]...)
		}
	}
	d, err := m.newDecoder(zz, rows)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	prev := make([]int, rows)
	src := make([]int, rows)
	for i := range prev {
		prev[i] = corpus.BOS
	}
	beams := make([][]hyp, B)
	for b := range beams {
		beams[b] = []hyp{p.start()} // K equal beams would fill the beam with copies
	}
	v := make([]uint8, rows*V) // constraints broken, per row and character
	present := make([]uint8, K)
	lse := make([]float64, K)
	cands := make([]beamCand, 0, K)
	push := func(c beamCand) {
		if len(cands) == K {
			if c.score <= cands[K-1].score {
				return
			}
			cands = cands[:K-1]
		}
		i := len(cands)
		cands = append(cands, c)
		for ; i > 0 && cands[i-1].score < c.score; i-- {
			cands[i] = cands[i-1]
		}
		cands[i] = c
	}
	for s := 0; s < N; s++ {
		logits := d.Step(prev)
		for b := 0; b < B; b++ {
			live := beams[b]
			fixed := p.fixed[s]
			all := uint8(0)
			for k := range live {
				r := b*K + k
				row := logits[r*V : (r+1)*V]
				for id := 0; id < corpus.NumSpecial; id++ {
					row[id] = math.Inf(-1)
				}
				lse[k] = logSumExp(row[corpus.NumSpecial:])
				present[k] = 0
				if fixed == 0 && p.active {
					present[k] = p.fill(&live[k], s, v[r*V:(r+1)*V])
				}
				if present[k] == 0 {
					all |= 1 // no constraint applies: every character keeps them all
				}
				all |= present[k]
			}
			relax := relaxation(all)
			cands = cands[:0]
			for k := range live {
				r := b*K + k
				row := logits[r*V : (r+1)*V]
				base := live[k].logp - lse[k]
				if fixed != 0 {
					push(beamCand{base + row[fixed], k, fixed, p.breaks(&live[k], s, fixed)})
					continue
				}
				vr := v[r*V : (r+1)*V]
				for id := corpus.NumSpecial; id < V; id++ {
					var br uint8
					if present[k] != 0 {
						if br = vr[id]; br&^relax != 0 {
							continue
						}
					}
					if sc := base + row[id]; len(cands) < K || sc > cands[K-1].score {
						push(beamCand{sc, k, id, br})
					}
				}
			}
			next := make([]hyp, len(cands))
			for j, c := range cands {
				h := live[c.k].clone()
				if c.bits != 0 {
					p.note(&h, s, c.id, c.bits, fixed != 0)
				}
				h.logp = c.score
				p.advance(&h, s, c.id)
				next[j] = h
				src[b*K+j], prev[b*K+j] = b*K+c.k, c.id
			}
			for j := len(cands); j < K; j++ { // rows without a beam
				src[b*K+j], prev[b*K+j] = b*K, corpus.BOS
			}
			beams[b] = next
		}
		d.Reorder(src)
	}
	best := make([]hyp, B)
	for b, live := range beams {
		best[b] = live[0] // sorted best first
	}
	return best, d.Err()
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
// topK largest entries when topK > 0. Masked entries are −Inf. probs and
// scratch are buffers of len(row) and cap(row) entries.
func sample(row, probs, scratch []float64, temperature float64, topK int, rng *rand.Rand) int {
	cut := math.Inf(-1)
	if topK > 0 && topK < len(row) {
		sorted := append(scratch[:0], row...)
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

// SampleLatent draws n latent codes from the distribution generation
// samples from: the mixture fitted to the training poems' posteriors when
// the model has one (see FitMixture), else the prior N(0, I).
func (m *Model) SampleLatent(n int, rng *rand.Rand) [][]float64 {
	if m.Sampler != nil {
		return m.Sampler.Sample(n, rng)
	}
	return m.SamplePrior(n, rng)
}

// SamplePrior draws n latent codes from N(0, I); none for n < 1.
func (m *Model) SamplePrior(n int, rng *rand.Rand) [][]float64 {
	z := make([][]float64, max(n, 0))
	for i := range z {
		z[i] = make([]float64, m.Config.Latent)
		for d := range z[i] {
			z[i][d] = rng.NormFloat64()
		}
	}
	return z
}

// SampleAround draws n latent codes near a poem's posterior N(mu, σ²),
// σ = exp(logvar/2): z = mu + spread·σ·ε with ε ~ N(0, I). They decode to
// poems like the one encoded; spread scales how far they stray, and 0 gives
// mu itself. n < 1 draws none.
func (m *Model) SampleAround(mu, logvar []float64, n int, spread float64, rng *rand.Rand) [][]float64 {
	z := make([][]float64, max(n, 0))
	for i := range z {
		z[i] = make([]float64, len(mu))
		for d := range z[i] {
			z[i][d] = mu[d] + spread*math.Exp(logvar[d]/2)*rng.NormFloat64()
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
	return m.Decode(mu, reconOptions(m), nil)
}

// ReconOptions are the options Reconstruct decodes with.
func ReconOptions(m *Model) DecodeOptions { return reconOptions(m) }

// reconOptions decode a poem's code greedily, as the model alone writes
// it; a model trained with the rhyme loss ends the even lines in the
// rhyme group the code predicts, the part of the code that loss trains.
func reconOptions(m *Model) DecodeOptions {
	return DecodeOptions{Lines: m.Config.Lines, Greedy: true, Rhyme: m.Config.RhymeChars, RhymeFromCode: m.Config.RhymeChars}
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
