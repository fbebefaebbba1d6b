// A CPU runtime for poetvae's CUDA kernels, for tests on machines without a
// GPU. Each block runs by itself; each of its threads is a fiber on one OS
// thread, switched at __syncthreads, so barriers and shared memory
// (a static array, shared by the block's fibers) behave as on the GPU.
// Kernels declared with KERNEL register themselves by name.
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

// A thread runs until it reaches a barrier or its end. A block barrier
// (__syncthreads) lets its threads go on once every live thread of the
// block waits there; a warp barrier (emulated warp-wide instructions) once
// every live thread of the warp does, whatever the block's other warps are
// doing, as on a GPU, where warps run independently between block barriers.
enum EmuWait { EMU_RUNNING, EMU_AT_BLOCK_BARRIER, EMU_AT_WARP_BARRIER, EMU_DONE };

// Switching between fibers. glibc's swapcontext saves and restores the
// signal mask with a system call at every switch (and AddressSanitizer's
// interceptor of it clears the shadow of the whole stack switched to), so
// that kernels with a barrier in their inner loop (a GEMM's tiles) spent
// most of their time switching. On x86-64 the emulator switches by hand:
// the registers a System V function call must keep (rbx, rbp, r12–r15) go
// on the stack being left, whose pointer is saved, and come off the stack
// switched to; under AddressSanitizer each switch is announced to it
// (__sanitizer_start_switch_fiber), as it must see every change of stack.
// Elsewhere the emulator keeps ucontext.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#endif
#if defined(__x86_64__)
#define EMU_FAST_SWITCH 1
#endif
#if defined(EMU_FAST_SWITCH) && defined(EMU_ASAN)
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, size_t size);
}
#endif

struct EmuFiber {
#ifdef EMU_FAST_SWITCH
    void* sp;  // the stack pointer saved by emu_switch
#ifdef EMU_ASAN
    char* stack;  // the fiber's stack, and AddressSanitizer's save of it
    size_t size;
    void* fake;
#endif
#else
    ucontext_t ctx;
#endif
    dim3 tid;
    EmuWait wait;
};

inline thread_local EmuFiber* emu_current;
inline thread_local const std::function<void()>* emu_body;
inline thread_local const char* emu_kernel_name = "";

#ifdef EMU_FAST_SWITCH
inline thread_local void* emu_scheduler_sp;
#ifdef EMU_ASAN
// The scheduler's stack, as AddressSanitizer reports it at a fiber's first
// switch, and its save of it.
inline thread_local const void* emu_scheduler_bottom;
inline thread_local size_t emu_scheduler_size;
inline thread_local void* emu_scheduler_fake;
#endif

// emu_switch saves the callee-saved registers on the current stack and its
// pointer in *save, then takes the stack at to and returns to whatever was
// saved there: the point where that stack's owner called emu_switch, or, for
// a fiber not yet started, emu_fiber_entry (emu_fiber_init).
__attribute__((naked, noinline)) static void emu_switch(void** save, void* to) {
    asm volatile(
        "pushq %rbp\n\t"
        "pushq %rbx\n\t"
        "pushq %r12\n\t"
        "pushq %r13\n\t"
        "pushq %r14\n\t"
        "pushq %r15\n\t"
        "movq %rsp, (%rdi)\n\t"
        "movq %rsi, %rsp\n\t"
        "popq %r15\n\t"
        "popq %r14\n\t"
        "popq %r13\n\t"
        "popq %r12\n\t"
        "popq %rbx\n\t"
        "popq %rbp\n\t"
        "ret\n\t");
}

inline void emu_wait(EmuWait w) {
    EmuFiber* self = emu_current;
    self->wait = w;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&self->fake, emu_scheduler_bottom, emu_scheduler_size);
#endif
    emu_switch(&self->sp, emu_scheduler_sp);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(self->fake, &emu_scheduler_bottom, &emu_scheduler_size);
#endif
}

// emu_fiber_entry is where a fiber starts; it never returns: at the end of
// the kernel it goes back to the scheduler, which does not resume it.
static void emu_fiber_entry() {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &emu_scheduler_bottom, &emu_scheduler_size);
#endif
    (*emu_body)();
    emu_current->wait = EMU_DONE;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, emu_scheduler_bottom, emu_scheduler_size);  // the fiber ends
#endif
    emu_switch(&emu_current->sp, emu_scheduler_sp);
    __builtin_unreachable();
}

// emu_fiber_init lays out a fresh stack as emu_switch leaves one: six
// zeroed registers, then emu_fiber_entry as the address to return to,
// above it a null return address for emu_fiber_entry itself, so that it
// starts with the stack aligned as after a call (16 bytes, less the 8 of
// the return address).
inline void emu_fiber_init(EmuFiber& f, char* stack, size_t size) {
    void** sp = (void**)(((uintptr_t)(stack + size)) & ~(uintptr_t)15);
    *--sp = nullptr;
    *--sp = (void*)&emu_fiber_entry;
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f.sp = sp;
#ifdef EMU_ASAN
    // The frames of the stack's last fiber never returned: their red
    // zones are still poisoned.
    __asan_unpoison_memory_region(stack, size);
    f.stack = stack;
    f.size = size;
    f.fake = nullptr;
#endif
}

// emu_enter runs the fiber f until it waits or ends.
inline void emu_enter(EmuFiber& f) {
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&emu_scheduler_fake, f.stack, f.size);
#endif
    emu_switch(&emu_scheduler_sp, f.sp);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(emu_scheduler_fake, nullptr, nullptr);
#endif
}
#else
inline thread_local ucontext_t emu_scheduler;

