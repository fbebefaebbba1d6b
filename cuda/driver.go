//go:build gpu && !emu

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// Emulated reports whether kernels run on the CPU emulation rather than a GPU.
const Emulated = false

// driver is a GPU through the CUDA driver API.
type driver struct {
	ctx   cu.CUContext
	dev   cu.Device
	funcs map[string]cu.Function
}

// Open opens GPU number n and loads the kernels.
func Open(n int) (*Device, error) {
	count, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("counting GPUs: %w", err)
	}
	if n < 0 || n >= count {
		return nil, fmt.Errorf("no GPU cuda:%d: this machine has %d", n, count)
	}
	dr := &driver{dev: cu.Device(n), funcs: map[string]cu.Function{}}
	if dr.ctx, err = dr.dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("creating a CUDA context on cuda:%d: %w", n, err)
	}
	err = dr.do(func() error {
		mods, err := ptxModules()
		if err != nil {
			return err
		}
		for _, m := range mods {
			mod, err := cu.LoadData(m.src)
			if err != nil {
				return fmt.Errorf("loading kernels %s: %w", m.name, err)
			}
			for name := range m.kernels {
				fn, err := mod.Function(name)
				if err != nil {
					return fmt.Errorf("kernel %s: %w", name, err)
				}
				dr.funcs[name] = fn
			}
		}
		return nil
	})
	if err != nil {
		dr.ctx.Destroy()
		return nil, err
	}
	d := &Device{b: dr, Graphs: true}
	if err := graphAPI(); err != nil {
		d.Graphs, d.GraphsOff = false, err.Error()
	}
	return d, nil
}

// do runs f with the context current on a locked OS thread: the driver
// keeps the current context per thread, and goroutines move between threads.
func (dr *driver) do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(dr.ctx); err != nil {
		return err
	}
	return f()
}

func (dr *driver) alloc(bytes int) (p ptr, err error) {
	err = dr.do(func() error {
		d, err := cu.MemAlloc(int64(bytes))
		p = ptr(d)
		return err
	})
	return p, err
}

func (dr *driver) free(p ptr) { dr.do(func() error { return cu.MemFree(cu.DevicePtr(p)) }) }

func (dr *driver) toDevice(dst ptr, src unsafe.Pointer, bytes int) error {
	return dr.do(func() error { return cu.MemcpyHtoD(cu.DevicePtr(dst), src, int64(bytes)) })
}

func (dr *driver) toHost(dst unsafe.Pointer, src ptr, bytes int) error {
	return dr.do(func() error { return cu.MemcpyDtoH(dst, cu.DevicePtr(src), int64(bytes)) })
}

func (dr *driver) zero(p ptr, words int) error {
	return dr.do(func() error { return cu.MemsetD32(cu.DevicePtr(p), 0, int64(words)) })
}

func (dr *driver) launch(kernel string, grid, block [3]int, args []uint64) error {
	fn, ok := dr.funcs[kernel]
	if !ok {
		return fmt.Errorf("no kernel %q in the embedded PTX", kernel)
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	return dr.do(func() error {
		return fn.Launch(grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, cu.Stream{}, params)
	})
}

func (dr *driver) sync() error { return dr.do(cu.Synchronize) }

func (dr *driver) name() string {
	n, err := dr.dev.Name()
	if err != nil {
		return fmt.Sprintf("cuda:%d", int(dr.dev))
	}
	return n
}

func (dr *driver) close() error { return dr.ctx.Destroy() }
