// Shared definitions of poetvae's kernels. The same sources compile two
// ways: with nvcc to PTX for the GPU, and with a C++ compiler against
// emu_runtime.h, which runs each thread as a fiber on the CPU so that the
// kernels' logic is tested on machines without a GPU.
#pragma once

#ifdef __CUDACC__
// KERNEL(name, params...) declares a kernel with an unmangled name, the
// name the Go side launches it by.
#define KERNEL(name, ...) extern "C" __global__ void name(__VA_ARGS__)
#else
#include "emu_runtime.h"
#endif

typedef unsigned long long u64;

// Threads of the one-dimensional kernels; the block reductions below assume
// exactly this many.
#define THREADS 256

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// block_sum returns the sum of v over the block's THREADS threads to every
// thread, through shared memory in a fixed order (deterministic).
__device__ __forceinline__ float block_sum(float v, float* shared) {
    int t = threadIdx.x;
    shared[t] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s) shared[t] += shared[t + s];
        __syncthreads();
    }
    float total = shared[0];
    __syncthreads();
    return total;
}

// block_max is block_sum with max.
__device__ __forceinline__ float block_max(float v, float* shared) {
    int t = threadIdx.x;
    shared[t] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s) shared[t] = fmaxf(shared[t], shared[t + s]);
        __syncthreads();
    }
    float m = shared[0];
    __syncthreads();
    return m;
}

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
