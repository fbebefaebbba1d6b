package model

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Net is the model's forward pass in plain loops and matrix products over
// float64 copies of the parameters: the fast path for encoding, decoding and
// validation, where no gradient is needed. Tests hold it equal to the graph.
type Net struct {
	Config Config
	w      map[string][]float64
	// encoderOnly marks a Net of the encoder's weights alone
	// (newEncoderNet), which cannot decode.
	encoderOnly bool
	// embed32, when not nil, is the embedding of float32 parameters,
	// read in place of a float64 copy (newEncoderNet).
	embed32 []float32
}

// NewNet copies the parameters for inference.
func NewNet(p *Params) *Net { return newNet(p, false) }

// newEncoderNet is NewNet of the encoder's parameters alone, all that
// Encode reads: the embedding, the highway layers, the encoder's LSTMs and
// the weights of mu and log σ². It cannot decode. A model that only
// encodes (neighbors, plot latent) then copies a fifth of the built-in
// model's weights, not the output layer, the largest, nor the embedding,
// the next, whose few rows a batch reads are taken from the parameters
// themselves where they are float32: unlike NewNet's, this Net is no
// snapshot, and must be made again when they change (Model.Refresh). Its
// Encode is NewNet's to the bit: the same code over the same values, a
// float32 read as a float64 being exact.
func newEncoderNet(p *Params) *Net { return newNet(p, true) }

// isEncoderParam says whether Net.Encode reads the parameter.
func isEncoderParam(name string) bool {
	for _, prefix := range []string{"embed", "highway", "enc_fwd.", "enc_bwd.", "mu.", "logvar."} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

func newNet(p *Params, encoderOnly bool) *Net {
	n := &Net{Config: p.Config, w: map[string][]float64{}, encoderOnly: encoderOnly}
	done := map[string]bool{} // parameters copied into a joined weight
	// The plain pass does one product for all four gates: join the gates'
	// weights side by side (rows × 4H, gates i f g o), converted straight
	// from the parameters into their places.
	for _, lstm := range []string{"enc_fwd.", "enc_bwd.", "dec."} {
		for _, kind := range []string{"Wx", "Wz", "Wh", "b"} {
			first, ok := p.index[lstm+kind+".i"]
			if !ok || encoderOnly && !isEncoderParam(lstm) {
				continue
			}
			s := p.Values[first].Shape()
			rows, H := s[0], s[1]
			joined := make([]float64, rows*4*H)
			prefault(joined)
			for k, g := range gateNames {
				name := lstm + kind + "." + g
				part := p.Get(name).Data()
				for r := 0; r < rows; r++ {
					convertInto(joined[r*4*H+k*H:r*4*H+(k+1)*H], part, r*H)
				}
				done[name] = true
			}
			n.w[lstm+kind] = joined
		}
	}
	// Stacking the per-direction blocks row-wise gives the weight of the
	// concatenated final state [h_fwd ; h_bwd].
	for _, out := range []string{"mu.", "logvar."} {
		if _, ok := p.index[out+"Wf"]; ok {
			f, b := p.Get(out+"Wf"), p.Get(out+"Wb")
			nf := f.Shape().TotalSize()
			w := make([]float64, nf+b.Shape().TotalSize())
			convertInto(w[:nf], f.Data(), 0)
			convertInto(w[nf:], b.Data(), 0)
			n.w[out+"W"] = w
			done[out+"Wf"], done[out+"Wb"] = true, true
		}
	}
	if embed, ok := p.Get("embed").Data().([]float32); ok && encoderOnly {
		n.embed32, done["embed"] = embed, true
	}
	for i, name := range p.Names {
		if !done[name] && (!encoderOnly || isEncoderParam(name)) {
			n.w[name] = p.Float64s(i)
		}
	}
	return n
}

// convertInto sets dst to the len(dst) values of data (a parameter's
// []float32 or []float64) from offset off, as float64.
func convertInto(dst []float64, data any, off int) {
	switch d := data.(type) {
	case []float32:
		for j, v := range d[off : off+len(dst)] {
			dst[j] = float64(v)
		}
	case []float64:
		copy(dst, d[off:off+len(dst)])
	default:
		panic(fmt.Sprintf("model: unexpected data %T", data))
	}
}

// matmul sets dst (m×n) to a (m×k) · w (k×n), or adds the product to dst
// when accumulate is set.
func matmul(dst, a []float64, m, k int, w []float64, n int, accumulate bool) {
	beta := 0.0
	if accumulate {
		beta = 1
	}
	if m == 1 {
		// One row is wᵀ·a: a matrix-vector product reads w once, where
		// OpenBLAS's Dgemm first copies all of w into its packed layout,
		// each step of a single poem (for the output layer, 18 MB a step).
		blas64.Implementation().Dgemv(blas.Trans, k, n, 1, w, n, a, 1, beta, dst, 1)
		return
	}
	blas64.Implementation().Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, w, n, beta, dst, n)
}

