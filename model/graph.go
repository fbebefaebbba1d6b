package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Feed is one batch laid out for the graph: ids are time-major (step t of
// poem b at t*B+b), so that each step's rows are contiguous.
type Feed struct {
	B        int       // rows in the batch (fixed by the graph)
	EncIDs   []int     // EncSteps×B characters
	DecIDs   []int     // DecSteps×B: BOS, then characters (some may be word-dropped to UNK)
	Targets  []int     // DecSteps×B: characters, then EOS
	Weight   []float64 // B: 1/real rows for real poems, 0 for padding rows
	Eps      []float64 // B×Latent standard normal noise for z = mu + σ·ε
	EncMask  []float64 // EncSteps×B×Embed inverted-dropout mask; nil means none
	DecMask  []float64 // DecSteps×B×DecHidden inverted-dropout mask; nil means none
	Beta     float64   // weight of the KL term
	FreeBits float64   // floor on the batch KL of each latent dimension, in nats
}

// Graph is the training graph for one batch size: built once, run for every
// batch of that size.
type Graph struct {
	cfg    Config
	B      int
	g      *G.ExprGraph
	params []*G.Node
	grads  G.Nodes
	vm     G.VM

	encIDs, decIDs, targets *tensor.Dense
	tokW, klW, eps, encMask *tensor.Dense
	decMask, freeBits       *tensor.Dense
	bagRows, bagW           *tensor.Dense // the bag's row map and weights (Config.HasBag)
	codeRows                *tensor.Dense // the step-to-poem row map of z·out.Wz (Config.CodeToOutput)
	bagTargets              *tensor.Dense // its characters, when it predicts only some steps'
	beta                    *G.Node
	// reads receives the scalars G.Read copies out of each run. It is an
	// object of its own: Read keeps a pointer to its target, and a pointer
	// into Graph would close a cycle from Gorgonia's tape machine back to
	// itself, which its finalizer then keeps from ever being collected
	// (every closed graph stayed in memory).
	reads *graphReads
}

// graphReads are the values a run of the graph reports.
type graphReads struct{ loss, nll, kl, bag G.Value }

// Stats are what one run of the graph measured, averaged over real poems.
type Stats struct {
	Loss float64 // the objective: NLL + β·KL (with the free-bits floor)
	NLL  float64 // reconstruction: −log p(x|z), summed over steps
	KL   float64 // KL(q(z|x) ‖ N(0, I)), summed over dimensions
	Bag  float64 // the bag's loss, when the model has one (see Config.HasBag)
}

// NewGraph builds the forward pass, the loss and its gradient for batches of
// B poems of the model's length, over the given parameters (bound by
// reference: updating their data in place updates the graph).
func NewGraph(p *Params, B int) (*Graph, error) {
	c := p.Config
	dt := p.Values[0].Dtype()
	T, Td := c.EncSteps(), c.DecSteps()
	E, Hd, Z := c.Embed, c.DecHidden, c.Latent
	gr := &Graph{cfg: c, B: B, g: G.NewGraph()}
	g := gr.g

	node := map[string]*G.Node{}
	for i, name := range p.Names {
		n := G.NewMatrix(g, dt, G.WithName(name), G.WithValue(p.Values[i]))
		node[name] = n
		gr.params = append(gr.params, n)
	}
	input := func(name string, dense **tensor.Dense, d tensor.Dtype, shape ...int) *G.Node {
		*dense = tensor.New(tensor.Of(d), tensor.WithShape(shape...))
		if len(shape) == 1 {
			return G.NewVector(g, d, G.WithName(name), G.WithValue(*dense))
		}
		return G.NewMatrix(g, d, G.WithName(name), G.WithValue(*dense))
	}
	decIDs := input("dec_ids", &gr.decIDs, tensor.Int, Td*B)
	targets := input("targets", &gr.targets, tensor.Int, Td*B)
	tokW := input("token_weight", &gr.tokW, dt, Td*B)
	decMask := input("dec_mask", &gr.decMask, dt, Td*B, Hd)

	b := &builder{}
	var z, klTotal, klLoss, encIDs *G.Node
	if !c.LM {
		encIDs = input("enc_ids", &gr.encIDs, tensor.Int, T*B)
		enc := encoderInputs{
			ids:      encIDs,
			mask:     input("enc_mask", &gr.encMask, dt, T*B, E),
			eps:      input("eps", &gr.eps, dt, B, Z),
			klWeight: input("kl_weight", &gr.klW, dt, B, Z),
			freeBits: input("free_bits", &gr.freeBits, dt, 1, Z),
		}
		z, klTotal, klLoss = b.encoder(c, node, enc, B)
	}

	// Decoder: [embedding; z] at every step. The z half of the input product
	// is the same at every step, so it is computed once (z·Wz + b) and added.
	xd := b.do(gatherRows(node["embed"], decIDs))
	var wx, bx, zIn, wh [4]*G.Node
	for k, gname := range gateNames {
		wx[k], wh[k] = node["dec.Wx."+gname], node["dec.Wh."+gname]
		if c.LM {
			bx[k] = node["dec.b."+gname]
			continue
		}
		zIn[k] = b.affine(z, node["dec.Wz."+gname], node["dec.b."+gname])
	}
	var h0 *G.Node
	if !c.LM {
		h0 = b.do(G.Tanh(b.affine(z, node["dec_init.W"], node["dec_init.b"])))
	}
	hs := b.hidden(b.lstm(xd, wx, bx, zIn, wh, h0, Td, B, false), 0, Td, B)
	hs = b.do(G.HadamardProd(hs, decMask))
	logits := b.do(G.Mul(hs, node["out.W"]))
	if c.CodeToOutput {
		// z·out.Wz, the same for every step of a poem: computed once per
		// poem and taken for each step (rows time-major, as the logits).
		rows := input("code_rows", &gr.codeRows, tensor.Int, Td*B)
		for i := range Td * B {
			gr.codeRows.Ints()[i] = i % B
		}
		logits = b.do(G.Add(logits, b.do(gatherRows(b.do(G.Mul(z, node["out.Wz"])), rows))))
	}
	// The output bias joins the logits inside the loss (see softmaxXent).
	nllTok := b.do(softmaxXent(logits, node["out.b"], targets))
	nll := b.do(G.Sum(b.do(G.HadamardProd(nllTok, tokW))))
	loss := nll
	if !c.LM {
		gr.beta = G.NewScalar(g, dt, G.WithName("beta"))
		loss = b.do(G.Add(nll, b.do(G.Mul(gr.beta, klLoss))))
	}
	var bag *G.Node
	if c.HasBag() {
		// −Σₜ log softmax(z·W + b)[xₜ] over the bag's steps: the logits of
		// each poem, taken once for each of those characters (rows laid
		// out as the encoder's ids, time-major), through the decoder's own
		// softmax cross-entropy.
		n := len(c.BagSteps())
		rows := input("bag_rows", &gr.bagRows, tensor.Int, n*B)
		for i := range n * B {
			gr.bagRows.Ints()[i] = i % B
		}
		bagTargets := encIDs
		if n < T {
			bagTargets = input("bag_targets", &gr.bagTargets, tensor.Int, n*B)
		}
		bagW := input("bag_weight", &gr.bagW, dt, n*B)
		logits := b.do(gatherRows(b.do(G.Mul(z, node["bow.W"])), rows))
		bagTok := b.do(softmaxXent(logits, node["bow.b"], bagTargets))
		bag = b.do(G.Sum(b.do(G.HadamardProd(bagTok, bagW))))
		loss = b.do(G.Add(loss, bag))
	}
	if b.err != nil {
		return nil, fmt.Errorf("building the training graph: %w", b.err)
	}

	gr.reads = new(graphReads)
	G.Read(loss, &gr.reads.loss)
	G.Read(nll, &gr.reads.nll)
	if klTotal != nil {
		G.Read(klTotal, &gr.reads.kl)
	}
	if bag != nil {
		G.Read(bag, &gr.reads.bag)
	}
	grads, err := G.Grad(loss, gr.params...)
	if err != nil {
		return nil, fmt.Errorf("differentiating the training graph: %w", err)
	}
	gr.grads = grads
	gr.vm = G.NewTapeMachine(g)
	return gr, nil
}

// encoderInputs are the graph inputs only a VAE has.
type encoderInputs struct {
	ids, mask, eps, klWeight, freeBits *G.Node
}

// encoder builds q(z|x): embedding, highway, dropout, a bidirectional LSTM
// over all steps, then mu and log σ²; it returns z = mu + σ·ε, the batch KL
// and the KL term of the loss (with the free-bits floor).
func (b *builder) encoder(c Config, node map[string]*G.Node, in encoderInputs, B int) (z, klTotal, klLoss *G.Node) {
	T, Z := c.EncSteps(), c.Latent
	x := b.do(gatherRows(node["embed"], in.ids))
	for l := 0; l < c.Highway; l++ {
		pre := fmt.Sprintf("highway%d.", l)
		x = b.highway(x, node[pre+"W"], node[pre+"b"], node[pre+"Wgate"], node[pre+"bgate"])
	}
	x = b.do(G.HadamardProd(x, in.mask))
	var hEnds [2]*G.Node
	for dir, pre := range []string{"enc_fwd.", "enc_bwd."} {
		var wx, bx, wh [4]*G.Node
		for k, gname := range gateNames {
			wx[k], bx[k], wh[k] = node[pre+"Wx."+gname], node[pre+"b."+gname], node[pre+"Wh."+gname]
		}
		// The final state: the last step forwards, the first backwards.
		reverse, final := dir == 1, T-1
		if reverse {
			final = 0
		}
		hEnds[dir] = b.hidden(b.lstm(x, wx, bx, [4]*G.Node{}, wh, nil, T, B, reverse), final, 1, B)
	}
	if b.err != nil {
		return nil, nil, nil
	}
	mu := b.do(G.Add(b.affine(hEnds[0], node["mu.Wf"], node["mu.b"]), b.do(G.Mul(hEnds[1], node["mu.Wb"]))))
	logvar := b.do(G.Add(b.affine(hEnds[0], node["logvar.Wf"], node["logvar.b"]), b.do(G.Mul(hEnds[1], node["logvar.Wb"]))))

	// Reparameterisation and the KL of each poem and dimension:
	// KL = ½(mu² + σ² − 1 − log σ²).
	dt := node["embed"].Dtype()
	sigma := b.do(G.Exp(b.do(G.HadamardProd(logvar, b.scalar(dt, 0.5)))))
	z = b.do(G.Add(mu, b.do(G.HadamardProd(sigma, in.eps))))
	kl := b.do(G.Sub(b.do(G.Add(b.do(G.Square(mu)), b.do(G.Exp(logvar)))), b.do(G.Add(logvar, b.scalar(dt, 1)))))
	kl = b.do(G.HadamardProd(kl, b.scalar(dt, 0.5)))
	klDim := b.do(G.Sum(b.do(G.HadamardProd(kl, in.klWeight)), 0)) // batch mean per dimension (weights are 1/rows)
	klTotal = b.do(G.Sum(klDim))
	// Free bits: max(KL_d, λ) = λ + relu(KL_d − λ), a floor the optimiser
	// cannot gain from pushing a dimension below.
	if b.err != nil {
		return nil, nil, nil
	}
	excess := b.do(G.Rectify(b.do(G.Sub(b.do(G.Reshape(klDim, tensor.Shape{1, Z})), in.freeBits))))
	klLoss = b.do(G.Sum(b.do(G.Add(excess, in.freeBits))))
	return z, klTotal, klLoss
}

// Run binds a batch, computes the loss and the gradients, and returns the
// batch's figures. The gradients stay readable through Grad until the next Run.
func (gr *Graph) Run(f *Feed) (Stats, error) {
	if err := gr.bind(f); err != nil {
		return Stats{}, err
	}
	gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return Stats{}, fmt.Errorf("running the training graph: %w", err)
	}
	st := Stats{Loss: scalarOf(gr.reads.loss), NLL: scalarOf(gr.reads.nll)}
	if gr.reads.kl != nil {
		st.KL = scalarOf(gr.reads.kl)
	}
	if gr.reads.bag != nil {
		st.Bag = scalarOf(gr.reads.bag)
	}
	return st, nil
}

