//go:build gpu

package model

import (
	"fmt"
	"math"

	"poetvae/corpus"
	"poetvae/cuda"
	"poetvae/model/noise"
)

// HasCUDA reports whether this build has the GPU engine.
const HasCUDA = true

// gpuEngine trains on a GPU: the parameters, gradients and Adam's moments
// stay on the device for the whole run and come back only when pulled.
type gpuEngine struct {
	dev   *cuda.Device
	tr    *cuda.Trainer
	cfg   Config
	ids   []int32
	conv  *gpuLayout
	dirty bool // the device has steps the host copies lack
}

func openGPU(index int, tf32 bool, m *Model, st *TrainState) (engine, error) {
	dev, err := cuda.Open(index)
	if err != nil {
		return nil, err
	}
	dev.TF32 = tf32
	e, err := newGPUEngine(dev, m.Params, st.Config.BatchSize)
	if err != nil {
		dev.Close()
		return nil, err
	}
	if err := e.push(m.Params, st); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func newGPUEngine(dev *cuda.Device, p *Params, B int) (*gpuEngine, error) {
	shape := GPUShape(p.Config)
	tr, err := cuda.NewTrainer(dev, shape, B)
	if err != nil {
		return nil, fmt.Errorf("on %s: %w", dev.Name(), err)
	}
	return &gpuEngine{dev: dev, tr: tr, cfg: p.Config, conv: newGPULayout(p, shape),
		ids: make([]int32, B*(p.Config.EncSteps()+2*p.Config.DecSteps()))}, nil
}

// GPUShape is the engine's view of a model's sizes.
func GPUShape(c Config) cuda.Shape {
	return cuda.Shape{Vocab: c.Vocab, Embed: c.Embed, Highway: c.Highway, EncHidden: c.EncHidden,
		DecHidden: c.DecHidden, Latent: c.Latent, EncSteps: c.EncSteps(), LM: c.LM, BagSteps: c.BagSteps(),
		CodeToOutput: c.CodeToOutput}
}

// push uploads the parameters and, when the state has them, the moments.
func (e *gpuEngine) push(p *Params, st *TrainState) error {
	flat := make([]float32, e.tr.Size())
	e.conv.toFlat(flat, p.Float64s)
	if err := e.tr.SetParams(flat); err != nil {
		return err
	}
	if st == nil || len(st.adamM) == 0 {
		return nil
	}
	mo, v := make([]float32, e.tr.Size()), make([]float32, e.tr.Size())
	e.conv.toFlat(mo, func(i int) []float64 { return st.adamM[i] })
	e.conv.toFlat(v, func(i int) []float64 { return st.adamV[i] })
	return e.tr.SetMoments(mo, v)
}

func (e *gpuEngine) pull(m *Model, st *TrainState) error {
	if !e.dirty {
		return nil
	}
	w, err := e.tr.Params()
	if err != nil {
		return err
	}
	mo, v, err := e.tr.Moments()
	if err != nil {
		return err
	}
	// Straight into the model's tensors and the state's moments: three
	// copies of every parameter each epoch, without a temporary one.
	for i := range m.Params.Values {
		switch d := m.Params.Values[i].Data().(type) {
		case []float32:
			unflatten(e.conv, d, w, i)
		case []float64:
			unflatten(e.conv, d, w, i)
		default:
			return fmt.Errorf("parameter %s holds %T", m.Params.Names[i], d)
		}
		unflatten(e.conv, st.adamM[i], mo, i)
		unflatten(e.conv, st.adamV[i], v, i)
	}
	e.dirty = false
	return nil
}

func (e *gpuEngine) step(b *corpus.Batch, st *TrainState, beta float64) (Stats, float64, error) {
	e.layIDs(b)
	e.dirty = true
	s, err := e.tr.Step(e.ids, e.stepParams(b, st, beta))
	if err != nil {
		return Stats{}, 0, err
	}
	if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
		return Stats{}, 0, fmt.Errorf("loss became %v at step %d; try a lower --lr", s.Loss, st.Step+1)
	}
	return Stats{Loss: s.Loss, NLL: s.NLL, KL: s.KL, Bag: s.Bag}, s.GradNorm, nil
}