// addRows adds the bias row to every row of x.
func addRows(x, bias []float64) {
	n := len(bias)
	for r := 0; r < len(x); r += n {
		addTo(x[r:r+n], bias)
	}
}

// lstmCell turns pre-activations (B × 4H, gates i f g o) into the new cell
// and hidden state, in place in c and h. The rows are spread over the cores
// (each row one core's, so the result does not depend on their number):
// with the hundreds of rows of an evaluation's samples, the gates' tanh and
// sigmoids took a sixth of its time on one core.
func lstmCell(pre, h, c []float64, B, H int) {
	inParallel(B, cellRowsPerCore, func(lo, hi int) {
		lstmCellRows(pre, h, c, H, lo, hi)
	})
}

// cellRowsPerCore keeps generating (a few poems at a time) on one core.
const cellRowsPerCore = 32

func lstmCellRows(pre, h, c []float64, H, lo, hi int) {
	for b := lo; b < hi; b++ {
		p := pre[b*4*H : (b+1)*4*H]
		for j := 0; j < H; j++ {
			i, f, g, o := sigmoid64(p[j]), sigmoid64(p[H+j]), math.Tanh(p[2*H+j]), sigmoid64(p[3*H+j])
			cc := f*c[b*H+j] + i*g
			c[b*H+j] = cc
			h[b*H+j] = o * math.Tanh(cc)
		}
	}
}

// embedRows gathers the embeddings of ids into a len(ids) × E matrix.
func (n *Net) embedRows(ids []int) []float64 {
	E := n.Config.Embed
	x := make([]float64, len(ids)*E)
	if n.embed32 != nil {
		for r, id := range ids {
			convertInto(x[r*E:(r+1)*E], n.embed32, id*E)
		}
		return x
	}
	for r, id := range ids {
		copy(x[r*E:(r+1)*E], n.w["embed"][id*E:(id+1)*E])
	}
	return x
}

// Encode returns the posterior mean and log-variance (B × Latent each) of B
// poems given as batch-major ids (B × EncSteps). A language model (LM) has
// no encoder: it returns the prior's, zeros.
func (n *Net) Encode(ids []int, B int) (mu, logvar []float64) {
	c := n.Config
	if c.LM {
		return make([]float64, B*c.Latent), make([]float64, B*c.Latent)
	}
	T, E, H, Z := c.EncSteps(), c.Embed, c.EncHidden, c.Latent
	tm := make([]int, T*B) // time-major
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			tm[t*B+b] = ids[b*T+t]
		}
	}
	x := n.embedRows(tm)
	rows := T * B
	for l := 0; l < c.Highway; l++ {
		x = n.highway(x, rows, l)
	}
	final := make([]float64, B*2*H)
	for dir, name := range []string{"enc_fwd.", "enc_bwd."} {
		xw := make([]float64, rows*4*H)
		matmul(xw, x, rows, E, n.w[name+"Wx"], 4*H, false)
		addRows(xw, n.w[name+"b"])
		h, cell := make([]float64, B*H), make([]float64, B*H)
		pre := make([]float64, B*4*H)
		for k := 0; k < T; k++ {
			t := k
			if dir == 1 {
				t = T - 1 - k
			}
			copy(pre, xw[t*B*4*H:(t+1)*B*4*H])
			matmul(pre, h, B, H, n.w[name+"Wh"], 4*H, true)
			lstmCell(pre, h, cell, B, H)
		}
		for b := 0; b < B; b++ {
			copy(final[b*2*H+dir*H:b*2*H+(dir+1)*H], h[b*H:(b+1)*H])
		}
	}
	mu = make([]float64, B*Z)
	logvar = make([]float64, B*Z)
	matmul(mu, final, B, 2*H, n.w["mu.W"], Z, false)
	addRows(mu, n.w["mu.b"])
	matmul(logvar, final, B, 2*H, n.w["logvar.W"], Z, false)
	addRows(logvar, n.w["logvar.b"])
	return mu, logvar
}

