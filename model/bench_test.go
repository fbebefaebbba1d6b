package model

import (
	"testing"

	"gorgonia.org/tensor"
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
	gr, err := NewGraph(p, B)
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gr.Run(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "poems/s")
}
