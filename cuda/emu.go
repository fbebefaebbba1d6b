//go:build gpu && emu

package cuda

// #cgo CXXFLAGS: -std=c++17 -O2
// #include <stdint.h>
// #include <stdlib.h>
// #include <string.h>
// int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz,
//                unsigned bx, unsigned by, unsigned bz, const uint64_t* args);
// int emu_kernel_count(void);
// void emu_order_set(int order, uint64_t seed);
//
// // Device addresses cross as integers: the memory is C's, not Go's. New
// // memory is all ones bits, NaN as a float and -1 as an int, where a GPU
// // leaves whatever was there: a buffer read before it is written shows.
// static uintptr_t emu_alloc(size_t n) {
//     void* p = malloc(n ? n : 1);
//     if (p) memset(p, 0xff, n);
//     return (uintptr_t)p;
// }
// static void emu_free(uintptr_t p) { free((void*)p); }
// static void emu_to_device(uintptr_t dst, const void* src, size_t n) { memcpy((void*)dst, src, n); }
// static void emu_to_host(void* dst, uintptr_t src, size_t n) { memcpy(dst, (const void*)src, n); }
// static void emu_zero(uintptr_t p, size_t n) { memset((void*)p, 0, n); }
import "C"

import (
	"embed"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// The kernel sources, embedded so that the build cache sees them: emu.cc
// includes them, and Go hashes only the C files and headers it knows of.
//
//go:embed common.cuh rng.cuh emu_runtime.h gemm.cu layers.cu optim.cu
var emulatedSources embed.FS

// Emulated reports whether kernels run on the CPU emulation rather than a GPU.
const Emulated = true

// emuLock serialises launches: the emulated blocks share static memory.
var emuLock sync.Mutex

// Schedule is an order in which the emulator runs a launch's blocks, and a
// block's threads from one barrier to the next (emu_runtime.h).
type Schedule int

const (
	InOrder  Schedule = iota // blocks and threads by index
	Reversed                 // by index, backwards
	Shuffled                 // a new random order each time, from a fixed seed
)

func (s Schedule) String() string {
	return [...]string{"in order", "reversed", "shuffled"}[s]
}

// SetSchedule sets the order of the launches after it. A GPU keeps no
// order, so the kernels must compute the same in each.
func SetSchedule(s Schedule, seed uint64) {
	emuLock.Lock()
	defer emuLock.Unlock()
	C.emu_order_set(C.int(s), C.uint64_t(seed))
}

// emulator is the device of `-tags 'gpu emu'`: host memory, and kernels
// compiled from the same .cu sources as C++ (emu.cc).
type emulator struct{}

// Open opens the emulated device; the device number is ignored.
func Open(int) (*Device, error) {
	if C.emu_kernel_count() == 0 {
		return nil, errors.New("no kernels registered in the emulator")
	}
	return &Device{b: emulator{}, Graphs: true}, nil
}

func (emulator) alloc(bytes int) (ptr, error) {
	p := C.emu_alloc(C.size_t(bytes))
	if p == 0 {
		return 0, errors.New("out of memory")
	}
	return ptr(p), nil
}

func (emulator) free(p ptr) { C.emu_free(C.uintptr_t(p)) }

func (emulator) toDevice(dst ptr, src unsafe.Pointer, bytes int) error {
	C.emu_to_device(C.uintptr_t(dst), src, C.size_t(bytes))
	return nil
}

func (emulator) toHost(dst unsafe.Pointer, src ptr, bytes int) error {
	C.emu_to_host(dst, C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (emulator) zero(p ptr, words int) error {
	C.emu_zero(C.uintptr_t(p), C.size_t(4*words))
	return nil
}

func (emulator) launch(kernel string, grid, block [3]int, args []uint64) error {
	if err := checkLaunch(grid, block); err != nil {
		return err
	}
	emuLock.Lock()
	defer emuLock.Unlock()
	name := C.CString(kernel)
	defer C.free(unsafe.Pointer(name))
	var argp *C.uint64_t
	if len(args) > 0 {
		argp = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	if C.emu_launch(name, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), argp) != 0 {
		return fmt.Errorf("no kernel %q", kernel)
	}
	return nil
}

// checkLaunch refuses what the driver refuses on the GPUs the PTX is for
// (compute capability 8.0 and later), which the emulator could run: an
// empty grid or block, a block of over 1,024 threads, a grid over the
// hardware's limits.
func checkLaunch(grid, block [3]int) error {
	maxGrid, maxBlock := [3]int{1<<31 - 1, 65535, 65535}, [3]int{1024, 1024, 64}
	for i := range 3 {
		if grid[i] < 1 || grid[i] > maxGrid[i] || block[i] < 1 || block[i] > maxBlock[i] {
			return fmt.Errorf("invalid launch configuration: grid %v, block %v", grid, block)
		}
	}
	if block[0]*block[1]*block[2] > 1024 {
		return fmt.Errorf("invalid launch configuration: block %v has over 1024 threads", block)
	}
	return nil
}

// newGraph keeps the nodes and issues them at each launch: what a graph
// does, with its arguments as the updates left them, so that a node left
// stale by a missed update computes with the old value here too.
func (e emulator) newGraph(nodes []node) (graphExec, error) {
	for _, n := range nodes {
		if n.kernel != "" {
			if err := checkLaunch(n.grid, n.block); err != nil {
				return nil, fmt.Errorf("%s: %w", n.kernel, err)
			}
		}
	}
	return &replayed{nodes: slices.Clone(nodes)}, nil
}

type replayed struct{ nodes []node }

func (g *replayed) set(i int, n node) error {
	if !g.nodes[i].sameShape(n) {
		return fmt.Errorf("node %d is a %s of another shape", i, g.nodes[i].name())
	}
	g.nodes[i].args = slices.Clone(n.args)
	return nil
}

func (g *replayed) launch() error {
	d := Device{b: emulator{}}
	return d.issue(g.nodes)
}

func (g *replayed) destroy() { g.nodes = nil }

func (emulator) sync() error  { return nil }
func (emulator) name() string { return "emulated device (CPU)" }
func (emulator) close() error { return nil }
