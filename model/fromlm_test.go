package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/model/noise"
	"poetvae/poetry"
)

// TestInitFromLM: a VAE started from a language model gives every poem
// the language model's likelihood whatever its code, and keeps its own
// encoder; models that do not fit together are refused with the reason.
func TestInitFromLM(t *testing.T) {
	poems := samplePoems(t, 12)
	lm, vae := lmAndVAE(t, poems, true)
	v, base, vc := lm.Vocab, smallConfig(lm.Vocab), vae.Config
	lmc := lm.Config
	randomCodeToOutput(vae.Params, 3) // a path from the code that the start must close
	encBefore := vae.Params.Float64s(vae.Params.index["enc_fwd.Wx.i"])
	if err := InitFromLM(vae, lm); err != nil {
		t.Fatal(err)
	}
	if got := vae.Params.Float64s(vae.Params.index["enc_fwd.Wx.i"]); !equalFloats(got, encBefore) {
		t.Error("starting from the language model changed the encoder")
	}

	batch := evalBatches(vae, poems, len(poems))[0]
	B, Z := len(poems), vc.Latent
	want := lm.Forward().NLL(make([]float64, B*Z), batch.DecIn, batch.Target, B)
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 3 {
		z := make([]float64, B*Z)
		for i := range z {
			z[i] = 3 * rng.NormFloat64()
		}
		got := vae.Forward().NLL(z, batch.DecIn, batch.Target, B)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9*math.Abs(want[i]) {
				t.Fatalf("trial %d, poem %d: −log p(x|z) %.9f, the language model's %.9f", trial, i, got[i], want[i])
			}
		}
	}
	// Training moves the code's paths away from zero: the start is a
	// starting point, not a constraint (their gradients are not zero).
	gr, err := NewGraph(vae.Params, B)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	f := NewFeed(vc, &batch, noise.New(3, 0), 0, 0)
	f.Beta = 1
	if _, err := gr.Run(f); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dec.Wz.i", "dec_init.W", "out.Wz"} {
		g := gr.Grad(vae.Params.index[name]).Data().([]float32)
		if maxAbs32(g) == 0 {
			t.Errorf("the gradient of %s is zero at the start: training could never open the path", name)
		}
	}

	refusals := []struct {
		name  string
		edit  func(c *Config)
		which string
	}{
		{"another decoder size", func(c *Config) { c.DecHidden = 9 }, "decoder 9"},
		{"another embedding", func(c *Config) { c.Embed = 5 }, "embedding 5"},
	}
	for _, r := range refusals {
		c := base
		r.edit(&c)
		other, err := NewModel(c, v, 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := InitFromLM(other, lm); err == nil || !strings.Contains(err.Error(), r.which) {
			t.Errorf("%s: %v, want an error naming %q", r.name, err, r.which)
		}
	}
	if err := InitFromLM(vae, vae); err == nil || !strings.Contains(err.Error(), "not a language model") {
		t.Errorf("a VAE as the language model: %v", err)
	}
	fewer := corpus.BuildVocab(poems[:6], 1)
	lmc.Vocab = fewer.Size()
	small, err := NewModel(lmc, fewer, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := InitFromLM(vae, small); err == nil || !strings.Contains(err.Error(), "vocabular") {
		t.Errorf("another vocabulary: %v", err)
	}
}

// smallConfig is a VAE small enough for exact checks, on vocabulary v.
func smallConfig(v *corpus.Vocab) Config {
	return Config{Vocab: v.Size(), Lines: 4, Embed: 8, Highway: 1, EncHidden: 6, DecHidden: 7, Latent: 3}
}

// lmAndVAE makes an untrained language model and VAE of poems' vocabulary
// (the VAE with the code fed to its output and the rhyme loss when full).
func lmAndVAE(t *testing.T, poems []poetry.Poem, full bool) (lm, vae *Model) {
	t.Helper()
	v := corpus.BuildVocab(poems, 1)
	lmc, vc := smallConfig(v), smallConfig(v)
	lmc.LM = true
	vc.CodeToOutput, vc.RhymeChars = full, full
	lm, err := NewModel(lmc, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	if vae, err = NewModel(vc, v, 2); err != nil {
		t.Fatal(err)
	}
	return lm, vae
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func maxAbs32(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// TestImportanceNLLWide: for a VAE whose decoder ignores its code (started
// from a language model), p(x) is the language model's exactly, and the
// importance-sampled estimate must find it with the posterior as proposal
// and with a widened one alike: a wrong density for the widened proposal
// would miss it by some nats. Scales that are no proposal are refused.
func TestImportanceNLLWide(t *testing.T) {
	poems := samplePoems(t, 6)
	lm, vae := lmAndVAE(t, poems, false)
	if err := InitFromLM(vae, lm); err != nil {
		t.Fatal(err)
	}
	exact, err := ImportanceNLL(lm, poems, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, scale := range []float64{1, 1.5, 0.8} {
		est, err := ImportanceNLLWide(vae, poems, 4000, scale, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range est {
			if d := est[i] - exact[i]; math.Abs(d) > 0.05 {
				t.Errorf("scale %g, poem %d: estimate %.4f, exact %.4f", scale, i, est[i], exact[i])
			}
		}
	}
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := ImportanceNLLWide(vae, poems, 2, scale, rand.New(rand.NewPCG(2, 2))); err == nil {
			t.Errorf("scale %g: no error", scale)
		}
	}
}