func (n *Net) highway(x []float64, rows, l int) []float64 {
	E := n.Config.Embed
	p := "highway" + string(rune('0'+l)) + "."
	h := make([]float64, rows*E)
	t := make([]float64, rows*E)
	matmul(h, x, rows, E, n.w[p+"W"], E, false)
	addRows(h, n.w[p+"b"])
	matmul(t, x, rows, E, n.w[p+"Wgate"], E, false)
	addRows(t, n.w[p+"bgate"])
	y := make([]float64, rows*E)
	for i := range y {
		gate := sigmoid64(t[i])
		y[i] = x[i] + gate*(math.Max(h[i], 0)-x[i])
	}
	return y
}

// Decoder is the state of B poems being decoded together.
type Decoder struct {
	net  *Net
	B    int
	h, c []float64 // B × DecHidden
	zIn  []float64 // B × 4·DecHidden: z·Wz + b, added at every step
	zOut []float64 // B × Vocab: z·out.Wz, added to every step's logits (Config.CodeToOutput)
	pre  []float64
	out  []float64 // B × Vocab: the logits, reused from step to step
}

// NewDecoder starts decoding from B latent codes (B × Latent).
func (n *Net) NewDecoder(z []float64, B int) *Decoder {
	if n.encoderOnly {
		panic("model: decoding with an encoder-only Net") // a programming error
	}
	c := n.Config
	H, Z := c.DecHidden, c.Latent
	d := &Decoder{net: n, B: B, h: make([]float64, B*H), c: make([]float64, B*H),
		zIn: make([]float64, B*4*H), pre: make([]float64, B*4*H)}
	if c.LM { // a language model ignores z: bias only, zero initial state
		addRows(d.zIn, n.w["dec.b"])
		return d
	}
	matmul(d.zIn, z, B, Z, n.w["dec.Wz"], 4*H, false)
	addRows(d.zIn, n.w["dec.b"])
	if c.CodeToOutput {
		d.zOut = make([]float64, B*c.Vocab)
		matmul(d.zOut, z, B, Z, n.w["out.Wz"], c.Vocab, false)
	}
	matmul(d.h, z, B, Z, n.w["dec_init.W"], H, false)
	addRows(d.h, n.w["dec_init.b"])
	for i, v := range d.h {
		d.h[i] = math.Tanh(v)
	}
	return d
}

// Step feeds the previous character of each poem and returns the logits of
// the next (B × Vocab). The logits are valid until the next call, which
// reuses their storage; the caller may change them.
func (d *Decoder) Step(prev []int) []float64 {
	n, c := d.net, d.net.Config
	H, E, V := c.DecHidden, c.Embed, c.Vocab
	x := n.embedRows(prev)
	copy(d.pre, d.zIn)
	matmul(d.pre, x, d.B, E, n.w["dec.Wx"], 4*H, true)
	matmul(d.pre, d.h, d.B, H, n.w["dec.Wh"], 4*H, true)
	lstmCell(d.pre, d.h, d.c, d.B, H)
	if d.out == nil {
		d.out = make([]float64, d.B*V)
	}
	if d.zOut != nil {
		copy(d.out, d.zOut)
	}
	matmul(d.out, d.h, d.B, H, n.w["out.W"], V, d.zOut != nil)
	addRows(d.out, n.w["out.b"])
	return d.out
}

