package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"poetvae/corpus"
)

// BenchmarkEngineStep times whole training steps (forward, backward,
// clipping, Adam) of the default model over a vocabulary of about 6,000 characters on
// each engine this build has: the CPU at batch 64, a GPU (POETVAE_GPU, from
// 0) at 64, 128 and 256, in FP32 and with TF32 tensor cores, each step one
// CUDA graph, and in FP32 with the kernels launched one by one
// (cuda-launches). It reports poems a second, the arithmetic rate of the
// step's matrix products (TrainFLOPs) and, on a GPU, the kernels a step.
func BenchmarkEngineStep(b *testing.B) {
	type benchCase struct {
		device         string
		tf32, launches bool
		batch          int
	}
	cases := []benchCase{{"cpu", false, false, 64}}
	if HasCUDA {
		for _, variant := range []struct{ tf32, launches bool }{{false, false}, {true, false}, {false, true}} {
			for _, B := range []int{64, 128, 256} {
				cases = append(cases, benchCase{"cuda", variant.tf32, variant.launches, B})
			}
		}
	}
	for _, tc := range cases {
		name := tc.device
		if tc.tf32 {
			name += "-tf32"
		}
		if tc.launches {
			name += "-launches"
		}
		b.Run(fmt.Sprintf("%s/B=%d", name, tc.batch), func(b *testing.B) {
			benchEngine(b, tc.device, tc.tf32, tc.launches, tc.batch)
		})
	}
}

func benchEngine(b *testing.B, device string, tf32, launches bool, B int) {
	v := fakeVocab(6000)
	c := DefaultConfig(v.Size(), 4)
	m, err := NewModel(c, v, 1)
	if err != nil {
		b.Fatal(err)
	}
	tc := DefaultTrainConfig()
	tc.BatchSize = B
	st, err := NewTrainState(tc, m, nil)
	if err != nil {
		b.Fatal(err)
	}
	if device != "cpu" {
		device = testGPUName()
	}
	e, err := openEngine(device, tf32, m, st)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	if launches {
		e.(interface{ setGraphs(bool) }).setGraphs(false)
	}
	batch := randomBatch(c, B, 1)
	step := func() {
		if _, _, err := e.step(batch, st, 1); err != nil {
			b.Fatal(err)
		}
		st.Step++
	}
	step() // warm-up: first launches, module load, allocation
	counter, counts := e.(interface{ launches() int })
	var launched int
	if counts {
		launched = counter.launches()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(B)/sec, "poems/s")
	b.ReportMetric(TrainFLOPs(c, B)/sec/1e12, "TFLOP/s")
	if counts {
		b.ReportMetric(float64(counter.launches()-launched)/float64(b.N), "launches/step")
	}
}

// randomBatch is a full batch of B random poems.
func randomBatch(c Config, B int, seed uint64) *corpus.Batch {
	rng := rand.New(rand.NewPCG(seed, 2))
	T, Td := c.EncSteps(), c.DecSteps()
	bt := &corpus.Batch{Size: B, Rows: B, Lines: c.Lines, EncSteps: T, DecSteps: Td,
		Enc: make([]int, B*T), DecIn: make([]int, B*Td), Target: make([]int, B*Td)}
	for r := 0; r < B; r++ {
		bt.DecIn[r*Td] = corpus.BOS
		for s := 0; s < T; s++ {
			id := corpus.NumSpecial + rng.IntN(c.Vocab-corpus.NumSpecial)
			bt.Enc[r*T+s] = id
			bt.DecIn[r*Td+s+1] = id
			bt.Target[r*Td+s] = id
		}
		bt.Target[r*Td+T] = corpus.EOS
	}
	return bt
}

// testGPUName is the device name of the GPU that tests and benchmarks use:
// POETVAE_GPU=N picks cuda:N.
func testGPUName() string {
	if s := os.Getenv("POETVAE_GPU"); s != "" {
		return "cuda:" + s
	}
	return "cuda"
}

// benchDevices are the engines of this build: the CPU, and a GPU in a GPU
// build.
func benchDevices() []string {
	if HasCUDA {
		return []string{"cpu", "cuda"}
	}
	return []string{"cpu"}
}

// untrainedModel is NewModel's default model over about 6,000 characters.
func untrainedModel(b *testing.B) *Model {
	v := fakeVocab(6000)
	m, err := NewModel(DefaultConfig(v.Size(), 4), v, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkValidate times an epoch's validation (posteriors, one sampled z
// a poem, the teacher-forced NLL) of the default model over about 6,000
// characters on 512 poems, on the CPU and, in a GPU build, on a GPU, as
// training on that GPU validates.
func BenchmarkValidate(b *testing.B) {
	for _, device := range benchDevices() {
		b.Run(device, func(b *testing.B) {
			m := untrainedModel(b)
			poems := benchPoems(b, m, 512)
			if device != "cpu" {
				if err := m.UseDevice(testGPUName()); err != nil {
					b.Fatal(err)
				}
				defer m.Close()
			}
			if _, err := Validate(m, poems[:1], 1); err != nil { // warm-up: the upload of the weights
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Validate(m, poems, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(poems)*b.N)/b.Elapsed().Seconds(), "poems/s")
		})
	}
}

// BenchmarkTrainEpoch times whole epochs of training as poetvae train runs
// them: 1,280 poems at batch 64 (20 steps), then the epoch's pull of the
// weights, validation on 184 poems (the shared Tang corpus's number) and
// the checkpoints, the best model and the resumable state, written to a
// temporary folder. It trains b.N epochs after a first one left out of the
// time (the engine's start and the first epoch's one-time work), and
// reports training poems a second, to set beside BenchmarkEngineStep's
// steps alone.
func BenchmarkTrainEpoch(b *testing.B) {
	for _, device := range benchDevices() {
		b.Run(device, func(b *testing.B) {
			m := untrainedModel(b)
			const train, valid = 1280, 184
			poems := benchPoems(b, m, train+valid)
			tc := DefaultTrainConfig()
			tc.Epochs = 1 + b.N
			st, err := NewTrainState(tc, m, poems[:train])
			if err != nil {
				b.Fatal(err)
			}
			if device != "cpu" {
				device = testGPUName()
			}
			dir := b.TempDir()
			tr := &Trainer{Model: m, State: st, Train: poems[:train], Valid: poems[train:], Device: device,
				BestPath: filepath.Join(dir, "best.ckpt"), LastPath: filepath.Join(dir, "last.ckpt")}
			tr.OnEpoch = func(ep EpochInfo) {
				if ep.Epoch == 1 {
					b.ResetTimer()
				}
			}
			if err := tr.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(train*b.N)/b.Elapsed().Seconds(), "poems/s")
		})
	}
}
