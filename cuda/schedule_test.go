//go:build gpu && emu

package cuda

import "testing"

// TestKernelsInAnyOrder runs the kernel tests again with the emulator's
// blocks and threads reversed and shuffled. A GPU runs them in no fixed
// order, and a kernel that works only in the emulator's usual one (a
// missing barrier, a block that reads another's output) would pass the
// tests above and fail on a GPU.
func TestKernelsInAnyOrder(t *testing.T) {
	kernelTests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Sgemm", TestSgemm},
		{"GatherScatter", TestGatherScatter},
		{"BiasKernels", TestBiasKernels},
		{"ColSum", TestColSum},
		{"Highway", TestHighway},
		{"RandomKernelsMatchNoise", TestRandomKernelsMatchNoise},
		{"Tanh", TestTanh},
		{"LSTMStep", TestLSTMStep},
		{"Latent", TestLatent},
		{"Xent", TestXent},
		{"Optimiser", TestOptimiser},
	}
	defer SetSchedule(InOrder, 0)
	for _, s := range []Schedule{Reversed, Shuffled} {
		t.Run(s.String(), func(t *testing.T) {
			SetSchedule(s, 1)
			for _, k := range kernelTests {
				t.Run(k.name, k.run)
			}
		})
	}
}
