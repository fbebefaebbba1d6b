// The emulated device (../emu_runtime.h) behind the CUDA driver API: a
// libcuda.so.1 (make emu-driver) to load in place of NVIDIA's driver
// library (LD_LIBRARY_PATH), so that the GPU build's own binaries, the ones
// gpu-bundle packs for a GPU machine, run where there is no GPU. Through it
// gorgonia.org/cu's calls, cuda/driver.go's contexts and threads, the
// embedded PTX's modules and parameter lists, and the packing of launch
// arguments take the paths they take on a GPU, with the kernels run by the
// emulator.
//
// It checks what the driver checks and the emulator alone does not: that
// cuInit came first, that the calling thread has a current context, that
// an allocation is not empty, that a copy or set stays inside one
// allocation and is aligned to its element, that a launched kernel is one
// of a loaded module's, that the launch's shape is within the GPU's
// limits; and it reads each argument at the size the PTX declares for it,
// as the driver does. A refusal returns the driver's error code and says
// why on stderr. Only the functions poetvae calls are here: a binary that
// calls another stops with the dynamic linker's "undefined symbol".
#include <cuda.h>

#include <mutex>
#include <set>
#include <sstream>

#include "../emu.cc"

struct CUctx_st {
    std::set<CUdeviceptr> allocations;
};

struct CUfunc_st {
    std::string name;
    std::vector<int> paramBytes;  // each parameter's size, from the PTX
    const EmuKernel* kernel;
};

struct CUmod_st {
    std::map<std::string, CUfunc_st> functions;
};

namespace {

std::mutex mu;  // the emulator's launches share static memory, and the tables below
bool initialised;
thread_local CUcontext current;
std::set<CUcontext> contexts;
struct Allocation {
    size_t bytes;
    CUcontext ctx;
};
std::map<CUdeviceptr, Allocation> allocations;

CUresult refuse(CUresult code, const char* call, const std::string& why) {
    fprintf(stderr, "emulated CUDA driver: %s: %s\n", call, why.c_str());
    return code;
}

// ready is what every call that works in a context needs first.
CUresult ready(const char* call) {
    if (!initialised) return refuse(CUDA_ERROR_NOT_INITIALIZED, call, "cuInit has not been called");
    if (!current) return refuse(CUDA_ERROR_INVALID_CONTEXT, call, "no current context on this thread");
    if (!contexts.count(current))  // destroyed, on another thread
        return refuse(CUDA_ERROR_CONTEXT_IS_DESTROYED, call, "the current context was destroyed");
    return CUDA_SUCCESS;
}

// within checks that [p, p+bytes) lies inside one allocation of the
// current context, aligned to align bytes.
CUresult within(const char* call, CUdeviceptr p, size_t bytes, size_t align) {
    if (p % align) return refuse(CUDA_ERROR_INVALID_VALUE, call, "misaligned address");
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin()) return refuse(CUDA_ERROR_INVALID_VALUE, call, "not a device address");
    --it;
    const CUdeviceptr base = it->first;
    const Allocation& a = it->second;
    if (a.ctx != current) return refuse(CUDA_ERROR_INVALID_VALUE, call, "memory of another context");
    if (p - base + bytes > a.bytes) {
        std::ostringstream why;
        why << bytes << " bytes at offset " << p - base << " of an allocation of " << a.bytes;
        return refuse(CUDA_ERROR_INVALID_VALUE, call, why.str());
    }
    return CUDA_SUCCESS;
}

// skipKernels reports POETVAE_EMU_SKIP_KERNELS=1: launches and sets are
// taken but not run, and new memory is zeros (NaN would stop a training step), so
// that what is left of a step's time is the host's part, poetvae's and
// gorgonia.org/cu's work to launch the kernels (make bench-host). The
// results mean nothing.
bool skipKernels() {
    static const bool skip = [] {
        const char* v = getenv("POETVAE_EMU_SKIP_KERNELS");
        return v && !strcmp(v, "1");
    }();
    return skip;
}

