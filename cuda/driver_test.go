//go:build gpu && !emu

package cuda

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"gorgonia.org/cu"
)

// TestEmulatedDriverRefuses: the emulated driver (cuda/emudriver, which
// make gpu-check-emu loads in place of NVIDIA's libcuda) refuses what the
// driver refuses, so that the GPU build's binaries, run on it, meet the
// driver's rules before they meet a GPU; and it takes what is allowed.
// On a GPU there is nothing to check.
func TestEmulatedDriverRefuses(t *testing.T) {
	if !strings.Contains(testDevice.Name(), "emulated") {
		t.Skipf("%s: a GPU's own driver", testDevice.Name())
	}
	dr := testDevice.b.(*driver)
	p, err := dr.alloc(64)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.free(p)
	buf := make([]byte, 128)
	host := unsafe.Pointer(&buf[0])
	noContext := func(f func() error) func() error {
		return func() error {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := cu.SetCurrentContext(cu.CUContext{}); err != nil {
				t.Fatal(err)
			}
			return f()
		}
	}
	// graph builds a graph of first and launches it, with its first node
	// then set to each of then (kernel nodes) or rebuilt with them (memsets).
	graph := func(first node, then ...node) error {
		g, err := dr.newGraph([]node{first})
		if err != nil {
			return err
		}
		defer g.destroy()
		for _, n := range then {
			if n.kernel == "" {
				h, err := dr.newGraph([]node{n})
				if err != nil {
					return err
				}
				h.destroy()
			} else if err := g.set(0, n); err != nil {
				return err
			}
		}
		return g.launch()
	}
	tanh := node{kernel: "tanh_fwd", grid: grid1(16), block: block1, args: []uint64{16, uint64(p), uint64(p)}}
	tanhAgain := tanh
	tanhAgain.args = []uint64{8, uint64(p), uint64(p)}
	zeroAll := node{p: p, words: 16}
	otherFunction := node{kernel: "tanh_bwd", grid: tanh.grid, block: tanh.block, args: []uint64{16, uint64(p), uint64(p), uint64(p)}}
	for _, c := range []struct {
		name    string
		call    func() error
		refused bool
	}{
		{"a copy to the whole allocation", func() error { return dr.toDevice(p, host, 64) }, false},
		{"a copy from its end", func() error { return dr.toHost(host, p+56, 8) }, false},
		{"a set of all its words", func() error { return dr.zero(p, 16) }, false},
		{"a copy past its end", func() error { return dr.toDevice(p, host, 65) }, true},
		{"a copy from past its end", func() error { return dr.toHost(host, p+8, 60) }, true},
		{"a copy from no allocation", func() error { return dr.toHost(host, ptr(8), 4) }, true},
		{"a set past its end", func() error { return dr.zero(p, 17) }, true},
		{"a misaligned set", func() error { return dr.zero(p+2, 1) }, true},
		{"an empty allocation", func() error { _, err := dr.alloc(0); return err }, true},
		{"an allocation without a current context", noContext(func() error {
			q, err := cu.MemAlloc(4)
			if err == nil {
				cu.MemFree(q)
			}
			return err
		}), true},
		{"a copy without a current context", noContext(func() error {
			return cu.MemcpyHtoD(cu.DevicePtr(p), host, 4)
		}), true},
		{"a graph set and launched", func() error { return graph(tanh, zeroAll, tanhAgain) }, false},
		{"a graph's memset past the end", func() error { return graph(tanh, node{p: p, words: 17}) }, true},
		{"a graph's kernel node given another function", func() error { return graph(tanh, otherFunction) }, true},
	} {
		err := c.call()
		if c.refused && err == nil {
			t.Errorf("%s: taken", c.name)
		}
		if !c.refused && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The graph calls' errors come named, as the driver names them.
	if err := graph(tanh, otherFunction); err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_INVALID_VALUE") {
		t.Errorf("a refused graph update: %v, want CUDA_ERROR_INVALID_VALUE named", err)
	}
}
