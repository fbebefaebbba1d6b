package model

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

// evalModel is an untrained model small enough to evaluate many times in a
// test, with the vocabulary of poems.
func evalModel(t testing.TB, poems []poetry.Poem, lm bool) *Model {
	t.Helper()
	v := corpus.BuildVocab(poems, 1)
	c := Config{Vocab: v.Size(), Lines: 4, Embed: 16, Highway: 1, EncHidden: 16, DecHidden: 16, Latent: 4, LM: lm}
	m, err := NewModel(c, v, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// setParamValues overwrites the named parameters with values from f.
func setParamValues(m *Model, f func() float64, names ...string) {
	for _, name := range names {
		w := m.Params.Get(name).Data().([]float32)
		for i := range w {
			w[i] = float32(f())
		}
	}
	m.Refresh()
}

// collapsePosterior makes q(z|x) = N(0, I) for every poem.
func collapsePosterior(m *Model) {
	setParamValues(m, func() float64 { return 0 }, "mu.Wf", "mu.Wb", "mu.b", "logvar.Wf", "logvar.Wb", "logvar.b")
}

// spreadPosterior gives the posterior means random weights of the given
// scale. At initialisation the encoder's final states are small and the
// posteriors of all poems nearly coincide; larger weights pull them apart,
// as training does, so that z carries information about the poem.
func spreadPosterior(m *Model, scale float64) {
	rng := rand.New(rand.NewPCG(5, 5))
	setParamValues(m, func() float64 { return scale * rng.NormFloat64() }, "mu.Wf", "mu.Wb")
}

func meanAndErr(x []float64) (mean, stderr float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}

// TestImportanceBound checks the importance-sampled NLL against the ELBO
// over independent draws: with K = 1 it estimates the negative ELBO, and
// with K = 50 it is lower (a tighter bound on −log p(x)) by more than the
// Monte Carlo error.
func TestImportanceBound(t *testing.T) {
	poems := samplePoems(t, 30)
	m := evalModel(t, poems, false)
	spreadPosterior(m, 10)
	var d1, d50, d1to50 []float64 // per poem and draw: IS₁ − (−ELBO), IS₅₀ − (−ELBO), IS₁ − IS₅₀
	for seed := uint64(1); seed <= 3; seed++ {
		is1, err := ImportanceNLL(m, poems, 1, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		is50, err := ImportanceNLL(m, poems, 50, rand.New(rand.NewPCG(seed, 2)))
		if err != nil {
			t.Fatal(err)
		}
		nll, kl, err := ELBO(m, poems, rand.New(rand.NewPCG(seed, 3)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range poems {
			negELBO := nll[i] + kl[i]
			d1 = append(d1, is1[i]-negELBO)
			d50 = append(d50, is50[i]-negELBO)
			d1to50 = append(d1to50, is1[i]-is50[i])
		}
	}
	m1, e1 := meanAndErr(d1)
	m50, e50 := meanAndErr(d50)
	shrink, eShrink := meanAndErr(d1to50)
	t.Logf("IS₁ − (−ELBO) = %.3f ± %.3f, IS₅₀ − (−ELBO) = %.3f ± %.3f, IS₁ − IS₅₀ = %.3f ± %.3f", m1, e1, m50, e50, shrink, eShrink)
	if math.Abs(m1) > 4*e1 {
		t.Errorf("K = 1 differs from the negative ELBO by %.3f ± %.3f", m1, e1)
	}
	if m50 > -4*e50 {
		t.Errorf("K = 50 is not below the negative ELBO: %.3f ± %.3f", m50, e50)
	}
	if shrink < -4*eShrink {
		t.Errorf("K = 50 gave a looser bound than K = 1: by %.3f ± %.3f", -shrink, eShrink)
	}
}

// TestImportanceExact: when q(z|x) is the prior and the decoder ignores z,
// every importance weight is p(x), so the estimate is exact for any K and
// equals the reconstruction NLL, with no KL. K = 50 spreads the poems over
// several batches, which checks that results come back in order, and a K
// above evalRows splits each poem's samples over several decoder passes.
func TestImportanceExact(t *testing.T) {
	poems := samplePoems(t, 20)
	m := evalModel(t, poems, false)
	collapsePosterior(m)
	names := []string{"dec_init.W"}
	for _, g := range gateNames {
		names = append(names, "dec.Wz."+g)
	}
	setParamValues(m, func() float64 { return 0 }, names...)
	rng := rand.New(rand.NewPCG(1, 2))
	nll, kl, err := ELBO(m, poems, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ k, poems int }{{1, 20}, {3, 20}, {50, 20}, {evalRows + 7, 3}} {
		k := tt.k
		is, err := ImportanceNLL(m, poems[:tt.poems], k, rng)
		if err != nil {
			t.Fatal(err)
		}
		for i := range is {
			if !close(is[i], nll[i], 1e-9) || kl[i] != 0 {
				t.Fatalf("K = %d, poem %d: IS-NLL %.12g, NLL %.12g, KL %g", k, i, is[i], nll[i], kl[i])
			}
		}
	}
	// Distinct poems have distinct likelihoods: the order is not scrambled.
	if nll[0] == nll[1] {
		t.Errorf("two poems with the same NLL %g", nll[0])
	}
}

// TestLatentUse: a collapsed posterior carries no information (MI exactly
// 0, no active unit); one whose means vary across poems carries some.
func TestLatentUse(t *testing.T) {
	poems := samplePoems(t, 30)
	tests := []struct {
		name   string
		change func(*Model)
		used   bool
	}{
		{"collapsed", collapsePosterior, false},
		{"random encoder", func(m *Model) { spreadPosterior(m, 5) }, true},
	}
	for _, tt := range tests {
		m := evalModel(t, poems, false)
		tt.change(m)
		mi, err := MutualInformation(m, poems, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		au, err := ActiveUnitCount(m, poems)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: MI %.4g nats, %d active units", tt.name, mi, au)
		if tt.used && (mi < 0.1 || au == 0) {
			t.Errorf("%s: MI %g, active units %d; want both positive", tt.name, mi, au)
		}
		if !tt.used && (mi != 0 || au != 0) {
			t.Errorf("%s: MI %g, active units %d; want 0", tt.name, mi, au)
		}
	}
}

// TestEvaluateProgress checks what Evaluate tells its progress callback:
// after each batch of the importance sampling (K = 50: five poems a batch
// here), the poems done so far, rising to all of them, and the same report
// as without a callback.
func TestEvaluateProgress(t *testing.T) {
	poems := samplePoems(t, 24)
	m := evalModel(t, poems, false)
	var calls [][2]int
	r, err := Evaluate(m, poems, 50, 1, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[len(calls)-1] != [2]int{len(poems), len(poems)} {
		t.Fatalf("progress calls %v: want several, the last (%d, %d)", calls, len(poems), len(poems))
	}
	for i, c := range calls {
		if c[1] != len(poems) || c[0] <= 0 || (i > 0 && c[0] <= calls[i-1][0]) {
			t.Fatalf("progress calls %v: call %d does not count up towards %d", calls, i, len(poems))
		}
	}
	if quiet, _ := Evaluate(m, poems, 50, 1, nil); !reflect.DeepEqual(quiet, r) {
		t.Errorf("the report changed with a progress callback:\n%+v\n%+v", r, quiet)
	}
}

func TestEvaluate(t *testing.T) {
	poems := samplePoems(t, 24)
	m := evalModel(t, poems, false)
	spreadPosterior(m, 5)
	r, err := Evaluate(m, poems, 5, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	brief := r
	brief.Reconstructions, brief.ShuffledCharsRecovered = nil, nil
	t.Logf("%+v, control %.4g", brief, *r.ShuffledCharsRecovered)
	if r.Poems != len(poems) || r.Samples != 5 || r.Tokens != 21 || r.Latent != 4 {
		t.Errorf("counts: %+v", r)
	}
	if !close(r.ELBO, r.NLL+r.KL, 1e-12) || !close(r.ISPPL, math.Exp(r.ISNLL/21), 1e-12) ||
		!close(r.ELBOPPL, math.Exp(r.ELBO/21), 1e-12) {
		t.Errorf("derived figures do not add up: %+v", r)
	}
	if again, _ := Evaluate(m, poems, 5, 1, nil); !reflect.DeepEqual(again, r) {
		t.Errorf("same seed, different report:\n%+v\n%+v", again, r)
	}
	if other, _ := Evaluate(m, poems, 5, 2, nil); other.ISNLL == r.ISNLL {
		t.Errorf("different seeds, same IS-NLL %g", r.ISNLL)
	}
	// The reconstruction figures are those of Reconstruct.
	recon, err := m.Reconstruct(poems)
	if err != nil {
		t.Fatal(err)
	}
	var share float64
	refs := make([][]poetry.Poem, len(poems))
	for i := range poems {
		share += Recovered(poems[i], recon[i])
		refs[i] = poems[i : i+1]
		if !r.Reconstructions[i].Equal(recon[i]) {
			t.Errorf("poem %d: the report's reconstruction %s, Reconstruct's %s", i, r.Reconstructions[i], recon[i])
		}
	}
	if len(r.Reconstructions) != len(poems) {
		t.Errorf("%d reconstructions of %d poems", len(r.Reconstructions), len(poems))
	}
	if want := share / float64(len(poems)); !close(r.CharsRecovered, want, 1e-12) {
		t.Errorf("characters recovered %g, Recovered says %g", r.CharsRecovered, want)
	}
	if want := poetry.CorpusBLEU(recon, refs, 4); r.ReconBLEU != want {
		t.Errorf("reconstruction BLEU %g, want %g", r.ReconBLEU, want)
	}
	if r.LinesRecovered < 0 || r.LinesRecovered > r.CharsRecovered+1e-12 {
		t.Errorf("lines recovered %g with characters recovered %g", r.LinesRecovered, r.CharsRecovered)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	want := r
	want.Reconstructions, want.ShuffledReconstructions = nil, nil // not in the JSON
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("JSON round trip: %s gave %+v, %v", b, back, err)
	}
}

func TestDerangement(t *testing.T) {
	for _, n := range []int{0, 1} {
		if p := derangement(n, rand.New(rand.NewPCG(1, streamShuffle))); p != nil {
			t.Errorf("derangement of %d: %v, want nil", n, p)
		}
	}
	if p := derangement(2, rand.New(rand.NewPCG(1, streamShuffle))); !slices.Equal(p, []int{1, 0}) {
		t.Errorf("derangement of 2: %v, want [1 0]", p)
	}
	for _, n := range []int{2, 3, 4, 7, 100} {
		for seed := uint64(1); seed <= 20; seed++ {
			p := derangement(n, rand.New(rand.NewPCG(seed, streamShuffle)))
			seen := make([]bool, n)
			for i, j := range p {
				if j == i {
					t.Fatalf("n = %d, seed %d: %v maps %d to itself", n, seed, p, i)
				}
				if j < 0 || j >= n || seen[j] {
					t.Fatalf("n = %d, seed %d: %v is not a permutation", n, seed, p)
				}
				seen[j] = true
			}
			if len(p) != n {
				t.Fatalf("n = %d, seed %d: %v has %d indices", n, seed, p, len(p))
			}
			if again := derangement(n, rand.New(rand.NewPCG(seed, streamShuffle))); !slices.Equal(again, p) {
				t.Fatalf("n = %d, seed %d: %v, then %v", n, seed, p, again)
			}
		}
	}
	a := derangement(100, rand.New(rand.NewPCG(1, streamShuffle)))
	if b := derangement(100, rand.New(rand.NewPCG(2, streamShuffle))); slices.Equal(a, b) {
		t.Error("two seeds gave the same derangement of 100")
	}
}

// ignoreLatent makes the decoder ignore z: its initial state and its
// gates no longer read it.
func ignoreLatent(m *Model) {
	names := []string{"dec_init.W"}
	for _, g := range gateNames {
		names = append(names, "dec.Wz."+g)
	}
	setParamValues(m, func() float64 { return 0 }, names...)
}

// TestShuffledControl: the shuffled-code control is the share of
// characters recovered from the posterior mean of the poem the seed's
// derangement pairs each poem with; a decoder that ignores z, a language
// model's among them, gets exactly the characters recovered; one poem has
// no control, two have one.
func TestShuffledControl(t *testing.T) {
	poems := samplePoems(t, 24)
	m := evalModel(t, poems, false)
	spreadPosterior(m, 5)
	const seed = 3
	r, err := Evaluate(m, poems, 2, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ShuffledCharsRecovered == nil {
		t.Fatal("no control for 24 poems")
	}
	mu, _, err := m.Encode(poems)
	if err != nil {
		t.Fatal(err)
	}
	perm := derangement(len(poems), rand.New(rand.NewPCG(seed, streamShuffle)))
	other := make([][]float64, len(mu))
	for i, j := range perm {
		other[i] = mu[j]
	}
	shuffled, err := m.Decode(other, DecodeOptions{Lines: 4, Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var share float64
	for i := range poems {
		share += Recovered(poems[i], shuffled[i])
	}
	if want := share / float64(len(poems)); !close(*r.ShuffledCharsRecovered, want, 1e-12) {
		t.Errorf("control %g, decoding the deranged means gives %g", *r.ShuffledCharsRecovered, want)
	}
	t.Logf("random encoder: characters recovered %.3f, control %.3f", r.CharsRecovered, *r.ShuffledCharsRecovered)

	blind := evalModel(t, poems, false)
	spreadPosterior(blind, 5)
	ignoreLatent(blind)
	for name, m := range map[string]*Model{"decoder ignoring z": blind, "language model": evalModel(t, poems, true)} {
		r, err := Evaluate(m, poems, 2, seed, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.ShuffledCharsRecovered == nil || *r.ShuffledCharsRecovered != r.CharsRecovered {
			t.Errorf("%s: control %v, characters recovered %g; want them equal", name, r.ShuffledCharsRecovered, r.CharsRecovered)
		}
	}

	if r, err := Evaluate(m, poems[:1], 2, seed, nil); err != nil || r.ShuffledCharsRecovered != nil {
		t.Errorf("one poem: control %v, %v; want none", r.ShuffledCharsRecovered, err)
	}
	r, err = Evaluate(m, poems[:2], 2, seed, nil)
	if err != nil || r.ShuffledCharsRecovered == nil {
		t.Fatalf("two poems: control %v, %v", r.ShuffledCharsRecovered, err)
	}
	// Each of two poems is decoded from the other's code.
	swapped, err := m.Decode([][]float64{mu[1], mu[0]}, DecodeOptions{Lines: 4, Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Recovered(poems[0], swapped[0]) + Recovered(poems[1], swapped[1])) / 2; !close(*r.ShuffledCharsRecovered, want, 1e-12) {
		t.Errorf("two poems: control %g, want %g", *r.ShuffledCharsRecovered, want)
	}
}

// TestShuffledControlTrained: a model trained to reconstruct eight poems
// recovers all their characters from their own codes and few from each
// other's.
func TestShuffledControlTrained(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	poems := samplePoems(t, 8)
	tr := smallSetup(t, poems, overfitConfig())
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(tr.Model, poems, 2, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("characters recovered %.3f, control %.3f", r.CharsRecovered, *r.ShuffledCharsRecovered)
	if r.CharsRecovered != 1 || *r.ShuffledCharsRecovered > 0.25 {
		t.Errorf("characters recovered %g, control %g; want 1 and at most 0.25", r.CharsRecovered, *r.ShuffledCharsRecovered)
	}
}

// TestEvaluateLM: a language model's estimate is its exact likelihood, and
// its latent figures are 0.
func TestEvaluateLM(t *testing.T) {
	poems := samplePoems(t, 12)
	m := evalModel(t, poems, true)
	r, err := Evaluate(m, poems, 10, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !close(r.ISNLL, r.NLL, 1e-9) || r.KL != 0 || r.MI != 0 || r.ActiveUnits != 0 {
		t.Errorf("language model: %+v", r)
	}
	if _, err := ActiveUnitCount(m, poems); err != nil {
		t.Errorf("active units of a language model: %v", err)
	}
}

func TestEvalErrors(t *testing.T) {
	poems := samplePoems(t, 4)
	m := evalModel(t, poems, false)
	couplet, err := poetry.Parse("床前明月光，疑是地上霜。")
	if err != nil {
		t.Fatal(err)
	}
	mixed := append(poems[:2:2], couplet)
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := ImportanceNLL(m, poems, 0, rng); err == nil {
		t.Error("K = 0 accepted")
	}
	if _, err := ImportanceNLL(m, mixed, 5, rng); err == nil {
		t.Error("ImportanceNLL accepted a couplet")
	}
	if _, _, err := ELBO(m, mixed, rng); err == nil {
		t.Error("ELBO accepted a couplet")
	}
	if _, err := MutualInformation(m, mixed, rng); err == nil {
		t.Error("MutualInformation accepted a couplet")
	}
	if _, err := ActiveUnitCount(m, mixed); err == nil {
		t.Error("ActiveUnitCount accepted a couplet")
	}
	if _, err := Evaluate(m, nil, 5, 1, nil); err == nil {
		t.Error("Evaluate accepted no poems")
	}
	if _, err := Evaluate(nil, poems, 5, 1, nil); err == nil {
		t.Error("Evaluate accepted no model")
	}
	if mi, err := MutualInformation(m, poems[:1], rng); mi != 0 || err != nil {
		t.Errorf("MI of one poem = %g, %v", mi, err)
	}
}
