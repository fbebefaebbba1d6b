package model

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"poetvae/poetry"
)

// FitOptions say how FitCodes refines a poem's code.
type FitOptions struct {
	// Steps of Adam on each code; 0 returns the posterior means.
	Steps int
	// LR is Adam's step size, in the code's units (the prior's σ is 1).
	LR float64
	// PriorWeight weighs the prior's −log p(z) = ½‖z‖² against the
	// poem's −log p(x|z): 1 fits the posterior's mode, 0 the code that
	// rebuilds the poem best whatever the prior thinks of it.
	PriorWeight float64
}

// CeilingFit is the fit of eval --fit-steps (which sets Steps): codes
// free of the prior, to find how much any code makes the decoder give
// back. On the built-in model's validation poems 200 steps of 0.1 lower
// −log p(x|z) by 9.4 nats; with the prior kept in, the fit stays near the
// mean and rebuilds less than it (docs/RESULTS.md).
var CeilingFit = FitOptions{Steps: 200, LR: 0.1, PriorWeight: 0}

// FitCodes returns, for each poem, a code that explains it better than its
// posterior mean: starting there, Adam lowers
//
//	−log p(x | z) + PriorWeight · ½‖z‖² (+ the bag or rhyme loss of a model trained with one)
//
// by the gradient of the decoder under teacher forcing (semi-amortised
// inference, Kim et al. 2018, without the training through it). The
// encoder is an amortised guess, trained to be good on average and kept
// from saying much by the KL term: how much closer to a poem the decoder
// can be steered than the guess takes it tells whether the encoder or the
// decoder limits what a code rebuilds. Also returns each poem's
// −log p(x|z) at its mean (before) and at its fitted code (after). It
// runs on the CPU.
func (m *Model) FitCodes(poems []poetry.Poem, opt FitOptions) (z [][]float64, before, after []float64, err error) {
	if m.Config.LM {
		return nil, nil, nil, errors.New("a language model has no code to fit")
	}
	if opt.Steps < 0 || !(opt.LR > 0) || opt.PriorWeight < 0 || math.IsInf(opt.LR, 0) || math.IsInf(opt.PriorWeight, 0) {
		return nil, nil, nil, fmt.Errorf("fit options %+v: want steps ≥ 0, a finite step size > 0 and a finite prior weight ≥ 0", opt)
	}
	if err := checkEvalPoems(m, poems); err != nil {
		return nil, nil, nil, err
	}
	if err := m.decodable(); err != nil {
		return nil, nil, nil, err
	}
	mu, _, err := m.Encode(poems)
	if err != nil {
		return nil, nil, nil, err
	}
	c := m.Config
	Z, Td := c.Latent, c.DecSteps()
	n := m.Forward()
	bow := n.bowWeights(m.Params)
	z = make([][]float64, len(poems))
	before, after = make([]float64, len(poems)), make([]float64, len(poems))
	for _, b := range evalBatches(m, poems, evalRows) {
		rows := b.Rows
		flat := make([]float64, rows*Z)
		for r := 0; r < rows; r++ {
			copy(flat[r*Z:], mu[b.Index[r]])
		}
		decIn, targets := b.DecIn[:rows*Td], b.Target[:rows*Td]
		// gradient returns the objective's gradient for each poem, and
		// −log p(x|z) alone.
		gradient := func(zs []float64) (g, nll []float64) {
			nll, g = n.nllGradZ(zs, decIn, targets, rows)
			if bow != nil {
				addBagLoss(make([]float64, rows), g, zs, bow, c, targets, rows)
			}
			for i, v := range zs {
				g[i] += opt.PriorWeight * v // of ½‖z‖²
			}
			return g, nll
		}
		_, start := gradient(flat)
		m1, m2 := make([]float64, len(flat)), make([]float64, len(flat)) // Adam's moments
		for step := range opt.Steps {
			g, _ := gradient(flat)
			adamStep(flat, g, m1, m2, 1, opt.LR, step+1)
		}
		_, end := gradient(flat)
		for r := 0; r < rows; r++ {
			i := b.Index[r]
			z[i] = flat[r*Z : (r+1)*Z]
			before[i], after[i] = start[r], end[r]
		}
	}
	return z, before, after, nil
}

// bowWeights returns the weights of the bag's softmax (the rhyme loss's,
// or the bag of characters': Latent × Vocab, then the bias) as float64,
// or nil for a model trained with neither.
func (n *Net) bowWeights(p *Params) []float64 {
	if !n.Config.HasBag() {
		return nil
	}
	w, b := p.Get("bow.W"), p.Get("bow.b")
	nw := w.Shape().TotalSize()
	out := make([]float64, nw+b.Shape().TotalSize())
	convertInto(out[:nw], w.Data(), 0)
	convertInto(out[nw:], b.Data(), 0)
	return out
}

// addBagLoss adds the bag loss of each poem, −Σ log softmax(z·W + b)[x]
// over the characters of Config.BagSteps (those that end the even lines,
// for the rhyme loss), to f, and its gradient W·(k·p − Σ onehot(x)) to g,
// as the training step computes it.
func addBagLoss(f, g, z, bow []float64, c Config, targets []int, B int) {
	Z, V, Td := c.Latent, c.Vocab, c.DecSteps()
	w, bias := bow[:Z*V], bow[Z*V:]
	logits := make([]float64, B*V)
	for r := range B {
		copy(logits[r*V:(r+1)*V], bias)
	}
	blas64.Implementation().Dgemm(blas.NoTrans, blas.NoTrans, B, V, Z, 1, z, Z, w, V, 1, logits, V)
	dl := make([]float64, B*V)
	for r := range B {
		row, d := logits[r*V:(r+1)*V], dl[r*V:(r+1)*V]
		lse := logSumExp(row)
		ends := c.BagSteps()
		for _, t := range ends {
			id := targets[r*Td+t] // the target of step t is character t
			f[r] += lse - row[id]
			d[id]--
		}
		for j, l := range row {
			d[j] += float64(len(ends)) * math.Exp(l-lse)
		}
	}
	// g (B × Z) += dl (B × V) · Wᵀ (V × Z)
	blas64.Implementation().Dgemm(blas.NoTrans, blas.Trans, B, Z, V, 1, dl, V, w, V, 1, g, Z)
}

