//go:build gpu

package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// ptr is an address in device memory.
type ptr uintptr

// at returns the address of element i of a float32 or int32 array at p.
func (p ptr) at(i int) ptr { return p + ptr(4*i) }

// backend is what the engine needs of a device: memory, copies and kernel
// launches by name. Arguments travel as 64-bit slots, each value in the
// low bytes of its slot, as cuLaunchKernel reads them.
type backend interface {
	alloc(bytes int) (ptr, error)
	free(p ptr)
	toDevice(dst ptr, src unsafe.Pointer, bytes int) error
	toHost(dst unsafe.Pointer, src ptr, bytes int) error
	zero(p ptr, words int) error
	launch(kernel string, grid, block [3]int, args []uint64) error
	newGraph(nodes []node) (graphExec, error) // a linear chain of nodes, as recorded
	sync() error
	name() string
	close() error
}

// Device is an open GPU (or the emulated one) with the kernels loaded.
type Device struct {
	// TF32 runs the large matrix products on the tensor cores, rounding
	// their inputs to TF32 (10-bit mantissa, FP32 accumulation): faster, at
	// a relative error near 1e-3 instead of FP32's 1e-6. Off by default.
	TF32 bool

	// Graphs runs each training step as one CUDA graph (graph.go) rather
	// than as some 170 separate launches; on by default. GraphsOff says
	// why it was turned off, where the driver offers no graphs.
	Graphs    bool
	GraphsOff string

	b         backend
	err       error // the first launch error, reported at the next sync
	launches  int
	splitWork Buffer // gemmSplit's slices
	recording bool   // launch and zero append to recorded instead of issuing
	recorded  []node
}

// Launches is the number of kernels launched so far: the benchmark reports
// it per step, as at these sizes launch latency sets much of a step's time.
func (d *Device) Launches() int { return d.launches }

// Close releases the device.
func (d *Device) Close() error {
	d.release(d.splitWork)
	return d.b.close()
}

// Name describes the device, e.g. "NVIDIA H100 80GB HBM3".
func (d *Device) Name() string { return d.b.name() }

// slot packs one kernel argument.
func slot(v any) uint64 {
	switch x := v.(type) {
	case ptr:
		return uint64(x)
	case int:
		if x < math.MinInt32 || x > math.MaxInt32 {
			panic(fmt.Sprintf("cuda: int argument %d overflows a C int", x))
		}
		return uint64(uint32(int32(x)))
	case int64:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	case float32:
		return uint64(math.Float32bits(x))
	case float64:
		return uint64(math.Float32bits(float32(x))) // kernels take float
	}
	panic(fmt.Sprintf("cuda: unsupported kernel argument %T", v)) // a programming error
}

// launch queues a kernel; the first error is kept for the next sync so
// that a step's many launches need no checks between them.
func (d *Device) launch(kernel string, grid, block [3]int, args ...any) {
	if d.err != nil {
		return
	}
	if err := checkArgs(kernel, len(args)); err != nil {
		panic("cuda: " + err.Error()) // a programming error
	}
	d.launches++
	slots := make([]uint64, len(args))
	for i, a := range args {
		slots[i] = slot(a)
	}
	if d.recording {
		d.recorded = append(d.recorded, node{kernel: kernel, grid: grid, block: block, args: slots})
		return
	}
	if err := d.b.launch(kernel, grid, block, slots); err != nil {
		d.err = fmt.Errorf("launching %s: %w", kernel, err)
	}
}

// zero clears a buffer; like launch, an error waits for the next sync.
func (d *Device) zero(b Buffer) {
	if d.err == nil && b.n > 0 && d.recording {
		d.recorded = append(d.recorded, node{p: b.p, words: b.n})
	} else if d.err == nil && b.n > 0 {
		if err := d.b.zero(b.p, b.n); err != nil {
			d.err = fmt.Errorf("clearing device memory: %w", err)
		}
	}
}

// sync waits for the queued work and returns the first error.
func (d *Device) sync() error {
	if d.err != nil {
		err := d.err
		d.err = nil
		return err
	}
	return d.b.sync()
}

// Buffer is a float32 or int32 array in device memory.
type Buffer struct {
	p ptr
	n int // elements
}

// alloc returns a buffer of n 4-byte elements.
func (d *Device) alloc(n int) (Buffer, error) {
	if n == 0 {
		return Buffer{}, nil
	}
	p, err := d.b.alloc(4 * n)
	if err != nil {
		return Buffer{}, fmt.Errorf("allocating %d bytes on the GPU: %w", 4*n, err)
	}
	return Buffer{p: p, n: n}, nil
}

// memory allocates a set of buffers one after another, keeping the first
// error so that a constructor checks once, and frees them together.
type memory struct {
	d    *Device
	bufs []Buffer
	err  error
}

func (mem *memory) alloc(n int) Buffer {
	if mem.err != nil {
		return Buffer{}
	}
	b, err := mem.d.alloc(n)
	if err != nil {
		mem.err = err
		return Buffer{}
	}
	mem.bufs = append(mem.bufs, b)
	return b
}

func (mem *memory) free() {
	for _, b := range mem.bufs {
		mem.d.release(b)
	}
	mem.bufs = nil
}

func (d *Device) release(b Buffer) {
	if b.n > 0 {
		d.b.free(b.p)
	}
}

// upload copies host values into a buffer, from its element at.
func (d *Device) upload(dst Buffer, at int, src []float32) error {
	if at+len(src) > dst.n {
		panic("cuda: upload past the end of a buffer")
	}
	if len(src) == 0 {
		return nil
	}
	return d.b.toDevice(dst.p.at(at), unsafe.Pointer(&src[0]), 4*len(src))
}

func (d *Device) uploadInts(dst Buffer, src []int32) error {
	if len(src) > dst.n {
		panic("cuda: upload past the end of a buffer")
	}
	if len(src) == 0 {
		return nil
	}
	return d.b.toDevice(dst.p, unsafe.Pointer(&src[0]), 4*len(src))
}

// downloadInts copies an int32 buffer's first len(dst) elements into dst.
func (d *Device) downloadInts(dst []int32, src Buffer) error {
	if len(dst) > src.n {
		panic("cuda: download past the end of a buffer")
	}
	if len(dst) == 0 {
		return nil
	}
	if err := d.sync(); err != nil {
		return err
	}
	return d.b.toHost(unsafe.Pointer(&dst[0]), src.p, 4*len(dst))
}

// download copies a buffer's elements from at into dst.
func (d *Device) download(dst []float32, src Buffer, at int) error {
	if at+len(dst) > src.n {
		panic("cuda: download past the end of a buffer")
	}
	if len(dst) == 0 {
		return nil
	}
	if err := d.sync(); err != nil {
		return err
	}
	return d.b.toHost(unsafe.Pointer(&dst[0]), src.p.at(at), 4*len(dst))
}

// MaxRelErr is the error measure of the GPU proofs: max |got − want| over
// max |want| (the difference itself when want is all zero), +Inf when got
// holds a NaN or an infinity, so that an unwritten, poisoned element fails.
func MaxRelErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		if math.IsNaN(got[i]) || math.IsInf(got[i], 0) {
			return math.Inf(1)
		}
		diff = math.Max(diff, math.Abs(got[i]-want[i]))
		scale = math.Max(scale, math.Abs(want[i]))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}
