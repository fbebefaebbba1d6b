package model

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"poetvae/corpus"
	"poetvae/poetry"
)

// Model is a trained (or training) VAE: its shape, its characters and its
// weights.
type Model struct {
	Config Config
	Vocab  *corpus.Vocab
	Params *Params
	// Keywords indexes Poems by the words they contain, so that generation
	// can start near the poems of a theme. It is nil for a model trained
	// without one; its poem indices are positions in Poems.
	Keywords *corpus.Index
	// Poems are the training poems that Keywords refers to, kept as text
	// so that they can be encoded with whatever the weights are.
	Poems []poetry.Poem
	// Themes, in a model given to others, stands for Keywords and Poems:
	// figures of where each keyword's poems lie, and no poem text.
	Themes *Themes
	// Sampler, when not nil, is what generation draws codes from instead
	// of the prior (see Mixture and SampleLatent).
	Sampler *Mixture
	// Rhymes are the rhyme classes learned from the training poems, which
	// the decoder's rhyme constraints go by when no rhyme table is given
	// (see Prosody); nil for a model trained before they were learned.
	Rhymes *poetry.RhymeClasses
	// prosody makes Prosody's value, once for each SetRhymes: constrained
	// decoding caches its tables by the prosody's identity. It is made on
	// first use, since the Mandarin readings it starts from take
	// milliseconds to build, which a command that only encodes
	// (neighbors) need not pay.
	prosody func() *poetry.Prosody
	net     *Net // forward pass over a copy of Params; rebuilt by Refresh
	// enc is the encoder's part of net, for a model that has encoded
	// poems but not yet decoded any (newEncoderNet); also rebuilt by
	// Refresh.
	enc *Net
	// gpu encodes and decodes on a GPU after UseDevice; nil runs on the CPU.
	gpu gpuInference
	// encoderOnly marks a model read without its decoder's weights
	// (LoadOptions.EncoderOnly), which must not decode.
	encoderOnly bool
	// tabs caches what the last Prosody used for constrained decoding says
	// of each character. It survives Refresh: it depends on the vocabulary,
	// not on the weights.
	tabs *charTables
}

// SetRhymes gives the model the rhyme classes of its training poems.
func (m *Model) SetRhymes(rc *poetry.RhymeClasses) {
	m.Rhymes, m.prosody = rc, nil
	if rc != nil && rc.Len() > 0 {
		m.prosody = sync.OnceValue(func() *poetry.Prosody { return poetry.NewProsody().WithRhymeClasses(rc) })
	}
}

// Prosody is what the model's constrained decoding judges tones and rhymes
// by when DecodeOptions names none: tones by Mandarin readings, rhymes by
// the classes learned from the training poems, which agree with classical
// rhyme far better than Mandarin finals do (docs/RESULTS.md), or by
// Mandarin finals for a model without them.
func (m *Model) Prosody() *poetry.Prosody {
	if m.prosody != nil {
		return m.prosody()
	}
	return poetry.NewProsody()
}

// Forward returns the plain forward pass over the current parameters.
func (m *Model) Forward() *Net {
	if m.encoderOnly {
		panic("model: the forward pass of a model read for encoding only") // a programming error
	}
	if m.net == nil {
		m.net = NewNet(m.Params)
	}
	return m.net
}

// Refresh drops the forward pass's copy of the parameters after they
// change (and the GPU's, which is uploaded again when next needed).
func (m *Model) Refresh() {
	m.net, m.enc = nil, nil
	if m.gpu != nil {
		m.gpu.refresh()
	}
}

// stepDecoder is the decoder's state for poems decoded together, a step at
// a time: Net's on the CPU, or the GPU's after UseDevice. Step's logits are
// valid until the next call, and the caller may change them; after an
// error, Step returns zeros and Err says what went wrong.
type stepDecoder interface {
	Step(prev []int) []float64
	Reorder(src []int)
	Err() error
	Close()
}

// gpuInference runs the encoder and decoders on a GPU (engine_cuda.go).
type gpuInference interface {
	// encode is Net.Encode of a VAE.
	encode(m *Model, ids []int, B int) (mu, logvar []float64, err error)
	newDecoder(m *Model, z []float64, B int) (stepDecoder, error)
	refresh()
	close()
}