// paramBytes is the size of a PTX parameter type, or 0 for one the
// kernels do not use.
int paramBytes(const std::string& type) {
    if (type == ".u32" || type == ".s32" || type == ".f32" || type == ".b32") return 4;
    if (type == ".u64" || type == ".s64" || type == ".f64" || type == ".b64") return 8;
    return 0;
}

// parsePTX lists a module's kernels (".entry NAME(") with the types of
// their parameters (".param TYPE NAME" lines up to the closing ")").
bool parsePTX(const char* ptx, CUmod_st* mod, std::string* why) {
    std::istringstream lines(ptx);
    std::string line;
    CUfunc_st* fn = nullptr;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string s; words >> s;) w.push_back(s);
        for (size_t i = 0; i + 1 < w.size(); i++) {
            if (w[i] != ".entry") continue;
            std::string name = w[i + 1].substr(0, w[i + 1].find('('));
            auto k = emu_kernels().find(name);
            if (k == emu_kernels().end()) {
                *why = "kernel " + name + " is not in the emulator";
                return false;
            }
            fn = &mod->functions[name];
            fn->name = name;
            fn->kernel = &k->second;
        }
        if (!fn) continue;
        if (!w.empty() && w[0] == ".param") {
            int bytes = w.size() > 1 ? paramBytes(w[1]) : 0;
            if (!bytes) {
                *why = "kernel " + fn->name + ": a parameter of a type the emulator does not pass: " + line;
                return false;
            }
            fn->paramBytes.push_back(bytes);
        } else if (!w.empty() && w[0][0] == ')') {
            fn = nullptr;
        }
    }
    if (mod->functions.empty()) {
        *why = "no kernels in the module";
        return false;
    }
    return true;
}

}  // namespace

CUresult cuInit(unsigned int flags) {
    std::lock_guard<std::mutex> l(mu);
    if (flags) return refuse(CUDA_ERROR_INVALID_VALUE, "cuInit", "flags must be 0");
    initialised = true;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    std::lock_guard<std::mutex> l(mu);
    if (!initialised) return refuse(CUDA_ERROR_NOT_INITIALIZED, "cuDeviceGetCount", "cuInit has not been called");
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
    std::lock_guard<std::mutex> l(mu);
    if (!initialised) return refuse(CUDA_ERROR_NOT_INITIALIZED, "cuDeviceGetName", "cuInit has not been called");
    if (dev != 0) return refuse(CUDA_ERROR_INVALID_DEVICE, "cuDeviceGetName", "no such device");
    snprintf(name, len, "emulated device (CPU) behind the CUDA driver API");
    return CUDA_SUCCESS;
}

CUresult cuCtxCreate(CUcontext* pctx, unsigned int, CUdevice dev) {
    std::lock_guard<std::mutex> l(mu);
    if (!initialised) return refuse(CUDA_ERROR_NOT_INITIALIZED, "cuCtxCreate", "cuInit has not been called");
    if (dev != 0) return refuse(CUDA_ERROR_INVALID_DEVICE, "cuCtxCreate", "no such device");
    *pctx = new CUctx_st;
    contexts.insert(*pctx);
    current = *pctx;  // as the driver does: the new context is current on this thread
    return CUDA_SUCCESS;
}