// Grad returns the gradient of parameter i from the last Run (not a copy).
func (gr *Graph) Grad(i int) *tensor.Dense { return gr.grads[i].Value().(*tensor.Dense) }

// Close releases the machine.
func (gr *Graph) Close() error { return gr.vm.Close() }

func (gr *Graph) bind(f *Feed) error {
	c, B := gr.cfg, gr.B
	T, Td, Z := c.EncSteps(), c.DecSteps(), c.Latent
	switch {
	case f.B != B:
		return fmt.Errorf("batch of %d poems for a graph of %d", f.B, B)
	case len(f.EncIDs) != T*B || len(f.DecIDs) != Td*B || len(f.Targets) != Td*B:
		return fmt.Errorf("batch ids do not match %d-line poems", c.Lines)
	case len(f.Weight) != B || len(f.Eps) != B*Z:
		return fmt.Errorf("batch weights or noise have the wrong size")
	}
	for _, ids := range [][]int{f.EncIDs, f.DecIDs, f.Targets} {
		for _, id := range ids {
			if id < 0 || id >= c.Vocab {
				return fmt.Errorf("character id %d outside the vocabulary of %d", id, c.Vocab)
			}
		}
	}
	copy(gr.decIDs.Ints(), f.DecIDs)
	copy(gr.targets.Ints(), f.Targets)
	tokW := make([]float64, Td*B)
	for t := 0; t < Td; t++ {
		copy(tokW[t*B:(t+1)*B], f.Weight)
	}
	setFloats(gr.tokW, tokW)
	setMask(gr.decMask, f.DecMask)
	if c.LM { // no encoder, no KL
		return nil
	}
	copy(gr.encIDs.Ints(), f.EncIDs)
	klW := make([]float64, B*Z)
	for r := 0; r < B; r++ {
		fill(klW[r*Z:(r+1)*Z], f.Weight[r])
	}
	setFloats(gr.klW, klW)
	if gr.bagW != nil {
		steps := c.BagSteps()
		bagW := make([]float64, len(steps)*B)
		for k, t := range steps {
			copy(bagW[k*B:(k+1)*B], f.Weight)
			if gr.bagTargets != nil {
				copy(gr.bagTargets.Ints()[k*B:(k+1)*B], f.EncIDs[t*B:(t+1)*B])
			}
		}
		setFloats(gr.bagW, bagW)
	}
	setFloats(gr.eps, f.Eps)
	setMask(gr.encMask, f.EncMask)
	var beta G.Value = G.NewF64(f.Beta)
	if gr.beta.Dtype() == tensor.Float32 {
		beta = G.NewF32(float32(f.Beta))
	}
	if err := G.Let(gr.beta, beta); err != nil {
		return err
	}
	free := make([]float64, Z)
	fill(free, f.FreeBits)
	setFloats(gr.freeBits, free)
	return nil
}

