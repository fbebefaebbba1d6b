//go:build gpu

package cuda

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"poetvae/model/noise"
)

// Shape is the model's sizes (model.Config without the training settings).
type Shape struct {
	Vocab, Embed, Highway, EncHidden, DecHidden, Latent int
	EncSteps                                            int // characters a poem; the decoder runs one step more
	LM                                                  bool
	// BagSteps are the encoder steps whose characters the bag loss
	// predicts from z (model.Config.BagSteps: every step for the bag of
	// characters, the even lines' last for the rhyme loss); none, no bag.
	BagSteps []int
	// CodeToOutput feeds z to the output layer: every step's logits gain
	// z·out.Wz (model.Config.CodeToOutput).
	CodeToOutput bool
}

// DecSteps is the decoder's steps: the characters and EOS.
func (s Shape) DecSteps() int { return s.EncSteps + 1 }

// Tensor is one parameter in the engine's layout.
type Tensor struct {
	Name       string
	Rows, Cols int
}

// Layout lists the parameters in the engine's order, as they lie in its one
// flat buffer. Each LSTM's weights join its four gates side by side (rows ×
// 4H, gates i f g o), so that a step is one product; other names and shapes
// are model.Params's.
func Layout(s Shape) []Tensor {
	var ts []Tensor
	add := func(name string, r, c int) { ts = append(ts, Tensor{name, r, c}) }
	E, He, Hd, Z, V := s.Embed, s.EncHidden, s.DecHidden, s.Latent, s.Vocab
	add("embed", V, E)
	if !s.LM {
		for l := 0; l < s.Highway; l++ {
			p := fmt.Sprintf("highway%d.", l)
			add(p+"W", E, E)
			add(p+"b", 1, E)
			add(p+"Wgate", E, E)
			add(p+"bgate", 1, E)
		}
		for _, dir := range []string{"enc_fwd.", "enc_bwd."} {
			add(dir+"Wx", E, 4*He)
			add(dir+"Wh", He, 4*He)
			add(dir+"b", 1, 4*He)
		}
		for _, out := range []string{"mu.", "logvar."} {
			add(out+"Wf", He, Z)
			add(out+"Wb", He, Z)
			add(out+"b", 1, Z)
		}
		add("dec_init.W", Z, Hd)
		add("dec_init.b", 1, Hd)
		add("dec.Wz", Z, 4*Hd)
	}
	add("dec.Wx", E, 4*Hd)
	add("dec.Wh", Hd, 4*Hd)
	add("dec.b", 1, 4*Hd)
	add("out.W", Hd, V)
	add("out.b", 1, V)
	if s.CodeToOutput && !s.LM {
		add("out.Wz", Z, V)
	}
	if len(s.BagSteps) > 0 && !s.LM {
		add("bow.W", Z, V)
		add("bow.b", 1, V)
	}
	return ts
}

// StepParams are the settings of one training step.
type StepParams struct {
	Noise       noise.Source
	Rows        int     // real poems in the batch; the rest are padding
	Dropout     float64 // encoder input and decoder output
	WordDropout float64
	Beta        float64
	FreeBits    float64
	Clip        float64 // maximum gradient norm; 0 turns clipping off
	LR          float64
	Step        int // the optimiser's step count after this step, from 1
}

// Stats are a step's figures, per poem, and the gradient norm before clipping.
type Stats struct {
	Loss, NLL, KL, Bag, GradNorm float64
}

