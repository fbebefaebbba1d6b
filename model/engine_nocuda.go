//go:build !gpu

package model

// openGPU: this build has no GPU engine.
func openGPU(int, bool, *Model, *TrainState) (engine, error) { return nil, ErrNoCUDA }

// HasCUDA reports whether this build has the GPU engine.
const HasCUDA = false

// openGPUDecoding: this build has no GPU engine.
func openGPUDecoding(int) (gpuDecoding, error) { return nil, ErrNoCUDA }
