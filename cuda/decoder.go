//go:build gpu

package cuda

import (
	"fmt"
	"unsafe"
)

// Weights are a model's parameters on the device, flat in Layout order, for
// decoding.
type Weights struct {
	d      *Device
	s      Shape
	w      Buffer
	offset map[string]int
	dims   map[string]Tensor
}

// UploadWeights copies a model's parameters (flat in Layout order) to the device.
func UploadWeights(d *Device, s Shape, flat []float32) (*Weights, error) {
	ws := &Weights{d: d, s: s, offset: map[string]int{}, dims: map[string]Tensor{}}
	size := 0
	for _, t := range Layout(s) {
		ws.offset[t.Name], ws.dims[t.Name] = size, t
		size += t.Rows * t.Cols
	}
	if len(flat) != size {
		return nil, fmt.Errorf("%d values for %d parameters", len(flat), size)
	}
	var err error
	if ws.w, err = d.alloc(size); err != nil {
		return nil, err
	}
	if err := d.upload(ws.w, 0, flat); err != nil {
		d.release(ws.w)
		return nil, err
	}
	return ws, nil
}

// Close frees the device copy.
func (ws *Weights) Close() { ws.d.release(ws.w) }

func (ws *Weights) wp(name string) ptr { return ws.w.p.at(ws.offset[name]) }

func (ws *Weights) wm(name string) mat {
	t, ok := ws.dims[name]
	if !ok {
		panic("cuda: no parameter " + name) // a programming error
	}
	return mat{p: ws.wp(name), rows: t.Rows, cols: t.Cols, stride: t.Cols}
}

// Decoder is the decoder's state for B poems decoded together on the
// device: one step at a time, the caller choosing each next character
// (sampling, constraints and beam search stay on the host).
type Decoder struct {
	ws            *Weights
	B             int
	ids           Buffer // int32, B: the previous characters, or Reorder's rows
	x, pre, zIn   Buffer
	h, c          [2]Buffer // ping-pong: a step reads one and writes the other
	cur           int
	started       bool // c holds a cell state (the first step has none)
	logits        Buffer
	host          []float32
	spare, spare4 Buffer // Reorder's gather targets
	z, spareZ     Buffer // the codes (a VAE's), which every step reads again with Shape.CodeToOutput
	targets, nll  Buffer // StepNLL's: int32 and float32, B each
	hostNLL       []float32
	mem           memory // every buffer, for Close
}

// NewDecoder starts decoding B poems from their latent codes (B × Latent;
// ignored by a language model).
func (ws *Weights) NewDecoder(z []float32, B int) (*Decoder, error) {
	d, s := ws.d, ws.s
	E, H, Z, V := s.Embed, s.DecHidden, s.Latent, s.Vocab
	if !s.LM && len(z) != B*Z {
		return nil, fmt.Errorf("%d latent values for %d poems of %d", len(z), B, Z)
	}
	dec := &Decoder{ws: ws, B: B, host: make([]float32, B*V), hostNLL: make([]float32, B), mem: memory{d: d}}
	buf := dec.mem.alloc
	dec.ids, dec.x, dec.pre, dec.zIn = buf(B), buf(B*E), buf(B*4*H), buf(B*4*H)
	dec.h[0], dec.h[1], dec.c[0], dec.c[1] = buf(B*H), buf(B*H), buf(B*H), buf(B*H)
	dec.logits, dec.spare, dec.spare4 = buf(B*V), buf(B*H), buf(B*4*H)
	dec.targets, dec.nll = buf(B), buf(B)
	if err := dec.mem.err; err != nil {
		dec.Close()
		return nil, err
	}
	zIn := m(dec.zIn, 0, B, 4*H)
	if s.LM { // bias only; zero initial state
		d.zero(dec.zIn)
		d.addBias(zIn, ws.wp("dec.b"))
		d.zero(dec.h[0])
	} else {
		dec.z = buf(B * Z)
		if s.CodeToOutput {
			dec.spareZ = buf(B * Z)
		}
		if err := dec.mem.err; err != nil {
			dec.Close()
			return nil, err
		}
		if err := d.upload(dec.z, 0, z); err != nil {
			dec.Close()
			return nil, err
		}
		zm := m(dec.z, 0, B, Z)
		d.gemmBias(zm, ws.wm("dec.Wz"), ws.wp("dec.b"), 0, zIn)
		d.gemmBias(zm, ws.wm("dec_init.W"), ws.wp("dec_init.b"), 0, m(dec.h[0], 0, B, H))
		d.tanhFwd(B*H, dec.h[0].p, dec.h[0].p)
	}
	if err := d.sync(); err != nil {
		dec.Close()
		return nil, err
	}
	return dec, nil
}

