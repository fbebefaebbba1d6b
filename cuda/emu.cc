//go:build gpu && emu

// The kernels compiled for the CPU runtime in emu_runtime.h: the emulated
// device of `go test -tags 'gpu emu'`.
#include "gemm.cu"
#include "layers.cu"
#include "optim.cu"

extern "C" {

// emu_launch runs the named kernel; it returns 0, or 1 for an unknown name.
int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               const uint64_t* args) {
    auto it = emu_kernels().find(name);
    if (it == emu_kernels().end()) return 1;
    const EmuKernel& k = it->second;
    emu_kernel_name = name;
    emu_run(dim3{gx, gy, gz}, dim3{bx, by, bz}, [&] { k(args); });
    return 0;
}

// emu_order_set sets the order of blocks and threads (EmuOrder) of later launches.
void emu_order_set(int order, uint64_t seed) { emu_set_order((EmuOrder)order, seed); }

// emu_kernel_count is the number of registered kernels.
int emu_kernel_count() { return (int)emu_kernels().size(); }
}
