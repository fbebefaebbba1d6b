//go:build gpu

package cuda

import (
	"fmt"

	"poetvae/model/noise"
)

// encoderActs are the encoder's activations for B poems at every step,
// time-major: the training step's backward pass reads them all, and
// Weights.Encode, which needs only the posterior, keeps them for the
// length of a call.
type encoderActs struct {
	xs, hpre, tgate []Buffer  // highway inputs and outputs (Highway+1), products (Highway)
	xd, encMask     Buffer    // the LSTM input after dropout, and the mask (training only)
	pre, cs, hs     [2]Buffer // per direction (forward, backward): gates' inputs, cells, outputs
	mu, logvar      Buffer    // the posterior, B × Latent
}

// newEncoderActs allocates the activations; with dropout, also the
// dropped-out input and its mask.
func newEncoderActs(buf func(int) Buffer, s Shape, B int, dropout bool) encoderActs {
	T, E, H, Z := s.EncSteps, s.Embed, s.EncHidden, s.Latent
	var a encoderActs
	for l := 0; l <= s.Highway; l++ {
		a.xs = append(a.xs, buf(T*B*E))
		if l < s.Highway {
			a.hpre, a.tgate = append(a.hpre, buf(T*B*E)), append(a.tgate, buf(T*B*E))
		}
	}
	if dropout {
		a.xd, a.encMask = buf(T*B*E), buf(T*B*E)
	}
	for dir := range 2 {
		a.pre[dir], a.cs[dir], a.hs[dir] = buf(T*B*4*H), buf(T*B*H), buf(T*B*H)
	}
	a.mu, a.logvar = buf(B*Z), buf(B*Z)
	return a
}

// weightViews are where a model's parameters lie on the device: the
// trainer's buffer or an uploaded copy.
type weightViews interface {
	wp(name string) ptr
	wm(name string) mat
}

// encoderDropout is the training step's dropout on the encoder's input.
type encoderDropout struct {
	key       uint64
	threshold uint32
	scale     float32
}

// encode runs the encoder on ids (EncSteps × B, time-major) into a: the
// embedding, the highway layers, dropout when drop is not nil, both LSTM
// directions, and the posterior's mean and log-variance from their final
// states.
func (d *Device) encode(s Shape, B int, w weightViews, ids ptr, a *encoderActs, drop *encoderDropout) {
	E, H, Z, T := s.Embed, s.EncHidden, s.Latent, s.EncSteps
	n := T * B * E
	d.gather(T*B, E, ids, w.wp("embed"), a.xs[0].p)
	for l := 0; l < s.Highway; l++ {
		hw := fmt.Sprintf("highway%d.", l)
		x := m(a.xs[l], 0, T*B, E)
		d.gemmBias(x, w.wm(hw+"W"), w.wp(hw+"b"), 0, m(a.hpre[l], 0, T*B, E))
		d.gemmBias(x, w.wm(hw+"Wgate"), w.wp(hw+"bgate"), 0, m(a.tgate[l], 0, T*B, E))
		d.highwayFwd(n, a.xs[l].p, a.hpre[l].p, a.tgate[l].p, a.xs[l+1].p)
	}
	in := a.xs[s.Highway]
	if drop != nil {
		d.dropoutFwd(n, drop.key, noise.EncDropout, drop.threshold, drop.scale, in.p, a.encMask.p, a.xd.p)
		in = a.xd
	}
	for dir, name := range encoders {
		d.gemmBias(m(in, 0, T*B, E), w.wm(name+"Wx"), w.wp(name+"b"), 0, m(a.pre[dir], 0, T*B, 4*H))
	}
	// The two directions step together, in one launch a step.
	for k := range T {
		var cells [2]lstmStep
		for dir, name := range encoders {
			t := encTime(T, dir, k)
			cells[dir] = lstmStep{pre: a.pre[dir].p.at(t * B * 4 * H), c: a.cs[dir].p.at(t * B * H), h: a.hs[dir].p.at(t * B * H)}
			if k > 0 {
				tp := encTime(T, dir, k-1)
				cells[dir].hprev, cells[dir].Wh = a.hs[dir].p.at(tp*B*H), w.wp(name+"Wh")
				cells[dir].cprev = a.cs[dir].p.at(tp * B * H)
			}
		}
		d.lstmFwd(B, H, cells[:]...)
	}
	// The final states: the forward direction's at the last step, the
	// backward one's at the first.
	hf, hb := m(a.hs[0], (T-1)*B, B, H), m(a.hs[1], 0, B, H)
	for _, out := range []struct {
		name string
		buf  Buffer
	}{{"mu.", a.mu}, {"logvar.", a.logvar}} {
		o := m(out.buf, 0, B, Z)
		d.gemmBias(hf, w.wm(out.name+"Wf"), w.wp(out.name+"b"), 0, o)
		d.gemm(hb, w.wm(out.name+"Wb"), 1, o)
	}
}

// encoders are the encoder LSTMs' parameter prefixes: forward, backward.
var encoders = [2]string{"enc_fwd.", "enc_bwd."}

// encTime is the time index of the k-th of T steps of direction dir.
func encTime(T, dir, k int) int {
	if dir == 1 {
		return T - 1 - k
	}
	return k
}

// Encode returns the posterior means and log-variances (B × Latent each)
// of B poems, ids holding each poem's EncSteps characters in turn (B ×
// EncSteps, as the poems read). The activations live on the device for the
// length of the call.
func (ws *Weights) Encode(ids []int32, B int) (mu, logvar []float32, err error) {
	d, s := ws.d, ws.s
	T, Z := s.EncSteps, s.Latent
	if s.LM {
		return nil, nil, fmt.Errorf("a language model has no encoder")
	}
	if B < 1 || len(ids) != B*T {
		return nil, nil, fmt.Errorf("%d character ids for %d poems of %d", len(ids), B, T)
	}
	tm := make([]int32, T*B)
	for b := range B {
		for t := range T {
			id := ids[b*T+t]
			if id < 0 || int(id) >= s.Vocab {
				return nil, nil, fmt.Errorf("poem %d: character id %d outside the vocabulary of %d", b+1, id, s.Vocab)
			}
			tm[t*B+b] = id
		}
	}
	mem := memory{d: d}
	defer mem.free()
	dev := mem.alloc(T * B)
	a := newEncoderActs(mem.alloc, s, B, false)
	if mem.err != nil {
		return nil, nil, mem.err
	}
	if err := d.uploadInts(dev, tm); err != nil {
		return nil, nil, err
	}
	d.encode(s, B, ws, dev.p, &a, nil)
	mu, logvar = make([]float32, B*Z), make([]float32, B*Z)
	if err := d.download(mu, a.mu, 0); err != nil {
		return nil, nil, err
	}
	if err := d.download(logvar, a.logvar, 0); err != nil {
		return nil, nil, err
	}
	return mu, logvar, nil
}