// Step feeds the previous character of each poem and returns the logits of
// the next (B × Vocab), valid until the next call.
func (dec *Decoder) Step(prev []int32) ([]float32, error) {
	if err := dec.advance(prev); err != nil {
		return nil, err
	}
	if err := dec.ws.d.download(dec.host, dec.logits, 0); err != nil {
		return nil, err
	}
	return dec.host, nil
}

// StepNLL feeds the previous character of each poem, as Step does, and
// returns −log p(targets[b]) of each poem b at this step (B values, valid
// until the next call) instead of the logits: the softmax is taken on the
// device, so that teacher-forced likelihoods (poetvae eval) copy back B
// numbers a step rather than B × Vocab.
func (dec *Decoder) StepNLL(prev, targets []int32) ([]float32, error) {
	B, V := dec.B, dec.ws.s.Vocab
	if err := checkIDs(targets, B, V); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	if err := dec.advance(prev); err != nil {
		return nil, err
	}
	d := dec.ws.d
	if err := d.uploadInts(dec.targets, targets); err != nil {
		return nil, err
	}
	// xent weighs row r by 1/count when r % B < count: with B and count 1,
	// every row by 1. (It leaves the gradient in the logits, which the next
	// step overwrites.)
	d.xent(B, V, 1, 1, dec.targets.p, dec.logits.p, dec.nll.p)
	if err := d.download(dec.hostNLL, dec.nll, 0); err != nil {
		return nil, err
	}
	return dec.hostNLL, nil
}

// checkIDs checks that ids holds one character id of a vocabulary of V for
// each of B poems.
func checkIDs(ids []int32, B, V int) error {
	if len(ids) != B {
		return fmt.Errorf("%d characters for %d poems", len(ids), B)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= V {
			return fmt.Errorf("character id %d outside the vocabulary of %d", id, V)
		}
	}
	return nil
}

// advance runs one step of the decoder on the previous characters, leaving
// the next characters' logits in dec.logits.
func (dec *Decoder) advance(prev []int32) error {
	ws, B := dec.ws, dec.B
	d, s := ws.d, ws.s
	E, H, V := s.Embed, s.DecHidden, s.Vocab
	if err := checkIDs(prev, B, V); err != nil {
		return err
	}
	if err := d.b.toDevice(dec.ids.p, unsafe.Pointer(&prev[0]), 4*B); err != nil {
		return err
	}
	d.gather(B, E, dec.ids.p, ws.wp("embed"), dec.x.p)
	pre := m(dec.pre, 0, B, 4*H)
	d.gemm(m(dec.x, 0, B, E), ws.wm("dec.Wx"), 0, pre)
	next := 1 - dec.cur
	step := lstmStep{pre: pre.p, extra: dec.zIn.p, c: dec.c[next].p, h: dec.h[next].p}
	// A language model's first step has no state to carry (h = 0); a
	// VAE's starts from tanh(z·W + b).
	if dec.started || !s.LM {
		step.hprev, step.Wh = dec.h[dec.cur].p, ws.wp("dec.Wh")
	}
	if dec.started {
		step.cprev = dec.c[dec.cur].p
	}
	d.lstmFwd(B, H, step)
	dec.cur, dec.started = next, true
	logits := m(dec.logits, 0, B, V)
	d.gemmBias(m(dec.h[next], 0, B, H), ws.wm("out.W"), ws.wp("out.b"), 0, logits)
	if s.CodeToOutput && !s.LM {
		d.gemm(m(dec.z, 0, B, s.Latent), ws.wm("out.Wz"), 1, logits)
	}
	return nil
}

// Reorder makes row j of the state a copy of row src[j] (beam search).
func (dec *Decoder) Reorder(src []int32) error {
	ws, B := dec.ws, dec.B
	d, H := ws.d, ws.s.DecHidden
	if len(src) != B {
		return fmt.Errorf("%d rows for %d poems", len(src), B)
	}
	for _, r := range src {
		if r < 0 || int(r) >= B {
			return fmt.Errorf("row %d outside the %d poems", r, B)
		}
	}
	if err := d.b.toDevice(dec.ids.p, unsafe.Pointer(&src[0]), 4*B); err != nil {
		return err
	}
	for _, b := range []*Buffer{&dec.h[dec.cur], &dec.c[dec.cur]} {
		d.gather(B, H, dec.ids.p, b.p, dec.spare.p)
		*b, dec.spare = dec.spare, *b
	}
	d.gather(B, 4*H, dec.ids.p, dec.zIn.p, dec.spare4.p)
	dec.zIn, dec.spare4 = dec.spare4, dec.zIn
	if ws.s.CodeToOutput && !ws.s.LM {
		d.gather(B, ws.s.Latent, dec.ids.p, dec.z.p, dec.spareZ.p)
		dec.z, dec.spareZ = dec.spareZ, dec.z
	}
	return d.sync()
}

// Close frees the decoder's buffers.
func (dec *Decoder) Close() { dec.mem.free() }