inline void emu_wait(EmuWait w) {
    emu_current->wait = w;
    swapcontext(&emu_current->ctx, &emu_scheduler);
}

inline void emu_fiber_main() {
    (*emu_body)();
    emu_current->wait = EMU_DONE;  // returning resumes the scheduler (uc_link)
}

inline void emu_fiber_init(EmuFiber& f, char* stack, size_t size) {
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stack;
    f.ctx.uc_stack.ss_size = size;
    f.ctx.uc_link = &emu_scheduler;
    makecontext(&f.ctx, emu_fiber_main, 0);
}

inline void emu_enter(EmuFiber& f) { swapcontext(&emu_scheduler, &f.ctx); }
#endif

inline void __syncthreads() { emu_wait(EMU_AT_BLOCK_BARRIER); }

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
// threads of each warp deposit their fragments, meet at a warp barrier,
// and each computes its own elements of D. (Not a block barrier: that would
// order the block's warps as mma.sync does not, and hide a missing
// __syncthreads around the shared tiles the fragments come from.)
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
    emu_wait(EMU_AT_WARP_BARRIER);
    for (int r = 0; r < 4; r++) {
        unsigned row = g + 8 * (r / 2), col = 2 * t + r % 2;
        float s = d[r];
        for (int k = 0; k < 8; k++) s += A[warp][row][k] * B[warp][k][col];
        d[r] = s;
    }
    emu_wait(EMU_AT_WARP_BARRIER);
}

// The order in which the emulator runs a grid's blocks, a block's threads
// from one barrier to the next, and warps waiting at warp barriers. A GPU
// promises none, so a kernel must give the same result in any: one that
// reads what another thread writes without a barrier between, or that needs
// blocks in some order, is wrong on a GPU yet may pass under one fixed
// order. Tests run the kernels under all three (emu_set_order).
enum EmuOrder { EMU_FORWARD, EMU_REVERSE, EMU_SHUFFLED };
inline EmuOrder emu_order = EMU_FORWARD;
inline uint64_t emu_shuffle_state = 0;

// emu_set_order sets the order of later launches; a shuffled order starts
// from seed, so that a failure repeats.
inline void emu_set_order(EmuOrder order, uint64_t seed) {
    emu_order = order;
    emu_shuffle_state = seed;
}

// emu_arrange puts 0 … n−1 into idx in the current order.
inline void emu_arrange(std::vector<unsigned>& idx, unsigned n) {
    idx.resize(n);
    for (unsigned i = 0; i < n; i++) idx[i] = emu_order == EMU_REVERSE ? n - 1 - i : i;
    if (emu_order != EMU_SHUFFLED) return;
    for (unsigned i = n; i > 1; i--) {  // Fisher–Yates, on splitmix64 draws
        uint64_t x = (emu_shuffle_state += 0x9e3779b97f4a7c15ULL);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        std::swap(idx[i - 1], idx[x % i]);
    }
}

// emu_release picks which waiting threads go on, once none is running: the
// first warp (in the current order) whose live threads all wait at a warp
// barrier, alone, so that it runs ahead of the others; else, when every
// live thread waits at the block barrier, all of them. It returns false
// when all are done, and aborts on a barrier that can never open (threads
// of a warp at different barriers, or a block barrier some live threads
// never reach): a kernel a GPU would hang on or run wrongly.
inline bool emu_release(std::vector<EmuFiber>& fibers) {
    unsigned n = fibers.size(), warps = (n + 31) / 32;
    std::vector<unsigned> order;
    emu_arrange(order, warps);
    bool live = false, allAtBlock = true;
    for (unsigned w : order) {
        bool atWarp = false, other = false;
        for (unsigned i = 32 * w; i < n && i < 32 * (w + 1); i++) {
            EmuWait s = fibers[i].wait;
            if (s == EMU_DONE) continue;
            live = true;
            if (s != EMU_AT_BLOCK_BARRIER) allAtBlock = false;
            (s == EMU_AT_WARP_BARRIER ? atWarp : other) = true;
        }
        if (atWarp && !other) {
            for (unsigned i = 32 * w; i < n && i < 32 * (w + 1); i++)
                if (fibers[i].wait == EMU_AT_WARP_BARRIER) fibers[i].wait = EMU_RUNNING;
            return true;
        }
    }
    if (!live) return false;
    if (!allAtBlock) {
        fprintf(stderr, "emulated kernel %s: a barrier that never opens in block (%u,%u,%u)\n", emu_kernel_name,
                emu_block_idx.x, emu_block_idx.y, emu_block_idx.z);
        abort();
    }
    for (auto& f : fibers)
        if (f.wait == EMU_AT_BLOCK_BARRIER) f.wait = EMU_RUNNING;
    return true;
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
    std::vector<unsigned> blocks, threads;
    emu_arrange(blocks, grid.x * grid.y * grid.z);
    for (unsigned bi : blocks) {
        emu_block_idx = dim3{bi % grid.x, (bi / grid.x) % grid.y, bi / (grid.x * grid.y)};
        for (unsigned i = 0; i < n; i++) {
            EmuFiber& f = fibers[i];
            f.tid = dim3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
            f.wait = EMU_RUNNING;
            emu_fiber_init(f, stacks[i].data(), stack_size);
        }
        // Each round runs every released thread to its next barrier or to
        // its end.
        do {
            emu_arrange(threads, n);
            for (unsigned i : threads) {
                EmuFiber& f = fibers[i];
                if (f.wait != EMU_RUNNING) continue;
                emu_current = &f;
                emu_thread_idx = f.tid;
                emu_enter(f);
            }
        } while (emu_release(fibers));
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
