//go:build gpu && emu

package model

import (
	"testing"

	"poetvae/cuda"
)

// TestGPUStepInAnyOrder compares the small models' whole steps again with
// the emulator's blocks and threads reversed and shuffled: the kernels'
// own tests do so at their sizes, this at the shapes a training step
// launches them with.
func TestGPUStepInAnyOrder(t *testing.T) {
	defer cuda.SetSchedule(cuda.InOrder, 0)
	for _, s := range []cuda.Schedule{cuda.Reversed, cuda.Shuffled} {
		t.Run(s.String(), func(t *testing.T) {
			cuda.SetSchedule(s, 2)
			testGPUSteps(t, false)
		})
	}
}