func setMask(d *tensor.Dense, mask []float64) {
	if mask == nil {
		switch x := d.Data().(type) {
		case []float32:
			for i := range x {
				x[i] = 1
			}
		case []float64:
			fill(x, 1)
		}
		return
	}
	setFloats(d, mask)
}

func setFloats(d *tensor.Dense, v []float64) {
	switch x := d.Data().(type) {
	case []float32:
		for i := range x {
			x[i] = float32(v[i])
		}
	case []float64:
		copy(x, v)
	}
}

func scalarOf(v G.Value) float64 {
	switch x := v.Data().(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	case []float32:
		return float64(x[0])
	case []float64:
		return x[0]
	}
	panic(fmt.Sprintf("model: unexpected scalar %T", v.Data()))
}

// builder threads the first error through a chain of graph constructions,
// so the model reads as maths rather than as error checks.
type builder struct{ err error }

func (b *builder) do(n *G.Node, err error) *G.Node {
	if b.err == nil && err != nil {
		b.err = err
	}
	return n
}

func (b *builder) scalar(dt tensor.Dtype, v float64) *G.Node {
	if dt == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// affine is x·W + b with b broadcast over rows.
func (b *builder) affine(x, w, bias *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	xw := b.do(G.Mul(x, w))
	if b.err != nil {
		return nil
	}
	return b.do(G.BroadcastAdd(xw, bias, nil, []byte{0}))
}

// highway is y = x + t⊙(relu(x·W + b) − x), t = σ(x·Wgate + bgate): the
// usual t⊙h + (1−t)⊙x with one product fewer.
func (b *builder) highway(x, w, bias, wg, bg *G.Node) *G.Node {
	h := b.do(G.Rectify(b.affine(x, w, bias)))
	t := b.do(G.Sigmoid(b.affine(x, wg, bg)))
	return b.do(G.Add(x, b.do(G.HadamardProd(t, b.do(G.Sub(h, x))))))
}

// lstm runs an LSTM layer over steps (see lstmSeq) and returns its state,
// whose first steps·B rows are the hidden states of every step in time
// order: the callers take the rows they use, so no other rows are copied.
func (b *builder) lstm(x *G.Node, wx, bx, extra, wh [4]*G.Node, h0 *G.Node, steps, B int, reverse bool) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.do(lstmSeq(x, wx, bx, extra, wh, h0, steps, B, reverse))
}

// hidden takes the hidden states of steps first…first+n−1 out of an LSTM's
// state.
func (b *builder) hidden(state *G.Node, first, n, B int) *G.Node {
	if b.err != nil {
		return nil
	}
	return b.do(rowsOf(state, first*B, n*B))
}
