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
// as the driver does. Graphs (cuGraph*) are built, instantiated, updated
// and launched as the driver does, each node's arguments copied when it
// is added or set, and the nodes run in an order their dependencies allow
// but their adding does not suggest. A refusal returns the driver's error code and says
// why on stderr. Only the functions poetvae calls are here: a binary that
// calls another stops with the dynamic linker's "undefined symbol".
#include <cuda.h>

#include <memory>
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

namespace {

// kernelArgs checks a launch (or a kernel node) as the driver does and reads
// each argument at its declared size into the low bytes of the
// emulator's 64-bit slot, as the driver copies it into the kernel's
// parameter space.
CUresult kernelArgs(const char* call, CUfunction fn, dim3 grid, dim3 block, unsigned sharedMemBytes,
                    void** params, void** extra, std::vector<uint64_t>* slots) {
    if (!fn) return refuse(CUDA_ERROR_INVALID_HANDLE, call, "no function");
    // The limits of compute capability 8.0 and later.
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z || grid.y > 65535 || grid.z > 65535 ||
        block.z > 64 || threads > 1024)
        return refuse(CUDA_ERROR_INVALID_VALUE, call, fn->name + ": a launch shape no GPU takes");
    if (sharedMemBytes) return refuse(CUDA_ERROR_INVALID_VALUE, call, "the kernels take no dynamic shared memory");
    if (extra) return refuse(CUDA_ERROR_INVALID_VALUE, call, "arguments in extra are not emulated");
    if (!fn->paramBytes.empty() && !params) return refuse(CUDA_ERROR_INVALID_VALUE, call, fn->name + ": no arguments");
    slots->assign(fn->paramBytes.size(), 0);
    for (size_t i = 0; i < slots->size(); i++) memcpy(&(*slots)[i], params[i], fn->paramBytes[i]);
    return CUDA_SUCCESS;
}

void runKernel(CUfunction fn, dim3 grid, dim3 block, const std::vector<uint64_t>& slots) {
    if (skipKernels()) return;
    emu_kernel_name = fn->name.c_str();
    const EmuKernel& k = *fn->kernel;
    emu_run(grid, block, [&] { k(slots.data()); });
}

}  // namespace

CUresult cuLaunchKernel(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int sharedMemBytes, CUstream stream,
                        void** params, void** extra) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuLaunchKernel")) return r;
    if (stream) return refuse(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel", "only the default stream is emulated");
    std::vector<uint64_t> slots;
    const dim3 grid{gx, gy, gz}, block{bx, by, bz};
    if (CUresult r = kernelArgs("cuLaunchKernel", fn, grid, block, sharedMemBytes, params, extra, &slots)) return r;
    runKernel(fn, grid, block, slots);
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext* ctx) {
    std::lock_guard<std::mutex> l(mu);
    if (!initialised) return refuse(CUDA_ERROR_NOT_INITIALIZED, "cuCtxGetCurrent", "cuInit has not been called");
    *ctx = current;
    return CUDA_SUCCESS;
}

// Graphs: nodes with their parameters copied when added, as the driver
// copies them; an instantiated graph copies them again, in the order its
// dependencies allow, and is what cuGraphExecKernelNodeSetParams updates.

struct CUgraphNode_st {
    bool memset;
    CUdeviceptr dst;  // a memset's
    size_t words;
    CUfunction fn;  // a kernel's
    dim3 grid, block;
    std::vector<uint64_t> slots;
    std::vector<CUgraphNode> deps;
};

struct CUgraph_st {
    CUcontext ctx;
    std::vector<std::unique_ptr<CUgraphNode_st>> nodes;
};

struct CUgraphExec_st {
    CUcontext ctx;
    std::vector<CUgraphNode_st> run;      // copies, in the order they run
    std::map<CUgraphNode, size_t> index;  // the graph's node to its copy
};

namespace {

std::set<CUgraph> graphs;
std::set<CUgraphExec> execs;

// addNode checks a new node's graph and dependencies and adds it.
CUresult addNode(const char* call, CUgraphNode* out, CUgraph g, const CUgraphNode* deps, size_t ndeps,
                 CUgraphNode_st node) {
    if (!graphs.count(g)) return refuse(CUDA_ERROR_INVALID_VALUE, call, "not a graph");
    if (g->ctx != current) return refuse(CUDA_ERROR_INVALID_CONTEXT, call, "a graph of another context");
    for (size_t i = 0; i < ndeps; i++) {
        bool found = false;
        for (auto& n : g->nodes) found = found || n.get() == deps[i];
        if (!found) return refuse(CUDA_ERROR_INVALID_VALUE, call, "a dependency outside the graph");
        node.deps.push_back(deps[i]);
    }
    g->nodes.push_back(std::make_unique<CUgraphNode_st>(std::move(node)));
    *out = g->nodes.back().get();
    return CUDA_SUCCESS;
}

}  // namespace

CUresult cuGraphCreate(CUgraph* g, unsigned int flags) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuGraphCreate")) return r;
    if (flags) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphCreate", "flags must be 0");
    *g = new CUgraph_st{current, {}};
    graphs.insert(*g);
    return CUDA_SUCCESS;
}

CUresult cuGraphAddKernelNode(CUgraphNode* out, CUgraph g, const CUgraphNode* deps, size_t ndeps,
                              const CUDA_KERNEL_NODE_PARAMS_v1* p) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuGraphAddKernelNode")) return r;
    CUgraphNode_st node{};
    node.fn = p->func;
    node.grid = dim3{p->gridDimX, p->gridDimY, p->gridDimZ};
    node.block = dim3{p->blockDimX, p->blockDimY, p->blockDimZ};
    if (CUresult r = kernelArgs("cuGraphAddKernelNode", p->func, node.grid, node.block, p->sharedMemBytes,
                                p->kernelParams, p->extra, &node.slots))
        return r;
    return addNode("cuGraphAddKernelNode", out, g, deps, ndeps, std::move(node));
}

