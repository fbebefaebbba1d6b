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

// Tensor cores: D += A·B for a 16×8 tile of D from a 16×8 tile of A and an
// 8×8 tile of B in TF32, with FP32 accumulation, computed by the 32 threads
// of a warp together (mma.sync m16n8k8). Thread l of the warp holds, with
// g = l/4 and t = l%4: a[0..3] = A(g, t), A(g+8, t), A(g, t+4), A(g+8, t+4);
// b[0..1] = B(t, g), B(t+4, g); d[0..3] = D(g, 2t), D(g, 2t+1), D(g+8, 2t),
// D(g+8, 2t+1). Every thread of the warp must call it together.
#ifdef __CUDACC__
__device__ __forceinline__ unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// Grid-stride loop over n elements.
#define FOR_EACH(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