func (e *gpuEngine) stepParams(b *corpus.Batch, st *TrainState, beta float64) cuda.StepParams {
	cfg := st.Config
	return cuda.StepParams{Noise: noise.New(cfg.Seed, st.Step), Rows: b.Rows, Dropout: e.cfg.Dropout,
		WordDropout: cfg.WordDropout, Beta: beta, FreeBits: cfg.FreeBits, Clip: cfg.Clip, LR: st.LR(), Step: st.AdamStep()}
}

// layIDs writes a batch's ids time-major: encoder characters, decoder
// inputs (the GPU applies word dropout), targets.
func (e *gpuEngine) layIDs(b *corpus.Batch) {
	B, T, Td := b.Size, e.cfg.EncSteps(), e.cfg.DecSteps()
	dec, tgt := e.ids[T*B:], e.ids[(T+Td)*B:]
	for r := 0; r < B; r++ {
		for s := 0; s < T; s++ {
			e.ids[s*B+r] = int32(b.Enc[r*T+s])
		}
		for s := 0; s < Td; s++ {
			dec[s*B+r] = int32(b.DecIn[r*Td+s])
			tgt[s*B+r] = int32(b.Target[r*Td+s])
		}
	}
}

// launches counts the kernels launched on the device so far.
func (e *gpuEngine) launches() int { return e.dev.Launches() }

// setGraphs turns the step's CUDA graph on or off (on from Open), for
// the benchmark's comparison.
func (e *gpuEngine) setGraphs(on bool) { e.dev.Graphs = on }

func (e *gpuEngine) name() string {
	name := e.dev.Name()
	if e.dev.TF32 {
		name += " (TF32 tensor cores)"
	}
	if e.dev.GraphsOff != "" {
		name += " (kernels launched one by one: " + e.dev.GraphsOff + ")"
	}
	return name
}

// inference runs validation on the training GPU. The model's parameters
// come from the host copy that the epoch's pull has just refreshed.
func (e *gpuEngine) inference() gpuInference { return &cudaInference{dev: e.dev, shared: true} }

func (e *gpuEngine) close() {
	e.tr.Close()
	e.dev.Close()
}

// gpuLayout maps the model's parameters (one matrix per LSTM gate) to the
// engine's flat buffer (gates side by side).
type gpuLayout struct {
	parts [][]gpuPart // per model parameter: where its columns go
	size  int
}

// gpuPart places a parameter of rows × cols as columns col0… of a flat
// tensor at offset with width columns.
type gpuPart struct {
	offset, width, col0, rows, cols int
}

func newGPULayout(p *Params, s cuda.Shape) *gpuLayout {
	l := &gpuLayout{parts: make([][]gpuPart, len(p.Names))}
	for _, t := range cuda.Layout(s) {
		if i, ok := p.index[t.Name]; ok {
			l.parts[i] = append(l.parts[i], gpuPart{offset: l.size, width: t.Cols, rows: t.Rows, cols: t.Cols})
		} else {
			H := t.Cols / 4
			for k, g := range gateNames {
				i, ok := p.index[t.Name+"."+g]
				if !ok {
					panic("model: the GPU layout names " + t.Name + ", which the model lacks")
				}
				l.parts[i] = append(l.parts[i], gpuPart{offset: l.size, width: t.Cols, col0: k * H, rows: t.Rows, cols: H})
			}
		}
		l.size += t.Rows * t.Cols
	}
	for i, parts := range l.parts {
		if len(parts) != 1 {
			panic("model: parameter " + p.Names[i] + " has no place in the GPU layout")
		}
	}
	return l
}

func (l *gpuLayout) toFlat(flat []float32, values func(i int) []float64) {
	for i, parts := range l.parts {
		v := values(i)
		pt := parts[0]
		for r := 0; r < pt.rows; r++ {
			for c := 0; c < pt.cols; c++ {
				flat[pt.offset+r*pt.width+pt.col0+c] = float32(v[r*pt.cols+c])
			}
		}
	}
}

// unflatten copies model parameter i from the engine's flat buffer into
// dst (rows × cols, row-major).
func unflatten[T float32 | float64](l *gpuLayout, dst []T, flat []float32, i int) {
	pt := l.parts[i][0]
	if len(dst) != pt.rows*pt.cols {
		panic(fmt.Sprintf("model: %d values for a parameter of %d × %d", len(dst), pt.rows, pt.cols)) // a programming error
	}
	for r := 0; r < pt.rows; r++ {
		row := flat[pt.offset+r*pt.width+pt.col0:][:pt.cols]
		for c, x := range row {
			dst[r*pt.cols+c] = T(x)
		}
	}
}

