package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Decoding many codes goes in passes of bounded memory; the poems are
// those of one pass, for greedy decoding and beam search alike, which
// depend on nothing but each poem's own code.
func TestDecodeInPasses(t *testing.T) {
	m := constraintModel(t)
	z := m.SamplePrior(7, rand.New(rand.NewPCG(5, 5)))
	for _, opt := range []DecodeOptions{
		{Lines: 4, Greedy: true},
		{Lines: 4, Greedy: true, Rhyme: true, Tones: TonesLoose, NoRepeat: true},
		{Lines: 4, Beam: 3, Rhyme: true},
	} {
		whole, err := m.Decode(z, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		saved := decodePassBytes
		// Two poems a pass: the last pass holds one.
		decodePassBytes = 2 * max(1, opt.Beam) * m.decodeRowBytes()
		parts, err := m.Decode(z, opt, nil)
		decodePassBytes = saved
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != len(z) {
			t.Fatalf("%+v: %d poems of %d codes", opt, len(parts), len(z))
		}
		for i := range whole {
			if !whole[i].Equal(parts[i]) {
				t.Errorf("%+v: poem %d is %s in one pass, %s in passes of two", opt, i, whole[i], parts[i])
			}
		}
	}
}

// A code that is not finite is refused: its scores would all be NaN, and
// no character could be chosen by them.
func TestDecodeRefusesNonFiniteCodes(t *testing.T) {
	m := constraintModel(t)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		z := m.SamplePrior(3, rand.New(rand.NewPCG(1, 1)))
		z[2][0] = v
		_, err := m.Decode(z, DecodeOptions{Lines: 4, Greedy: true}, nil)
		if err == nil || !strings.Contains(err.Error(), "latent code 2") {
			t.Errorf("a code holding %g: error %v, want one naming latent code 2", v, err)
		}
	}
}

// Mistakes in the options are OptionErrors naming the field, found by
// CheckOptions before anything is decoded as by Decode.
func TestDecodeOptionErrorsNamed(t *testing.T) {
	m := constraintModel(t)
	z := m.SamplePrior(1, rand.New(rand.NewPCG(1, 1)))
	for _, tt := range []struct {
		opt    DecodeOptions
		option string
	}{
		{DecodeOptions{Lines: 3, Greedy: true}, "Lines"},
		{DecodeOptions{Lines: -4, Greedy: true}, "Lines"},
		{DecodeOptions{Lines: 4, Beam: -1}, "Beam"},
		{DecodeOptions{Lines: 4, Temperature: math.NaN()}, "Temperature"},
		{DecodeOptions{Lines: 4, Temperature: math.Inf(1)}, "Temperature"},
		{DecodeOptions{Lines: 4, Temperature: 1, TopK: -1}, "TopK"},
		{DecodeOptions{Lines: 4, Greedy: true, Tones: "tight"}, "Tones"},
		{DecodeOptions{Lines: 4, Greedy: true, RhymeGroup: "xyz"}, "RhymeGroup"},
		{DecodeOptions{Lines: 4, Greedy: true, RhymeGroup: "ang", RhymeChar: '月'}, "RhymeChar"},
		{DecodeOptions{Lines: 4, Greedy: true, Template: make([]rune, 10)}, "Template"},
		{DecodeOptions{Lines: 4, Greedy: true, Fixed: map[int]rune{3: '龘'}}, "Fixed"},
	} {
		for name, err := range map[string]error{"CheckOptions": m.CheckOptions(tt.opt), "Decode": decodeErr(m, z, tt.opt)} {
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option {
				t.Errorf("%s(%+v) = %v, want an OptionError of %s", name, tt.opt, err, tt.option)
			}
		}
	}
	if err := m.CheckOptions(DecodeOptions{Lines: 2, Temperature: 0.8, Rhyme: true, Tones: TonesStrict}); err != nil {
		t.Errorf("CheckOptions of good options: %v", err)
	}
}

func decodeErr(m *Model, z [][]float64, opt DecodeOptions) error {
	_, err := m.Decode(z, opt, rand.New(rand.NewPCG(1, 1)))
	return err
}

// Asked for a negative number of codes, the samplers draw none rather
// than panic.
func TestSampleNoCodes(t *testing.T) {
	m := constraintModel(t)
	rng := rand.New(rand.NewPCG(1, 1))
	mu, logvar := make([]float64, m.Config.Latent), make([]float64, m.Config.Latent)
	mx := &Mixture{Weights: []float64{1}, Means: [][]float64{mu}, Vars: [][]float64{slices.Repeat([]float64{1}, m.Config.Latent)}}
	for name, z := range map[string][][]float64{
		"SamplePrior":    m.SamplePrior(-1, rng),
		"SampleAround":   m.SampleAround(mu, logvar, -5, 1, rng),
		"Mixture.Sample": mx.Sample(-2, rng),
	} {
		if len(z) != 0 {
			t.Errorf("%s of a negative count: %d codes", name, len(z))
		}
	}
}
