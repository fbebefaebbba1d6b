// A CPU runtime for poetvae's CUDA kernels, for tests on machines without a
// GPU. Each block runs by itself; each of its threads is a fiber (ucontext)
// on one OS thread, switched at __syncthreads, so barriers and shared memory
// (a static array, shared by the block's fibers) behave as on the GPU.
// Kernels declared with KERNEL register themselves by name.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 emu_thread_idx, emu_block_idx, emu_block_dim, emu_grid_dim;
#define threadIdx emu_thread_idx
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

struct EmuFiber {
    ucontext_t ctx;
    dim3 tid;
    bool done;
};

inline thread_local ucontext_t emu_scheduler;
inline thread_local EmuFiber* emu_current;
inline thread_local const std::function<void()>* emu_body;

inline void __syncthreads() { swapcontext(&emu_current->ctx, &emu_scheduler); }

inline float atomicAdd(float* p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}

// to_tf32 rounds to TF32 (10 mantissa bits), to nearest with ties away
// from zero, as cvt.rna.tf32.f32 does; the result is a float's bits.
inline unsigned to_tf32(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // finite values only
    return u;
}

// mma_tf32 emulates the warp's tensor-core product (see common.cuh): the
// threads of each warp deposit their fragments, meet at a barrier, and each
// computes its own elements of D.
inline void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    static float A[32][16][8], B[32][8][8];  // per warp (up to 1024 threads)
    auto f = [](unsigned u) { float x; memcpy(&x, &u, 4); return x; };
    unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    A[warp][g][t] = f(a[0]);
    A[warp][g + 8][t] = f(a[1]);
    A[warp][g][t + 4] = f(a[2]);
    A[warp][g + 8][t + 4] = f(a[3]);
    B[warp][t][g] = f(b[0]);
    B[warp][t + 4][g] = f(b[1]);
    __syncthreads();
    for (int r = 0; r < 4; r++) {
        unsigned row = g + 8 * (r / 2), col = 2 * t + r % 2;
        float s = d[r];
        for (int k = 0; k < 8; k++) s += A[warp][row][k] * B[warp][k][col];
        d[r] = s;
    }
    __syncthreads();
}

inline void emu_fiber_main() {
    (*emu_body)();
    emu_current->done = true;  // returning resumes the scheduler (uc_link)
}

// emu_run runs body as every thread of every block of the grid.
inline void emu_run(dim3 grid, dim3 block, const std::function<void()>& body) {
    static thread_local std::vector<std::vector<char>> stacks;
    const size_t stack_size = 256 * 1024;
    unsigned n = block.x * block.y * block.z;
    while (stacks.size() < n) stacks.emplace_back(stack_size);
    std::vector<EmuFiber> fibers(n);
    emu_grid_dim = grid;
    emu_block_dim = block;
    emu_body = &body;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                emu_block_idx = dim3{bx, by, bz};
                for (unsigned i = 0; i < n; i++) {
                    EmuFiber& f = fibers[i];
                    f.tid = dim3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
                    f.done = false;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks[i].data();
                    f.ctx.uc_stack.ss_size = stack_size;
                    f.ctx.uc_link = &emu_scheduler;
                    makecontext(&f.ctx, emu_fiber_main, 0);
                }
                // Each round runs every live thread to its next barrier or
                // to its end; a round ends with all live threads waiting.
                for (bool live = true; live;) {
                    live = false;
                    for (auto& f : fibers) {
                        if (f.done) continue;
                        emu_current = &f;
                        emu_thread_idx = f.tid;
                        swapcontext(&emu_scheduler, &f.ctx);
                        live = live || !f.done;
                    }
                }
            }
}

// Kernel registry: arguments arrive as the 64-bit slots the Go side fills,
// each value in the low bytes of its slot.
typedef std::function<void(const uint64_t*)> EmuKernel;

inline std::map<std::string, EmuKernel>& emu_kernels() {
    static std::map<std::string, EmuKernel> kernels;
    return kernels;
}

template <class T>
T emu_arg(uint64_t slot) {
    T v;
    memcpy(&v, &slot, sizeof(T));
    return v;
}

template <class... A, size_t... I>
void emu_call(void (*f)(A...), const uint64_t* args, std::index_sequence<I...>) {
    f(emu_arg<A>(args[I])...);
}

struct EmuRegistrar {
    template <class... A>
    EmuRegistrar(const char* name, void (*f)(A...)) {
        emu_kernels()[name] = [f](const uint64_t* args) { emu_call(f, args, std::index_sequence_for<A...>{}); };
    }
};

#define KERNEL(name, ...)                                \
    static void name(__VA_ARGS__);                       \
    static EmuRegistrar emu_register_##name(#name, name); \
    static void name(__VA_ARGS__)