CUresult cuCtxDestroy(CUcontext ctx) {
    std::lock_guard<std::mutex> l(mu);
    if (!contexts.count(ctx)) return refuse(CUDA_ERROR_INVALID_CONTEXT, "cuCtxDestroy", "not a context");
    for (CUdeviceptr p : ctx->allocations) {
        free(reinterpret_cast<void*>(p));
        allocations.erase(p);
    }
    contexts.erase(ctx);
    delete ctx;
    if (current == ctx) current = nullptr;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
    std::lock_guard<std::mutex> l(mu);
    if (ctx && !contexts.count(ctx)) return refuse(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent", "not a context");
    current = ctx;
    return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize() {
    std::lock_guard<std::mutex> l(mu);
    return ready("cuCtxSynchronize");  // launches finish before they return
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuModuleLoadData")) return r;
    auto* mod = new CUmod_st;
    std::string why;
    if (!parsePTX(static_cast<const char*>(image), mod, &why)) {
        delete mod;
        return refuse(CUDA_ERROR_INVALID_PTX, "cuModuleLoadData", why);
    }
    *module = mod;
    return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction* fn, CUmodule mod, const char* name) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuModuleGetFunction")) return r;
    if (!mod) return refuse(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction", "no module");
    auto it = mod->functions.find(name);
    if (it == mod->functions.end()) return refuse(CUDA_ERROR_NOT_FOUND, "cuModuleGetFunction", name);
    *fn = &it->second;
    return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr* p, size_t bytes) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuMemAlloc")) return r;
    if (bytes == 0) return refuse(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc", "0 bytes");
    // Aligned as the driver's allocations are, and all ones bits (NaN as
    // a float) as the emulator's: a read before a write shows.
    void* m = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!m) return refuse(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc", "out of memory");
    memset(m, skipKernels() ? 0 : 0xff, bytes);
    *p = reinterpret_cast<CUdeviceptr>(m);
    allocations[*p] = Allocation{bytes, current};
    current->allocations.insert(*p);
    return CUDA_SUCCESS;
}

CUresult cuMemFree(CUdeviceptr p) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuMemFree")) return r;
    auto it = allocations.find(p);
    if (it == allocations.end() || it->second.ctx != current)
        return refuse(CUDA_ERROR_INVALID_VALUE, "cuMemFree", "not an allocation of the current context");
    current->allocations.erase(p);
    allocations.erase(it);
    free(reinterpret_cast<void*>(p));
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void* src, size_t bytes) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuMemcpyHtoD")) return r;
    if (CUresult r = within("cuMemcpyHtoD", dst, bytes, 1)) return r;
    memcpy(reinterpret_cast<void*>(dst), src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH(void* dst, CUdeviceptr src, size_t bytes) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuMemcpyDtoH")) return r;
    if (CUresult r = within("cuMemcpyDtoH", src, bytes, 1)) return r;
    memcpy(dst, reinterpret_cast<const void*>(src), bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemsetD32(CUdeviceptr dst, unsigned int value, size_t words) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuMemsetD32")) return r;
    if (CUresult r = within("cuMemsetD32", dst, 4 * words, 4)) return r;
    if (skipKernels()) return CUDA_SUCCESS;  // device work too
    auto* p = reinterpret_cast<unsigned int*>(dst);
    for (size_t i = 0; i < words; i++) p[i] = value;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int sharedMemBytes, CUstream stream,
                        void** params, void** extra) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuLaunchKernel")) return r;
    if (!fn) return refuse(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel", "no function");
    // The limits of compute capability 8.0 and later.
    const unsigned long long threads = (unsigned long long)bx * by * bz;
    if (!gx || !gy || !gz || !bx || !by || !bz || gy > 65535 || gz > 65535 || bz > 64 || threads > 1024)
        return refuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel", fn->name + ": a launch shape no GPU takes");
    if (sharedMemBytes) return refuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel", "the kernels take no dynamic shared memory");
    if (stream) return refuse(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel", "only the default stream is emulated");
    if (extra) return refuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel", "arguments in extra are not emulated");
    if (!fn->paramBytes.empty() && !params) return refuse(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel", fn->name + ": no arguments");
    // Each argument read at its declared size into the low bytes of the
    // emulator's 64-bit slot, as the driver copies it into the kernel's
    // parameter space.
    std::vector<uint64_t> slots(fn->paramBytes.size(), 0);
    for (size_t i = 0; i < slots.size(); i++) memcpy(&slots[i], params[i], fn->paramBytes[i]);
    if (skipKernels()) return CUDA_SUCCESS;
    emu_kernel_name = fn->name.c_str();
    const EmuKernel& k = *fn->kernel;
    emu_run(dim3{gx, gy, gz}, dim3{bx, by, bz}, [&] { k(slots.data()); });
    return CUDA_SUCCESS;
}
