package model

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"poetvae/corpus"
	"poetvae/poetry"
)

// BenchmarkTrainStep times one forward and backward pass of the default
// model on a batch of 64 quatrains over a 5,000-character vocabulary.
func BenchmarkTrainStep(b *testing.B) {
	c := DefaultConfig(5000, 4)
	p, err := NewParams(c, tensor.Float32, 1)
	if err != nil {
		b.Fatal(err)
	}
	const B = 64
	f := randomFeed(c, B, 1, true)
	gr := testGraph(b, p, B)
	// Warm-up: the first run allocates every value of the graph, which
	// make bench's three timed runs would otherwise count as a third.
	if _, err := gr.Run(f); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gr.Run(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "poems/s")
}

// BenchmarkGenerate times sampling quatrains from the prior with the
// default model size, 16 poems decoded together.
func BenchmarkGenerate(b *testing.B) {
	m := benchModel(b)
	m.Forward() // the one-time copy of the parameters is not decoding
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 16
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Decode(m.SamplePrior(n, rng), DecodeOptions{Lines: 4, Temperature: 0.8}, rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(n*b.N), "ms/poem")
}

// BenchmarkDecodeConstrained times what BenchmarkGenerate times, under
// every constraint at once: acrostic heads, rhyme, the strict tonal
// pattern and no repeats, with the notes and log-probabilities of
// DecodeResults. Constraints are masks over precomputed tables, so this
// should stay well within twice BenchmarkGenerate.
func BenchmarkDecodeConstrained(b *testing.B) {
	m := benchModel(b)
	template := make([]rune, 20)
	for i := range 4 {
		template[i*5] = m.Vocab.Rune(corpus.NumSpecial + 100*i)
	}
	opt := DecodeOptions{Lines: 4, Temperature: 0.8, Template: template, Rhyme: true, Tones: TonesStrict, NoRepeat: true}
	// Neither the one-time copy of the parameters nor the per-model tables
	// of tones and rhymes is decoding.
	m.Forward()
	if _, err := m.tables(nil); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 16
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.DecodeResults(m.SamplePrior(n, rng), opt, rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(n*b.N), "ms/poem")
}

// BenchmarkImportanceNLL times poetvae eval's costliest figure: the
// importance-sampled NLL with K = 100 samples a poem (the default), for 8
// quatrains and the default model over about 5,000 characters.
func BenchmarkImportanceNLL(b *testing.B) {
	m := benchModel(b)
	m.Forward()
	poems := benchPoems(b, m, 8)
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ImportanceNLL(m, poems, 100, rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(len(poems)*b.N), "ms/poem")
}

// benchPoems makes n quatrains of the model's characters, each different.
func benchPoems(b *testing.B, m *Model, n int) []poetry.Poem {
	poems := make([]poetry.Poem, n)
	for i := range poems {
		chars := make([]rune, 20)
		for j := range chars {
			chars[j] = m.Vocab.Rune(corpus.NumSpecial + (97*i+31*j)%(m.Vocab.Size()-corpus.NumSpecial))
		}
		p, err := poetry.New(chars)
		if err != nil {
			b.Fatal(err)
		}
		poems[i] = p
	}
	return poems
}

// fakeVocab is a vocabulary of about size entries made of consecutive Han
// characters.
func fakeVocab(size int) *corpus.Vocab {
	chars := make([]rune, size-corpus.NumSpecial)
	for i := range chars {
		chars[i] = rune(0x4e00 + i)
	}
	var poems []poetry.Poem
	for i := 0; i+20 <= len(chars); i += 20 {
		p, _ := poetry.New(chars[i : i+20])
		poems = append(poems, p)
	}
	return corpus.BuildVocab(poems, 1)
}

// benchModel is the default model over a vocabulary of about 5,000
// characters, with fresh parameters.
func benchModel(b *testing.B) *Model {
	v := fakeVocab(5000)
	c := DefaultConfig(v.Size(), 4)
	p, err := NewParams(c, tensor.Float32, 1)
	if err != nil {
		b.Fatal(err)
	}
	return &Model{Config: c, Vocab: v, Params: p}
}

// BenchmarkCheckpointEncode times making a resumable checkpoint of the
// default model over 5,000 characters in memory (written every epoch):
// the parameters as float32, Adam's moments as float64, the checksum.
func BenchmarkCheckpointEncode(b *testing.B) {
	m := benchModel(b)
	st, err := NewTrainState(DefaultTrainConfig(), m, nil)
	if err != nil {
		b.Fatal(err)
	}
	ck := &Checkpoint{Model: m, Train: st}
	var size int
	for i := 0; i < b.N; i++ {
		data, err := ck.encode()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.SetBytes(int64(size))
}
