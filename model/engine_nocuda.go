//go:build !gpu

package model

// openGPU: this build has no GPU engine.
func openGPU(int, bool, *Model, *TrainState) (engine, error) { return nil, ErrNoCUDA }

// HasCUDA reports whether this build has the GPU engine.
const HasCUDA = false

// openGPUInference: this build has no GPU engine.
func openGPUInference(int) (gpuInference, error) { return nil, ErrNoCUDA }