func (m *Model) newDecoder(z []float64, B int) (stepDecoder, error) {
	if err := m.decodable(); err != nil {
		return nil, err
	}
	if m.gpu != nil {
		return m.gpu.newDecoder(m, z, B)
	}
	return m.Forward().NewDecoder(z, B), nil
}

// errEncoderOnly is what a model read for encoding only says when asked to
// decode (LoadOptions.EncoderOnly).
var errEncoderOnly = errors.New("the model was read without its decoder (for encoding only)")

// decodable says why the model cannot decode, if it cannot.
func (m *Model) decodable() error {
	if m.encoderOnly {
		return errEncoderOnly
	}
	return nil
}

// encode is Net.Encode (ids B × EncSteps, as the poems read) on the device
// the model runs on (UseDevice).
func (m *Model) encode(ids []int, B int) (mu, logvar []float64, err error) {
	if m.gpu != nil && !m.Config.LM {
		return m.gpu.encode(m, ids, B)
	}
	mu, logvar = m.encoder().Encode(ids, B)
	return mu, logvar, nil
}

// encoder returns the forward pass to encode with: the whole of it once
// built, else the encoder's part alone, so that a command that only
// encodes does not copy the decoder's weights.
func (m *Model) encoder() *Net {
	if m.net != nil {
		return m.net
	}
	if m.enc == nil {
		m.enc = newEncoderNet(m.Params)
	}
	return m.enc
}

// UseDevice makes encoding and decoding (generation, interpolation,
// reconstruction, evaluation) run on a device: "cpu" (the default), "cuda"
// or "cuda:N". Sampling, constraints and beam search stay on the CPU.
// Close releases the GPU.
func (m *Model) UseDevice(device string) error {
	gpu, err := ParseDevice(device)
	if err != nil {
		return err
	}
	m.Close()
	if gpu < 0 {
		return nil
	}
	m.gpu, err = openGPUInference(gpu)
	return err
}

// Close releases the GPU of UseDevice, if any; the model decodes on the
// CPU again.
func (m *Model) Close() {
	if m.gpu != nil {
		m.gpu.close()
		m.gpu = nil
	}
}

// Encode returns the posterior means and log-variances of poems, one row of
// Latent values per poem. Characters outside the vocabulary count as UNK.
// Every poem must have the model's number of lines.
func (m *Model) Encode(poems []poetry.Poem) (mu, logvar [][]float64, err error) {
	if m.Config.LM {
		return nil, nil, errors.New("this model is a plain language model (trained with --lm): it has no latent space to encode poems into")
	}
	T, Z := m.Config.EncSteps(), m.Config.Latent
	ids := make([]int, 0, len(poems)*T)
	for i, p := range poems {
		if p.NumLines() != m.Config.Lines {
			return nil, nil, fmt.Errorf("poem %d has %d lines; the model reads %d-line poems", i+1, p.NumLines(), m.Config.Lines)
		}
		ids = append(ids, m.Vocab.Encode(p)...)
	}
	const chunk = 256 // bounds memory for large corpora
	for start := 0; start < len(poems); start += chunk {
		n := min(chunk, len(poems)-start)
		mus, lvs, err := m.encode(ids[start*T:(start+n)*T], n)
		if err != nil {
			return nil, nil, err
		}
		for b := 0; b < n; b++ {
			mu = append(mu, mus[b*Z:(b+1)*Z])
			logvar = append(logvar, lvs[b*Z:(b+1)*Z])
		}
	}
	return mu, logvar, nil
}

// Lerp returns the point a fraction t of the way from a to b.
func Lerp(a, b []float64, t float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = (1-t)*a[i] + t*b[i]
	}
	return out
}

// Slerp interpolates along the great circle between a and b (White 2016),
// which keeps points at the norm typical of N(0, I) samples where the
// straight line would pass near the origin. Nearly parallel vectors fall
// back to Lerp.
func Slerp(a, b []float64, t float64) []float64 {
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		return Lerp(a, b, t)
	}
	cos := math.Max(-1, math.Min(1, dot/math.Sqrt(na*nb)))
	omega := math.Acos(cos)
	if math.Sin(omega) < 1e-6 {
		return Lerp(a, b, t)
	}
	s0 := math.Sin((1-t)*omega) / math.Sin(omega)
	s1 := math.Sin(t*omega) / math.Sin(omega)
	out := make([]float64, len(a))
	for i := range a {
		out[i] = s0*a[i] + s1*b[i]
	}
	return out
}