// Trainer runs training steps for batches of B poems on a device. It holds
// the parameters, their gradients and Adam's moments in device memory, each
// in one flat buffer in Layout order, and every activation the backward
// pass needs, all allocated once.
type Trainer struct {
	d      *Device
	s      Shape
	B      int
	layout []Tensor
	offset map[string]int
	size   int // scalars in the flat buffers

	w, g, adamM, adamV Buffer
	ids                Buffer // int32: encoder ids, decoder inputs, targets, time-major
	partial, scalars   Buffer
	colParts           Buffer    // the chunks' sums of colSum
	mem                memory    // every buffer, for Close
	graph              stepGraph // Step's, with the device's Graphs on

	// encoder
	encoderActs
	dpr          [2]Buffer // per direction: forward, backward
	dc, dh       [2]Buffer // the gradients of the cell and of h, step to step
	dxd, dxSpare Buffer
	// latent
	eps, z, kl, klDim, dz, dmu, dlogvar Buffer
	// decoder
	h0, dh0, zIn, dzIn                     Buffer
	xdec, preDec, cDec, hDec, decMask, hsd Buffer
	logits, rowLoss, dHsd, dPreDec, dxdec  Buffer
	dcDec                                  Buffer
	// bag of characters: z·W + b (then its gradient), the same taken for
	// each character it predicts, the rows' losses, and the row map (int32)
	// that takes them
	bagZ, bagLogits, bagLoss, bagRows Buffer
	// the gradient of z·out.Wz, summed over the steps (Shape.CodeToOutput)
	dzOut Buffer
}