// cudaInference encodes and decodes on a GPU: the parameters are uploaded
// once (again after a Refresh); each batch of poems gets a cuda.Decoder.
type cudaInference struct {
	dev *cuda.Device
	ws  *cuda.Weights
	// shared is set when the device is the training engine's, which
	// closes it.
	shared bool
}

func openGPUInference(index int) (gpuInference, error) {
	dev, err := cuda.Open(index)
	if err != nil {
		return nil, err
	}
	return &cudaInference{dev: dev}, nil
}

// weights returns the model's parameters on the device, uploading them
// when they are not there.
func (g *cudaInference) weights(m *Model) (*cuda.Weights, error) {
	if g.ws == nil {
		shape := GPUShape(m.Config)
		layout := newGPULayout(m.Params, shape)
		flat := make([]float32, layout.size)
		layout.toFlat(flat, m.Params.Float64s)
		ws, err := cuda.UploadWeights(g.dev, shape, flat)
		if err != nil {
			return nil, err
		}
		g.ws = ws
	}
	return g.ws, nil
}

func (g *cudaInference) encode(m *Model, ids []int, B int) (mu, logvar []float64, err error) {
	ws, err := g.weights(m)
	if err != nil {
		return nil, nil, err
	}
	ids32 := make([]int32, len(ids))
	for i, id := range ids {
		ids32[i] = int32(id)
	}
	mu32, logvar32, err := ws.Encode(ids32, B)
	if err != nil {
		return nil, nil, err
	}
	return toFloat64(mu32), toFloat64(logvar32), nil
}

func (g *cudaInference) newDecoder(m *Model, z []float64, B int) (stepDecoder, error) {
	ws, err := g.weights(m)
	if err != nil {
		return nil, err
	}
	z32 := make([]float32, len(z))
	for i, v := range z {
		z32[i] = float32(v)
	}
	dec, err := ws.NewDecoder(z32, B)
	if err != nil {
		return nil, err
	}
	return &gpuStepDecoder{dec: dec, prev: make([]int32, B), tgt: make([]int32, B),
		logits: make([]float64, B*m.Config.Vocab), nlls: make([]float64, B)}, nil
}

func (g *cudaInference) refresh() {
	if g.ws != nil {
		g.ws.Close()
		g.ws = nil
	}
}

func (g *cudaInference) close() {
	g.refresh()
	if !g.shared {
		g.dev.Close()
	}
}

// gpuStepDecoder adapts cuda.Decoder to the decoding loops: ids as int,
// logits as float64, the first error kept for Err.
type gpuStepDecoder struct {
	dec          *cuda.Decoder
	prev, tgt    []int32
	logits, nlls []float64 // Step's and stepNLL's results, reused
	err          error
}

func (d *gpuStepDecoder) Step(prev []int) []float64 {
	if d.err == nil {
		for i, id := range prev {
			d.prev[i] = int32(id)
		}
		var l []float32
		if l, d.err = d.dec.Step(d.prev); d.err == nil {
			for i, v := range l {
				d.logits[i] = float64(v)
			}
			return d.logits
		}
	}
	clear(d.logits)
	return d.logits
}

// stepNLL is Step taking the softmax on the device (nllStepper): only each
// poem's −log p(target) comes back, valid until the next call.
func (d *gpuStepDecoder) stepNLL(prev, targets []int) []float64 {
	if d.err == nil {
		for i := range prev {
			d.prev[i], d.tgt[i] = int32(prev[i]), int32(targets[i])
		}
		var l []float32
		if l, d.err = d.dec.StepNLL(d.prev, d.tgt); d.err == nil {
			for i, v := range l {
				d.nlls[i] = float64(v)
			}
			return d.nlls
		}
	}
	clear(d.nlls)
	return d.nlls
}

func (d *gpuStepDecoder) Reorder(src []int) {
	if d.err != nil {
		return
	}
	rows := make([]int32, len(src))
	for i, r := range src {
		rows[i] = int32(r)
	}
	d.err = d.dec.Reorder(rows)
}

func (d *gpuStepDecoder) Err() error { return d.err }

func (d *gpuStepDecoder) Close() { d.dec.Close() }
