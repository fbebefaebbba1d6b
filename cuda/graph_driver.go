//go:build gpu && !emu

package cuda

// // gorgonia.org/cu has no graph instantiation or launch, and its kernel
// // nodes drop their arguments, so the graph calls are made here. They are
// // looked up in the loaded driver library at the first graph rather than
// // linked: a driver without one of them (graphs came with CUDA 10, these
// // forms of them with 11.4) would otherwise stop the program at start-up,
// // where it can train without graphs. The calls and structures are the
// // first versions (CUDA_KERNEL_NODE_PARAMS_v1), which drivers keep for
// // programs built with older toolkits.
//
// #cgo CFLAGS: -Wno-deprecated-declarations
// #cgo LDFLAGS: -ldl
// #include <cuda.h>
// #include <dlfcn.h>
// #include <stdint.h>
//
// static struct {
//     CUresult (*ctxGetCurrent)(CUcontext*);
//     CUresult (*create)(CUgraph*, unsigned int);
//     CUresult (*addKernel)(CUgraphNode*, CUgraph, const CUgraphNode*, size_t, const CUDA_KERNEL_NODE_PARAMS_v1*);
//     CUresult (*addMemset)(CUgraphNode*, CUgraph, const CUgraphNode*, size_t, const CUDA_MEMSET_NODE_PARAMS_v1*, CUcontext);
//     CUresult (*instantiate)(CUgraphExec*, CUgraph, unsigned long long);
//     CUresult (*setKernel)(CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS_v1*);
//     CUresult (*launch)(CUgraphExec, CUstream);
//     CUresult (*destroyExec)(CUgraphExec);
//     CUresult (*destroy)(CUgraph);
// } graphAPI;
//
// // graph_api_load finds the calls; it returns the name of the first
// // missing one, or NULL.
// static const char* graph_api_load(void) {
// #define FIND(field, name) if (!(*(void**)&graphAPI.field = dlsym(RTLD_DEFAULT, name))) return name;
//     FIND(ctxGetCurrent, "cuCtxGetCurrent")
//     FIND(create, "cuGraphCreate")
//     FIND(addKernel, "cuGraphAddKernelNode")
//     FIND(addMemset, "cuGraphAddMemsetNode")
//     FIND(instantiate, "cuGraphInstantiateWithFlags")
//     FIND(setKernel, "cuGraphExecKernelNodeSetParams")
//     FIND(launch, "cuGraphLaunch")
//     FIND(destroyExec, "cuGraphExecDestroy")
//     FIND(destroy, "cuGraphDestroy")
// #undef FIND
//     return NULL;
// }
//
// // kernel_params fills a kernel node's parameters; the driver reads the
// // arguments (each in the low bytes of its slot) when the node is added or
// // set, so that params need live only through that call.
// static CUDA_KERNEL_NODE_PARAMS_v1 kernel_params(void* fn, const unsigned* shape, const uint64_t* args, int n, void** params) {
//     for (int i = 0; i < n; i++) params[i] = (void*)&args[i];
//     CUDA_KERNEL_NODE_PARAMS_v1 p = {(CUfunction)fn, shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], 0, params, NULL};
//     return p;
// }
//
// // graph_add_kernel adds a kernel node after prev (none when NULL).
// static CUresult graph_add_kernel(CUgraph g, CUgraphNode prev, CUgraphNode* out, void* fn, const unsigned* shape, const uint64_t* args, int n) {
//     void* params[n > 0 ? n : 1];
//     CUDA_KERNEL_NODE_PARAMS_v1 p = kernel_params(fn, shape, args, n, params);
//     return graphAPI.addKernel(out, g, prev ? &prev : NULL, prev ? 1 : 0, &p);
// }
//
// static CUresult graph_set_kernel(CUgraphExec e, CUgraphNode node, void* fn, const unsigned* shape, const uint64_t* args, int n) {
//     void* params[n > 0 ? n : 1];
//     CUDA_KERNEL_NODE_PARAMS_v1 p = kernel_params(fn, shape, args, n, params);
//     return graphAPI.setKernel(e, node, &p);
// }
//
// // graph_add_zero adds a node setting words 32-bit words at dst to zero.
// static CUresult graph_add_zero(CUgraph g, CUgraphNode prev, CUgraphNode* out, CUdeviceptr dst, size_t words) {
//     CUcontext ctx;
//     CUresult r = graphAPI.ctxGetCurrent(&ctx);
//     if (r != CUDA_SUCCESS) return r;
//     CUDA_MEMSET_NODE_PARAMS_v1 p = {dst, 0, 0, 4, words, 1};
//     return graphAPI.addMemset(out, g, prev ? &prev : NULL, prev ? 1 : 0, &p, ctx);
// }
//
// // error_name names a driver error ("CUDA_ERROR_ILLEGAL_ADDRESS").
// static const char* error_name(CUresult r) {
//     CUresult (*name)(CUresult, const char**);
//     const char* s = NULL;
//     *(void**)&name = dlsym(RTLD_DEFAULT, "cuGetErrorName");
//     if (name) name(r, &s);
//     return s;
// }
//
// static CUresult graph_create(CUgraph* g) { return graphAPI.create(g, 0); }
// static CUresult graph_instantiate(CUgraphExec* e, CUgraph g) { return graphAPI.instantiate(e, g, 0); }
// static CUresult graph_launch(CUgraphExec e) { return graphAPI.launch(e, NULL); }
// static void graph_destroy(CUgraphExec e, CUgraph g) {
//     if (e) graphAPI.destroyExec(e);
//     if (g) graphAPI.destroy(g);
// }
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