CUresult cuGraphAddMemsetNode(CUgraphNode* out, CUgraph g, const CUgraphNode* deps, size_t ndeps,
                              const CUDA_MEMSET_NODE_PARAMS_v1* p, CUcontext ctx) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuGraphAddMemsetNode")) return r;
    if (ctx != current) return refuse(CUDA_ERROR_INVALID_CONTEXT, "cuGraphAddMemsetNode", "not the current context");
    if (p->elementSize != 4 || p->height != 1 || p->value)
        return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphAddMemsetNode", "only a row of 4-byte zeros is emulated");
    if (CUresult r = within("cuGraphAddMemsetNode", p->dst, 4 * p->width, 4)) return r;
    CUgraphNode_st node{};
    node.memset = true;
    node.dst = p->dst;
    node.words = p->width;
    return addNode("cuGraphAddMemsetNode", out, g, deps, ndeps, std::move(node));
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec* out, CUgraph g, unsigned long long flags) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuGraphInstantiateWithFlags")) return r;
    if (!graphs.count(g)) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiateWithFlags", "not a graph");
    if (flags) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiateWithFlags", "flags are not emulated");
    // A topological order that takes, of the nodes ready to run, the one
    // added last: nodes whose order the dependencies leave open run out of
    // the order they were added in, so that a missing dependency shows.
    auto* e = new CUgraphExec_st{g->ctx, {}, {}};
    std::set<CUgraphNode> done;
    while (e->run.size() < g->nodes.size()) {
        CUgraphNode next = nullptr;
        for (auto& n : g->nodes) {
            if (done.count(n.get())) continue;
            bool ready = true;
            for (CUgraphNode d : n->deps) ready = ready && done.count(d);
            if (ready) next = n.get();
        }
        done.insert(next);  // a graph built by adding nodes has no cycles
        e->index[next] = e->run.size();
        e->run.push_back(*next);
    }
    execs.insert(e);
    *out = e;
    return CUDA_SUCCESS;
}

CUresult cuGraphExecKernelNodeSetParams(CUgraphExec e, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v1* p) {
    const char* call = "cuGraphExecKernelNodeSetParams";
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready(call)) return r;
    if (!execs.count(e)) return refuse(CUDA_ERROR_INVALID_VALUE, call, "not an instantiated graph");
    auto it = e->index.find(node);
    if (it == e->index.end()) return refuse(CUDA_ERROR_INVALID_VALUE, call, "a node of another graph");
    CUgraphNode_st& n = e->run[it->second];
    if (n.memset) return refuse(CUDA_ERROR_INVALID_VALUE, call, "not a kernel node");
    if (p->func != n.fn) return refuse(CUDA_ERROR_INVALID_VALUE, call, "the node's function cannot change");
    const dim3 grid{p->gridDimX, p->gridDimY, p->gridDimZ}, block{p->blockDimX, p->blockDimY, p->blockDimZ};
    std::vector<uint64_t> slots;
    if (CUresult r = kernelArgs(call, p->func, grid, block, p->sharedMemBytes, p->kernelParams, p->extra, &slots))
        return r;
    n.grid = grid;
    n.block = block;
    n.slots = std::move(slots);
    return CUDA_SUCCESS;
}

CUresult cuGraphLaunch(CUgraphExec e, CUstream stream) {
    std::lock_guard<std::mutex> l(mu);
    if (CUresult r = ready("cuGraphLaunch")) return r;
    if (!execs.count(e)) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphLaunch", "not an instantiated graph");
    if (e->ctx != current) return refuse(CUDA_ERROR_INVALID_CONTEXT, "cuGraphLaunch", "a graph of another context");
    if (stream) return refuse(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch", "only the default stream is emulated");
    for (const CUgraphNode_st& n : e->run) {
        if (!n.memset) {
            runKernel(n.fn, n.grid, n.block, n.slots);
            continue;
        }
        // The memory may have been freed since the node was added.
        if (CUresult r = within("cuGraphLaunch", n.dst, 4 * n.words, 4)) return r;
        if (!skipKernels()) memset(reinterpret_cast<void*>(n.dst), 0, 4 * n.words);
    }
    return CUDA_SUCCESS;
}

CUresult cuGraphExecDestroy(CUgraphExec e) {
    std::lock_guard<std::mutex> l(mu);
    if (!execs.erase(e)) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphExecDestroy", "not an instantiated graph");
    delete e;
    return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph g) {
    std::lock_guard<std::mutex> l(mu);
    if (!graphs.erase(g)) return refuse(CUDA_ERROR_INVALID_VALUE, "cuGraphDestroy", "not a graph");
    delete g;
    return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** name) {
    static const std::map<CUresult, const char*> names = {
        {CUDA_SUCCESS, "CUDA_SUCCESS"},
        {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE"},
        {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY"},
        {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED"},
        {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE"},
        {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX"},
        {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT"},
        {CUDA_ERROR_CONTEXT_IS_DESTROYED, "CUDA_ERROR_CONTEXT_IS_DESTROYED"},
        {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE"},
        {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND"},
    };
    auto it = names.find(error);
    if (it == names.end()) {
        *name = nullptr;
        return CUDA_ERROR_INVALID_VALUE;
    }
    *name = it->second;
    return CUDA_SUCCESS;
}
