//go:build gpu

package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemm times each product kernel on the shapes that dominate a
// training step of the default model (decoder 256, embedding 128 + latent
// 32 as the decoder's input, 4×256 gates, 5,984 characters, 21 decoder
// steps), at batch 64 and 256, and reports GFLOP/s. It tells where a step's
// time goes and which tile suits which shape; the step itself is timed by
// model's BenchmarkEngineStep.
func BenchmarkGemm(b *testing.B) {
	type shape struct {
		name       string
		M, N, K    int
		transA, tB bool
	}
	const V, H, In, G = 5984, 256, 128 + 32, 4 * 256
	for _, B := range []int{64, 256} {
		rows := B * 21
		for _, s := range []shape{
			{"logits", rows, V, H, false, false},         // h·W
			{"logits-dW", H, V, rows, true, false},       // hᵀ·dlogits
			{"logits-dh", rows, H, V, false, true},       // dlogits·Wᵀ
			{"gates-input", rows, G, In, false, false},   // all steps' input products at once
			{"gates-recurrent", B, G, H, false, false},   // one step's recurrent product
			{"gates-recurrent-dW", H, G, B, true, false}, // its weight gradient
			{"gates-input-dW", In, G, rows, true, false}, // the input products' weight gradient, all steps at once
		} {
			for _, kernel := range []string{"sgemm", "sgemm32", "sgemm128", "sgemm_plain", "sgemm_tf32", "sgemm_split"} {
				name := fmt.Sprintf("B=%d/%s/%s", B, s.name, kernel)
				b.Run(name, func(b *testing.B) { benchGemm(b, kernel, s.M, s.N, s.K, s.transA, s.tB) })
			}
		}
	}
}

func benchGemm(b *testing.B, kernel string, M, N, K int, transA, transB bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	ab, bb, c := dev(b, random(rng, M*K, 1)), dev(b, random(rng, K*N, 1)), dev(b, random(rng, M*N, 1))
	am, bm := m(ab, 0, M, K), m(bb, 0, K, N)
	if transA {
		am = m(ab, 0, K, M).T()
	}
	if transB {
		bm = m(bb, 0, N, K).T()
	}
	cm := m(c, 0, M, N)
	product, slices := func() { testDevice.gemmWith(kernel, am, bm, 0, 0, cm) }, 0
	if kernel == "sgemm_split" {
		// In as many slices as gemmBias would cut it into, or two where
		// it would not cut it, to show whether it should.
		slices = max(2, splitK(((M+63)/64)*((N+63)/64), K))
		product = func() { testDevice.gemmSplit(am, bm, 0, 0, cm, slices) }
	}
	product() // warm-up: module load, caches, the split's workspace
	if err := testDevice.sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		product()
	}
	if err := testDevice.sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	flops := 2 * float64(M) * float64(N) * float64(K) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if slices > 0 {
		b.ReportMetric(float64(slices), "slices")
	}
}