// A cu.Function is the driver's CUfunction handle and nothing else; this
// fails to compile if that changes.
var _ = [1]struct{}{}[unsafe.Sizeof(cu.Function{})-unsafe.Sizeof(unsafe.Pointer(nil))]

func handle(fn cu.Function) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&fn)) }

var graphAPI = sync.OnceValue(func() error {
	if missing := C.graph_api_load(); missing != nil {
		return fmt.Errorf("%w: the driver has no %s", errNoGraphs, C.GoString(missing))
	}
	return nil
})

// driverGraph is a linear chain of nodes, each after the one before, as
// the launches were issued.
type driverGraph struct {
	dr    *driver
	graph C.CUgraph
	exec  C.CUgraphExec
	nodes []C.CUgraphNode
}

func driverError(call string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	if name := C.error_name(r); name != nil {
		return fmt.Errorf("%s: %s", call, C.GoString(name))
	}
	return fmt.Errorf("%s: CUDA error %d", call, int(r))
}

// shape is a launch's grid and block as the driver takes them.
func shape(n node) [6]C.uint {
	var s [6]C.uint
	for i := range 3 {
		s[i], s[3+i] = C.uint(n.grid[i]), C.uint(n.block[i])
	}
	return s
}

// kernelCall is the C view of a kernel node: its function, shape and arguments.
func (dr *driver) kernelCall(n node) (fn unsafe.Pointer, s [6]C.uint, args *C.uint64_t, count C.int, err error) {
	f, ok := dr.funcs[n.kernel]
	if !ok {
		return nil, s, nil, 0, fmt.Errorf("no kernel %q in the embedded PTX", n.kernel)
	}
	if len(n.args) > 0 {
		args = (*C.uint64_t)(unsafe.Pointer(&n.args[0]))
	}
	return handle(f), shape(n), args, C.int(len(n.args)), nil
}

func (dr *driver) newGraph(nodes []node) (graphExec, error) {
	if err := graphAPI(); err != nil {
		return nil, err
	}
	g := &driverGraph{dr: dr, nodes: make([]C.CUgraphNode, len(nodes))}
	err := dr.do(func() error {
		if err := driverError("cuGraphCreate", C.graph_create(&g.graph)); err != nil {
			return err
		}
		var prev C.CUgraphNode
		for i, n := range nodes {
			if n.kernel == "" {
				r := C.graph_add_zero(g.graph, prev, &g.nodes[i], C.CUdeviceptr(n.p), C.size_t(n.words))
				if err := driverError("cuGraphAddMemsetNode", r); err != nil {
					return err
				}
			} else {
				fn, s, args, count, err := dr.kernelCall(n)
				if err != nil {
					return err
				}
				r := C.graph_add_kernel(g.graph, prev, &g.nodes[i], fn, &s[0], args, count)
				if err := driverError("cuGraphAddKernelNode "+n.kernel, r); err != nil {
					return err
				}
			}
			prev = g.nodes[i]
		}
		return driverError("cuGraphInstantiateWithFlags", C.graph_instantiate(&g.exec, g.graph))
	})
	if err != nil {
		g.destroy()
		return nil, err
	}
	return g, nil
}

func (g *driverGraph) set(i int, n node) error {
	if n.kernel == "" {
		return fmt.Errorf("node %d: a memset has no arguments to set", i)
	}
	return g.dr.do(func() error {
		fn, s, args, count, err := g.dr.kernelCall(n)
		if err != nil {
			return err
		}
		return driverError("cuGraphExecKernelNodeSetParams "+n.kernel, C.graph_set_kernel(g.exec, g.nodes[i], fn, &s[0], args, count))
	})
}

func (g *driverGraph) launch() error {
	return g.dr.do(func() error { return driverError("cuGraphLaunch", C.graph_launch(g.exec)) })
}

func (g *driverGraph) destroy() {
	g.dr.do(func() error {
		C.graph_destroy(g.exec, g.graph)
		return nil
	})
	g.exec, g.graph = nil, nil
}
