// Package noise is the counter-based random source of training steps: every
// random number of a step (dropout masks, word dropout, ε) is a hash of the
// run's seed, the step, a stream and the element's index. Nothing is drawn
// in sequence, so a GPU thread computes its own element's number with no
// shared generator, and the CPU and GPU engines draw exactly the same
// numbers: the CUDA kernels in cuda/rng.cuh implement the same hash.
package noise

import "math"

// Source is the random source of one training step.
type Source struct{ key uint64 }

// Streams: one per use, so the uses never share numbers.
const (
	EncDropout  = 0 // encoder input mask, element (t·B + b)·Embed + j
	DecDropout  = 1 // decoder output mask, element (t·B + b)·DecHidden + j
	WordDropout = 2 // decoder input t of poem b, element t·B + b
	Eps         = 3 // ε of poem b, dimension d: element b·Latent + d
)

// New returns the source of training step step (counted from 0).
func New(seed uint64, step int) Source {
	return Source{key: mix64(seed + uint64(step)*0x9e3779b97f4a7c15)}
}

// Key is the step's hash key, the value the GPU kernels are given.
func (n Source) Key() uint64 { return n.key }

// mix64 is the splitmix64 finaliser: a bijection whose every output bit
// depends on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Bits returns the 64 random bits of element i of a stream.
func (n Source) Bits(stream, i int) uint64 {
	return mix64(n.key + uint64(stream)<<40 + uint64(i))
}

// Threshold turns a probability into the 24-bit integer that the uniform
// draws are compared with: an element is dropped when its top 24 bits are
// below it. Integers compare the same on every engine; floats might not.
func Threshold(p float64) uint32 { return uint32(p * (1 << 24)) }

// Dropped reports whether element i of a stream is dropped at rate threshold.
func (n Source) Dropped(stream, i int, threshold uint32) bool {
	return uint32(n.Bits(stream, i)>>40) < threshold
}

// Normal returns a standard normal draw for element i of a stream, by
// Box–Muller on the top and bottom 24 bits of its hash.
func (n Source) Normal(stream, i int) float64 {
	h := n.Bits(stream, i)
	u1 := (float64(h>>40) + 0.5) / (1 << 24) // in (0, 1): the log is finite
	u2 := float64(h&0xffffff) / (1 << 24)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
