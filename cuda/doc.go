//go:build gpu

// Package cuda is poetvae's GPU engine: the model's dense kernels, written
// as CUDA C in this folder, compiled to PTX (make ptx), embedded in the
// binary and launched through gorgonia.org/cu. Trainer runs a whole
// training step on the device: forward pass, backward pass, gradient-norm
// clipping and Adam, with parameters, gradients and optimiser state kept on
// the GPU for the whole run, each step's kernels launched as one CUDA graph
// (graph.go). Weights holds a model on the device for inference: its
// encoder (encoder.go, the same code as the training step's) and Decoder,
// one step at a time.
//
// The package compiles only with the gpu build tag: gorgonia.org/cu
// initialises the CUDA driver when the program starts and exits the
// process when there is no GPU. (The tag is not "cuda": that tag switches
// Gorgonia itself to its own CUDA engine, which needs cuDNN 7 or 8 to build
// and would move the CPU reference engine onto the GPU.) With the tags gpu
// and emu the same kernels
// are compiled as C++ and run on an emulated device (each GPU thread a
// fiber on the CPU), so that the kernels and the engine are tested on
// machines without a GPU; model/forward.go and the Gorgonia graph are the
// references they are tested against. cuda/emudriver puts the same
// emulated device behind the CUDA driver API, as a stand-in libcuda.so.1,
// so that the binaries of the gpu build itself run where there is no GPU.
package cuda