// nllGradZ returns −log p(targets | z) of each of B poems under teacher
// forcing, as NLL does, and its gradient with respect to z (B × Latent):
// the decoder's steps run forwards and backwards through the LSTM kernels
// of the training graph (lstmForward, lstmBackward), with z·Wz + b as
// every step's extra pre-activation and tanh(z·W + b) as the first state.
func (n *Net) nllGradZ(z []float64, decIn, targets []int, B int) (nll, dz []float64) {
	c := n.Config
	E, H, Z, V, Td := c.Embed, c.DecHidden, c.Latent, c.Vocab, c.DecSteps()
	zIn := make([]float64, B*4*H)
	matmul(zIn, z, B, Z, n.w["dec.Wz"], 4*H, false)
	addRows(zIn, n.w["dec.b"])
	h0 := make([]float64, B*H)
	matmul(h0, z, B, Z, n.w["dec_init.W"], H, false)
	addRows(h0, n.w["dec_init.b"])
	for i, v := range h0 {
		h0[i] = math.Tanh(v)
	}
	// The kernels' inputs: time-major embeddings, the weights and the extra
	// pre-activations gate by gate, and the first state.
	spec := lstmSpec{steps: Td, B: B, In: E, H: H, extra: true, h0: true}
	prev := make([]int, Td*B)
	for t := range Td {
		for b := range B {
			prev[t*B+b] = decIn[b*Td+t]
		}
	}
	gates := func(joined []float64, rows int) [][]float64 {
		g := make([][]float64, 4)
		for k := range g {
			g[k] = make([]float64, rows*H)
		}
		splitGates(g, joined, rows, H)
		return g
	}
	in := append([][]float64{n.embedRows(prev)}, gates(n.w["dec.Wx"], E)...)
	in = append(in, gates(n.w["dec.Wh"], H)...)
	in = append(in, gates(zIn, B)...)
	in = append(in, h0)
	rows := Td * B * H
	state := make([]float64, lstmBlocks*rows)
	lstmForward(spec, state, in)

	// Each step's softmax: −log p of its targets, and the gradient
	// softmax − onehot sent back through the output layer to the step's
	// hidden states (dState's first block, all lstmBackward reads of it).
	nll = make([]float64, B)
	dState := make([]float64, lstmBlocks*rows)
	logits := make([]float64, B*V)
	// With the code fed to the output layer, z·out.Wz joins every step's
	// logits, and the steps' logit gradients, summed, go back through it.
	var zOut, dzOut []float64
	if c.CodeToOutput {
		zOut, dzOut = make([]float64, B*V), make([]float64, B*V)
		matmul(zOut, z, B, Z, n.w["out.Wz"], V, false)
	}
	for t := range Td {
		hs := state[t*B*H : (t+1)*B*H]
		if zOut != nil {
			copy(logits, zOut)
		}
		matmul(logits, hs, B, H, n.w["out.W"], V, zOut != nil)
		addRows(logits, n.w["out.b"])
		for b := range B {
			row := logits[b*V : (b+1)*V]
			lse := logSumExp(row)
			target := targets[b*Td+t]
			nll[b] += lse - row[target]
			for j, l := range row {
				row[j] = math.Exp(l - lse)
			}
			row[target]--
		}
		if dzOut != nil {
			addTo(dzOut, logits)
		}
		blas64.Implementation().Dgemm(blas.NoTrans, blas.Trans, B, H, V, 1, logits, V, n.w["out.W"], V, 0, dState[t*B*H:(t+1)*B*H], H)
	}
	size := 0
	for _, sh := range spec.inputShapes() {
		size += sh.TotalSize()
	}
	grads := make([]float64, size)
	lstmBackward(spec, grads, append(in, state, dState))

	// The extra pre-activations' gradients, gate by gate, are zIn's; the
	// last is the first state's, through its tanh.
	dh0 := grads[size-B*H:]
	dExtra := grads[size-B*H-4*B*H : size-B*H]
	dzIn := make([]float64, B*4*H)
	for k := range 4 {
		for b := range B {
			copy(dzIn[b*4*H+k*H:b*4*H+(k+1)*H], dExtra[k*B*H+b*H:k*B*H+(b+1)*H])
		}
	}
	for i, v := range h0 {
		dh0[i] *= 1 - v*v
	}
	dz = make([]float64, B*Z)
	blas64.Implementation().Dgemm(blas.NoTrans, blas.Trans, B, Z, 4*H, 1, dzIn, 4*H, n.w["dec.Wz"], 4*H, 0, dz, Z)
	blas64.Implementation().Dgemm(blas.NoTrans, blas.Trans, B, Z, H, 1, dh0, H, n.w["dec_init.W"], H, 1, dz, Z)
	if dzOut != nil {
		blas64.Implementation().Dgemm(blas.NoTrans, blas.Trans, B, Z, V, 1, dzOut, V, n.w["out.Wz"], V, 1, dz, Z)
	}
	return nll, dz
}