// NewTrainer allocates a trainer's buffers; the parameters start at zero
// until SetParams.
func NewTrainer(d *Device, s Shape, B int) (*Trainer, error) {
	if B < 1 || s.Vocab < 1 || s.Embed < 1 || s.DecHidden < 1 || s.EncSteps < 1 || (!s.LM && (s.EncHidden < 1 || s.Latent < 1)) {
		return nil, fmt.Errorf("cannot train shape %+v at batch %d", s, B)
	}
	t := &Trainer{d: d, s: s, B: B, layout: Layout(s), offset: map[string]int{}}
	for _, ts := range t.layout {
		t.offset[ts.Name] = t.size
		t.size += ts.Rows * ts.Cols
	}
	E, He, Hd, Z, V := s.Embed, s.EncHidden, s.DecHidden, s.Latent, s.Vocab
	T, Td := s.EncSteps, s.DecSteps()
	t.mem.d = d
	buf := t.mem.alloc
	t.w, t.g, t.adamM, t.adamV = buf(t.size), buf(t.size), buf(t.size), buf(t.size)
	for _, b := range []Buffer{t.w, t.adamM, t.adamV} {
		d.zero(b)
	}
	t.ids = buf(T*B + 2*Td*B)
	t.partial, t.scalars = buf(normParts), buf(8)
	// The largest column sum: Td·B rows (the output layer's, the LM's
	// decoder bias), the widest of the biases' columns.
	t.colParts = buf(colChunks(Td*B) * max(V, 4*He, 4*Hd, E))
	if !s.LM {
		t.encoderActs = newEncoderActs(buf, s, B, true)
		for dir := 0; dir < 2; dir++ {
			t.dpr[dir] = buf(T * B * 4 * He)
			t.dc[dir], t.dh[dir] = buf(B*He), buf(B*He)
		}
		t.dxd, t.dxSpare = buf(T*B*E), buf(T*B*E)
		for _, p := range []*Buffer{&t.eps, &t.z, &t.kl, &t.dz, &t.dmu, &t.dlogvar} {
			*p = buf(B * Z)
		}
		t.klDim = buf(Z)
		t.h0, t.dh0 = buf(B*Hd), buf(B*Hd)
		t.zIn, t.dzIn = buf(B*4*Hd), buf(B*4*Hd)
	}
	t.xdec, t.dxdec = buf(Td*B*E), buf(Td*B*E)
	t.preDec, t.dPreDec = buf(Td*B*4*Hd), buf(Td*B*4*Hd)
	t.cDec, t.hDec, t.decMask, t.hsd, t.dHsd = buf(Td*B*Hd), buf(Td*B*Hd), buf(Td*B*Hd), buf(Td*B*Hd), buf(Td*B*Hd)
	t.logits, t.rowLoss = buf(Td*B*V), buf(Td*B)
	t.dcDec = buf(B * Hd)
	if t.codeToOutput() {
		t.dzOut = buf(B * V)
	}
	if t.bag() {
		n := len(s.BagSteps)
		t.bagZ, t.bagLogits, t.bagLoss, t.bagRows = buf(B*V), buf(n*B*V), buf(n*B), buf(n*B)
		if t.mem.err == nil {
			rows := make([]int32, n*B) // row k·B + b of the bag's logits is poem b's
			for i := range rows {
				rows[i] = int32(i % B)
			}
			if err := d.b.toDevice(t.bagRows.p, unsafe.Pointer(&rows[0]), 4*len(rows)); err != nil {
				t.Close()
				return nil, err
			}
		}
	}
	err := t.mem.err
	if err == nil {
		err = d.sync()
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// codeToOutput reports whether z feeds the output layer.
func (t *Trainer) codeToOutput() bool { return t.s.CodeToOutput && !t.s.LM }

// bag reports whether the step trains the bag-of-characters or rhyme loss.
func (t *Trainer) bag() bool { return len(t.s.BagSteps) > 0 && !t.s.LM }

// Close frees the device memory.
func (t *Trainer) Close() {
	t.graph.destroy()
	t.mem.free()
}

// Size is the number of parameters.
func (t *Trainer) Size() int { return t.size }

// SetParams uploads all parameters, flat in Layout order.
func (t *Trainer) SetParams(w []float32) error { return t.set(t.w, w) }

// SetMoments uploads Adam's first and second moments, flat in Layout order.
func (t *Trainer) SetMoments(m, v []float32) error {
	if err := t.set(t.adamM, m); err != nil {
		return err
	}
	return t.set(t.adamV, v)
}

func (t *Trainer) set(b Buffer, x []float32) error {
	if len(x) != t.size {
		return fmt.Errorf("%d values for %d parameters", len(x), t.size)
	}
	return t.d.upload(b, 0, x)
}

// Params downloads the parameters.
func (t *Trainer) Params() ([]float32, error) { return t.get(t.w) }

// Grads downloads the gradients of the last Gradients or Step.
func (t *Trainer) Grads() ([]float32, error) { return t.get(t.g) }

// Moments downloads Adam's moments.
func (t *Trainer) Moments() (m, v []float32, err error) {
	if m, err = t.get(t.adamM); err != nil {
		return nil, nil, err
	}
	v, err = t.get(t.adamV)
	return m, v, err
}

func (t *Trainer) get(b Buffer) ([]float32, error) {
	x := make([]float32, t.size)
	return x, t.d.download(x, b, 0)
}

// Step trains on one batch: ids are the encoder's characters (EncSteps×B),
// the decoder's inputs and its targets (DecSteps×B each), time-major, one
// host-to-device copy; the figures come back in one device-to-host copy.
// With the device's Graphs on, the step's kernels go as one CUDA graph.
func (t *Trainer) Step(ids []int32, p StepParams) (Stats, error) {
	if err := t.load(ids, p); err != nil {
		return Stats{}, err
	}
	c1 := 1 - math.Pow(0.9, float64(p.Step))
	c2 := 1 - math.Pow(0.999, float64(p.Step))
	step := func() {
		t.gradients(p)
		t.d.adam(t.size, t.w.p, t.g.p, t.adamM.p, t.adamV.p, t.scalars.p.at(5), float32(p.LR), float32(c1), float32(c2))
	}
	if t.d.Graphs {
		if err := t.d.replay(&t.graph, step); err != nil {
			return Stats{}, err
		}
	} else {
		step()
	}
	return t.stats()
}

// Gradients computes the loss and the gradients of one batch without
// updating the parameters (Step without Adam).
func (t *Trainer) Gradients(ids []int32, p StepParams) (Stats, error) {
	if err := t.load(ids, p); err != nil {
		return Stats{}, err
	}
	t.gradients(p)
	return t.stats()
}

// stats downloads the step's figures, after its last kernel.
func (t *Trainer) stats() (Stats, error) {
	var sc [8]float32
	if err := t.d.download(sc[:], t.scalars, 0); err != nil {
		return Stats{}, err
	}
	return Stats{Loss: float64(sc[0]), NLL: float64(sc[1]), KL: float64(sc[2]), Bag: float64(sc[6]), GradNorm: float64(sc[4])}, nil
}

// load checks a step's batch and settings and copies the ids to the device.
func (t *Trainer) load(ids []int32, p StepParams) error {
	s, B := t.s, t.B
	if len(ids) != t.ids.n {
		return fmt.Errorf("%d ids for a batch of %d poems of %d characters", len(ids), B, s.EncSteps)
	}
	if p.Rows < 1 || p.Rows > B {
		return fmt.Errorf("%d real poems in a batch of %d", p.Rows, B)
	}
	if p.Dropout < 0 || p.Dropout >= 1 || p.WordDropout < 0 || p.WordDropout >= 1 {
		return errors.New("dropout rates must lie in [0, 1)")
	}
	for _, id := range ids {
		if id < 0 || int(id) >= s.Vocab {
			return fmt.Errorf("character id %d outside the vocabulary of %d", id, s.Vocab)
		}
	}
	return t.d.b.toDevice(t.ids.p, unsafe.Pointer(&ids[0]), 4*len(ids))
}

// gradients queues the loss, the gradients and their clipping.
func (t *Trainer) gradients(p StepParams) {
	t.d.zero(t.g)
	t.forward(p)
	t.backward(p)
	t.d.sumSquares(t.size, t.g.p, t.partial.p)
	t.d.clipScale(min(normParts, blocks(t.size)), t.partial.p, float32(p.Clip), t.scalars.p)
}

// Views of the parameters and gradients.
func (t *Trainer) wp(name string) ptr { return t.w.p.at(t.offset[name]) }
func (t *Trainer) gp(name string) ptr { return t.g.p.at(t.offset[name]) }
func (t *Trainer) wm(name string) mat { return t.view(t.w, name) }
func (t *Trainer) gm(name string) mat { return t.view(t.g, name) }

func (t *Trainer) view(b Buffer, name string) mat {
	i := t.index(name)
	ts := t.layout[i]
	return mat{p: b.p.at(t.offset[name]), rows: ts.Rows, cols: ts.Cols, stride: ts.Cols}
}

func (t *Trainer) index(name string) int {
	for i, ts := range t.layout {
		if ts.Name == name {
			return i
		}
	}
	panic("cuda: no parameter " + name) // a programming error
}

// Where the batch's ids lie in t.ids.
func (t *Trainer) encIDs() ptr  { return t.ids.p }
func (t *Trainer) decIDs() ptr  { return t.ids.p.at(t.s.EncSteps * t.B) }
func (t *Trainer) targets() ptr { return t.ids.p.at((t.s.EncSteps + t.s.DecSteps()) * t.B) }

func dropoutSettings(p float64) (uint32, float32) { return noise.Threshold(p), float32(1 / (1 - p)) }

func (t *Trainer) forward(p StepParams) {
	d, s, B := t.d, t.s, t.B
	E, Hd, Z := s.Embed, s.DecHidden, s.Latent
	Td := s.DecSteps()
	key := p.Noise.Key()
	dropTh, dropScale := dropoutSettings(p.Dropout)
	d.wordDropout(Td*B, B, key, noise.WordDropout, noise.Threshold(p.WordDropout), unkID, t.decIDs())

	if !s.LM {
		d.encode(s, B, t, t.encIDs(), &t.encoderActs, &encoderDropout{key: key, threshold: dropTh, scale: dropScale})
		// Reparameterisation and KL.
		d.normalFill(B*Z, key, noise.Eps, t.eps.p)
		d.latentFwd(B*Z, t.mu.p, t.logvar.p, t.eps.p, t.z.p, t.kl.p)
		d.klDims(B, Z, p.Rows, t.kl.p, t.klDim.p)
		// What the decoder takes from z: z·Wz + b at every step, and its
		// initial state tanh(z·W + b).
		zm := m(t.z, 0, B, Z)
		d.gemmBias(zm, t.wm("dec.Wz"), t.wp("dec.b"), 0, m(t.zIn, 0, B, 4*Hd))
		d.gemmBias(zm, t.wm("dec_init.W"), t.wp("dec_init.b"), 0, m(t.h0, 0, B, Hd))
		d.tanhFwd(B*Hd, t.h0.p, t.h0.p)
		if t.bag() {
			// The bag of characters: the logits z·W + b of each poem, taken
			// once for each character it predicts (time-major, as the
			// encoder's ids), through the decoder's softmax cross-entropy:
			// at once over every step, or step by step over some.
			n := len(s.BagSteps)
			d.gemmBias(zm, t.wm("bow.W"), t.wp("bow.b"), 0, m(t.bagZ, 0, B, s.Vocab))
			d.gather(n*B, s.Vocab, t.bagRows.p, t.bagZ.p, t.bagLogits.p)
			if n == s.EncSteps {
				d.xent(n*B, s.Vocab, B, p.Rows, t.encIDs(), t.bagLogits.p, t.bagLoss.p)
			} else {
				for k, step := range s.BagSteps {
					d.xent(B, s.Vocab, B, p.Rows, t.encIDs().at(step*B), t.bagLogits.p.at(k*B*s.Vocab), t.bagLoss.p.at(k*B))
				}
			}
		}
	}

	// Decoder.
	d.gather(Td*B, E, t.decIDs(), t.wp("embed"), t.xdec.p)
	// The decoder's bias: with the input products in a language model, in
	// z·Wz + b (extra) in a VAE.
	var bias, extra ptr
	if s.LM {
		bias = t.wp("dec.b")
	} else {
		extra = t.zIn.p
	}
	d.gemmBias(m(t.xdec, 0, Td*B, E), t.wm("dec.Wx"), bias, 0, m(t.preDec, 0, Td*B, 4*Hd))
	for tt := 0; tt < Td; tt++ {
		cell := lstmStep{pre: t.preDec.p.at(tt * B * 4 * Hd), extra: extra, c: t.cDec.p.at(tt * B * Hd), h: t.hDec.p.at(tt * B * Hd)}
		switch {
		case tt > 0:
			cell.hprev, cell.Wh = t.hDec.p.at((tt-1)*B*Hd), t.wp("dec.Wh")
			cell.cprev = t.cDec.p.at((tt - 1) * B * Hd)
		case !s.LM:
			cell.hprev, cell.Wh = t.h0.p, t.wp("dec.Wh")
		}
		d.lstmFwd(B, Hd, cell)
	}
	d.dropoutFwd(Td*B*Hd, key, noise.DecDropout, dropTh, dropScale, t.hDec.p, t.decMask.p, t.hsd.p)
	logits := m(t.logits, 0, Td*B, s.Vocab)
	d.gemmBias(m(t.hsd, 0, Td*B, Hd), t.wm("out.W"), t.wp("out.b"), 0, logits)
	if t.codeToOutput() { // z·out.Wz joins every step's logits
		for tt := 0; tt < Td; tt++ {
			d.gemm(m(t.z, 0, B, Z), t.wm("out.Wz"), 1, m(t.logits, tt*B, B, s.Vocab))
		}
	}
	d.xent(Td*B, s.Vocab, B, p.Rows, t.targets(), t.logits.p, t.rowLoss.p)
	var klDim ptr
	if !s.LM {
		klDim = t.klDim.p
	}
	Zl := Z
	if s.LM {
		Zl = 0
	}
	bagRows := 0
	if t.bag() {
		bagRows = len(s.BagSteps) * B
	}
	d.finishLoss(Td*B, t.rowLoss.p, bagRows, t.bagLoss.p, Zl, klDim, float32(p.Beta), float32(p.FreeBits), t.scalars.p)
}

// unkID is corpus.UNK, the id word dropout substitutes.
const unkID = 3

func (t *Trainer) backward(p StepParams) {
	d, s, B := t.d, t.s, t.B
	E, He, Hd, Z := s.Embed, s.EncHidden, s.DecHidden, s.Latent
	T, Td := s.EncSteps, s.DecSteps()

	// Output layer: t.logits holds the loss's gradient after xent.
	dlogits := m(t.logits, 0, Td*B, s.Vocab)
	d.gemm(m(t.hsd, 0, Td*B, Hd).T(), dlogits, 1, t.gm("out.W"))
	d.colSum(dlogits, t.gp("out.b"), t.colParts)
	d.gemm(dlogits, t.wm("out.W").T(), 0, m(t.dHsd, 0, Td*B, Hd))
	d.mul(Td*B*Hd, t.dHsd.p, t.decMask.p, t.dHsd.p)

	// Decoder LSTM, last step first: each step's h gets its gradient from
	// the output layer (t.dHsd) and from the next step's recurrent product.
	d.zero(t.dcDec)
	for tt := Td - 1; tt >= 0; tt-- {
		cell := lstmGrad{gates: t.preDec.p.at(tt * B * 4 * Hd), c: t.cDec.p.at(tt * B * Hd), dh: t.dHsd.p.at(tt * B * Hd),
			dc: t.dcDec.p, dpre: t.dPreDec.p.at(tt * B * 4 * Hd)}
		if tt > 0 {
			cell.cprev = t.cDec.p.at((tt - 1) * B * Hd)
		}
		if tt < Td-1 {
			cell.dpreNext, cell.Wh = t.dPreDec.p.at((tt+1)*B*4*Hd), t.wp("dec.Wh")
		}
		d.lstmBwd(B, Hd, cell)
	}
	if !s.LM { // the initial state tanh(z·W + b) fed the first step
		d.gemm(m(t.dPreDec, 0, B, 4*Hd), t.wm("dec.Wh").T(), 0, m(t.dh0, 0, B, Hd))
	}
	dPre := m(t.dPreDec, 0, Td*B, 4*Hd)
	d.gemm(m(t.xdec, 0, Td*B, E).T(), dPre, 1, t.gm("dec.Wx"))
	if Td > 1 {
		d.gemm(m(t.hDec, 0, (Td-1)*B, Hd).T(), m(t.dPreDec, B, (Td-1)*B, 4*Hd), 1, t.gm("dec.Wh"))
	}
	d.gemm(dPre, t.wm("dec.Wx").T(), 0, m(t.dxdec, 0, Td*B, E))
	d.scatterAdd(Td*B, E, t.decIDs(), t.dxdec.p, t.gp("embed"))
	if s.LM {
		d.colSum(dPre, t.gp("dec.b"), t.colParts)
		return
	}
	d.gemm(m(t.h0, 0, B, Hd).T(), m(t.dPreDec, 0, B, 4*Hd), 1, t.gm("dec.Wh"))

	// What the decoder took from z.
	zm := m(t.z, 0, B, Z)
	dzIn := m(t.dzIn, 0, B, 4*Hd)
	d.zero(t.dzIn)
	d.sumBlocks(Td, B*4*Hd, t.dPreDec.p, t.dzIn.p)
	d.gemm(zm.T(), dzIn, 1, t.gm("dec.Wz"))
	d.colSum(dzIn, t.gp("dec.b"), t.colParts)
	d.gemm(dzIn, t.wm("dec.Wz").T(), 0, m(t.dz, 0, B, Z))
	d.tanhBwd(B*Hd, t.h0.p, t.dh0.p, t.dh0.p)
	dh0 := m(t.dh0, 0, B, Hd)
	d.gemm(zm.T(), dh0, 1, t.gm("dec_init.W"))
	d.colSum(dh0, t.gp("dec_init.b"), t.colParts)
	d.gemm(dh0, t.wm("dec_init.W").T(), 1, m(t.dz, 0, B, Z))
	if t.bag() { // the gradient of the bag's logits of each poem, summed over its characters
		dBag := m(t.bagZ, 0, B, s.Vocab)
		d.zero(t.bagZ)
		d.sumBlocks(len(s.BagSteps), B*s.Vocab, t.bagLogits.p, t.bagZ.p)
		d.gemm(zm.T(), dBag, 1, t.gm("bow.W"))
		d.colSum(dBag, t.gp("bow.b"), t.colParts)
		d.gemm(dBag, t.wm("bow.W").T(), 1, m(t.dz, 0, B, Z))
	}
	if t.codeToOutput() { // the gradient of z·out.Wz: every step's logits', summed
		dOut := m(t.dzOut, 0, B, s.Vocab)
		d.zero(t.dzOut)
		d.sumBlocks(Td, B*s.Vocab, t.logits.p, t.dzOut.p)
		d.gemm(zm.T(), dOut, 1, t.gm("out.Wz"))
		d.gemm(dOut, t.wm("out.Wz").T(), 1, m(t.dz, 0, B, Z))
	}

	// Latent: reparameterisation and KL, then mu and log σ² layers.
	d.latentBwd(B, Z, p.Rows, float32(p.Beta), float32(p.FreeBits), t.mu.p, t.logvar.p, t.eps.p, t.klDim.p, t.dz.p, t.dmu.p, t.dlogvar.p)
	hf, hb := m(t.hs[0], (T-1)*B, B, He), m(t.hs[1], 0, B, He)
	dhf, dhb := m(t.dh[0], 0, B, He), m(t.dh[1], 0, B, He)
	for i, out := range []struct {
		name string
		grad Buffer
	}{{"mu.", t.dmu}, {"logvar.", t.dlogvar}} {
		g := m(out.grad, 0, B, Z)
		d.gemm(hf.T(), g, 1, t.gm(out.name+"Wf"))
		d.gemm(hb.T(), g, 1, t.gm(out.name+"Wb"))
		d.colSum(g, t.gp(out.name+"b"), t.colParts)
		beta := float32(i) // the first product sets, the second adds
		d.gemm(g, t.wm(out.name+"Wf").T(), beta, dhf)
		d.gemm(g, t.wm(out.name+"Wb").T(), beta, dhb)
	}

	// Encoder LSTMs, each from its final state back to its first step, the
	// two directions together as forward.
	xd := m(t.xd, 0, T*B, E)
	d.zero(t.dc[0])
	d.zero(t.dc[1])
	for k := T - 1; k >= 0; k-- {
		var cells [2]lstmGrad
		for dir, name := range encoders {
			tt := encTime(T, dir, k)
			cells[dir] = lstmGrad{gates: t.pre[dir].p.at(tt * B * 4 * He), c: t.cs[dir].p.at(tt * B * He),
				dc: t.dc[dir].p, dpre: t.dpr[dir].p.at(tt * B * 4 * He)}
			if k > 0 {
				cells[dir].cprev = t.cs[dir].p.at(encTime(T, dir, k-1) * B * He)
			}
			if k == T-1 { // the final h feeds mu and log σ²; the others only the next step
				cells[dir].dh = t.dh[dir].p
			} else {
				cells[dir].dpreNext, cells[dir].Wh = t.dpr[dir].p.at(encTime(T, dir, k+1)*B*4*He), t.wp(name+"Wh")
			}
		}
		d.lstmBwd(B, He, cells[:]...)
	}
	for dir, name := range encoders {
		dPre := m(t.dpr[dir], 0, T*B, 4*He)
		d.gemm(xd.T(), dPre, 1, t.gm(name+"Wx"))
		d.colSum(dPre, t.gp(name+"b"), t.colParts)
		if T > 1 { // h of time t−1 (forward) or t+1 (backward) feeds time t
			if dir == 0 {
				d.gemm(m(t.hs[0], 0, (T-1)*B, He).T(), m(t.dpr[0], B, (T-1)*B, 4*He), 1, t.gm(name+"Wh"))
			} else {
				d.gemm(m(t.hs[1], B, (T-1)*B, He).T(), m(t.dpr[1], 0, (T-1)*B, 4*He), 1, t.gm(name+"Wh"))
			}
		}
		d.gemm(dPre, t.wm(name+"Wx").T(), float32(dir), m(t.dxd, 0, T*B, E))
	}

	// Dropout, highway layers (last first), embedding.
	n := T * B * E
	d.mul(n, t.dxd.p, t.encMask.p, t.dxd.p)
	cur, spare := t.dxd, t.dxSpare
	for l := s.Highway - 1; l >= 0; l-- {
		hw := fmt.Sprintf("highway%d.", l)
		x := m(t.xs[l], 0, T*B, E)
		dh, dt := m(t.hpre[l], 0, T*B, E), m(t.tgate[l], 0, T*B, E)
		d.highwayBwd(n, t.xs[l].p, t.hpre[l].p, t.tgate[l].p, cur.p, spare.p)
		d.gemm(x.T(), dh, 1, t.gm(hw+"W"))
		d.colSum(dh, t.gp(hw+"b"), t.colParts)
		d.gemm(x.T(), dt, 1, t.gm(hw+"Wgate"))
		d.colSum(dt, t.gp(hw+"bgate"), t.colParts)
		dx := m(spare, 0, T*B, E)
		d.gemm(dh, t.wm(hw+"W").T(), 1, dx)
		d.gemm(dt, t.wm(hw+"Wgate").T(), 1, dx)
		cur, spare = spare, cur
	}
	d.scatterAdd(T*B, E, t.encIDs(), cur.p, t.gp("embed"))
}