// Err is always nil: the CPU decoder cannot fail (stepDecoder).
func (d *Decoder) Err() error { return nil }

// Close has nothing to release (stepDecoder).
func (d *Decoder) Close() {}

// Reorder makes row j of the decoder's state a copy of row src[j], for
// each of its B rows: beam search continues the best beams, several of
// which may descend from one row while others end.
func (d *Decoder) Reorder(src []int) {
	H := d.net.Config.DecHidden
	gather := func(x []float64, width int) []float64 {
		out := make([]float64, len(x))
		for j, i := range src {
			copy(out[j*width:(j+1)*width], x[i*width:(i+1)*width])
		}
		return out
	}
	d.h, d.c, d.zIn = gather(d.h, H), gather(d.c, H), gather(d.zIn, 4*H)
	if d.zOut != nil {
		d.zOut = gather(d.zOut, d.net.Config.Vocab)
	}
}

// NLL returns −log p(targets | z) for each of B poems under teacher forcing:
// decIn and targets are batch-major (B × DecSteps).
func (n *Net) NLL(z []float64, decIn, targets []int, B int) []float64 {
	nll, _ := teacherForcedNLL(n.NewDecoder(z, B), n.Config, decIn, targets, B) // the CPU decoder cannot fail
	return nll
}

// teacherForcedNLL runs the decoder d of B poems, feeding it the true
// previous characters, and returns −log p(targets) of each poem; decIn and
// targets are batch-major (B × DecSteps). d runs on either device.
func teacherForcedNLL(d stepDecoder, c Config, decIn, targets []int, B int) ([]float64, error) {
	Td, V := c.DecSteps(), c.Vocab
	nll := make([]float64, B)
	prev := make([]int, B)
	ns, onDevice := d.(nllStepper)
	tgt := make([]int, B)
	for t := 0; t < Td; t++ {
		for b := 0; b < B; b++ {
			prev[b], tgt[b] = decIn[b*Td+t], targets[b*Td+t]
		}
		if onDevice {
			addTo(nll, ns.stepNLL(prev, tgt))
			continue
		}
		logits := d.Step(prev)
		// The rows' log-sum-exps, a third of an evaluation's time on one
		// core, are spread over the cores (each row is one core's alone).
		inParallel(B, nllRowsPerCore, func(lo, hi int) {
			addStepNLL(nll, logits, tgt, V, lo, hi)
		})
	}
	return nll, d.Err()
}

// nllStepper is a decoder that takes a step's softmax where it runs (the
// GPU's), returning each poem's −log p(target) instead of every logit
// (valid until the next call); errors show in Err, as Step's do.
type nllStepper interface {
	stepNLL(prev, targets []int) []float64
}

// addStepNLL adds a step's −log p(targets[b]) to nll[b] for rows lo to hi.
func addStepNLL(nll, logits []float64, targets []int, V, lo, hi int) {
	for b := lo; b < hi; b++ {
		row := logits[b*V : (b+1)*V]
		nll[b] += logSumExp(row) - row[targets[b]]
	}
}

// nllRowsPerCore: a row's log-sum-exp over a vocabulary of thousands is
// some tens of microseconds, so a few rows repay a goroutine.
const nllRowsPerCore = 8

// KL returns KL(N(mu, σ²) ‖ N(0, I)) per element (same layout as mu).
func KL(mu, logvar []float64) []float64 {
	kl := make([]float64, len(mu))
	for i := range mu {
		kl[i] = 0.5 * (mu[i]*mu[i] + math.Exp(logvar[i]) - 1 - logvar[i])
	}
	return kl
}
