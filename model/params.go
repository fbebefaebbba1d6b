package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gorgonia.org/tensor"
)

// Params holds the model's weights in a fixed order. The order and the
// names are part of the checkpoint format.
type Params struct {
	Config Config
	Names  []string
	Values []*tensor.Dense // all float32 or all float64, row-major
	index  map[string]int
}

// LSTM gates: input, forget, cell candidate, output.
var gateNames = [4]string{"i", "f", "g", "o"}

// layout lists every parameter and its shape. Biases are 1×n matrices so
// they broadcast over the rows of a batch.
func layout(c Config) (names []string, shapes [][2]int) {
	add := func(name string, r, k int) {
		names = append(names, name)
		shapes = append(shapes, [2]int{r, k})
	}
	E, He, Hd, Z, V := c.Embed, c.EncHidden, c.DecHidden, c.Latent, c.Vocab
	add("embed", V, E)
	if c.LM {
		for _, g := range gateNames {
			add("dec.Wx."+g, E, Hd)
			add("dec.Wh."+g, Hd, Hd)
			add("dec.b."+g, 1, Hd)
		}
		add("out.W", Hd, V)
		add("out.b", 1, V)
		return names, shapes
	}
	for l := 0; l < c.Highway; l++ {
		p := fmt.Sprintf("highway%d.", l)
		add(p+"W", E, E)
		add(p+"b", 1, E)
		add(p+"Wgate", E, E)
		add(p+"bgate", 1, E)
	}
	// Each LSTM gate has weights of its own rather than one slice of a
	// 4H-wide matrix: every per-gate product is then a contiguous matrix,
	// which Gorgonia's element-wise kernels require (they miscompute on
	// column views of wide matrices).
	lstm := func(prefix string, in, H int, withZ bool) {
		for _, g := range gateNames {
			add(prefix+"Wx."+g, in, H)
			if withZ {
				add(prefix+"Wz."+g, Z, H)
			}
			add(prefix+"Wh."+g, H, H)
			add(prefix+"b."+g, 1, H)
		}
	}
	lstm("enc_fwd.", E, He, false)
	lstm("enc_bwd.", E, He, false)
	// mu and log σ² read [h_fwd ; h_bwd] through one weight block per
	// direction: h_fwd·Wf + h_bwd·Wb equals [h_fwd ; h_bwd]·W without a
	// concatenation, whose gradient Gorgonia would pass on as column views.
	add("mu.Wf", He, Z)
	add("mu.Wb", He, Z)
	add("mu.b", 1, Z)
	add("logvar.Wf", He, Z)
	add("logvar.Wb", He, Z)
	add("logvar.b", 1, Z)
	add("dec_init.W", Z, Hd)
	add("dec_init.b", 1, Hd)
	lstm("dec.", E, Hd, true)
	add("out.W", Hd, V)
	add("out.b", 1, V)
	if c.CodeToOutput {
		add("out.Wz", Z, V)
	}
	if c.HasBag() {
		add("bow.W", Z, V)
		add("bow.b", 1, V)
	}
	return names, shapes
}

// NewParams allocates parameters of the given type (tensor.Float32 for
// training, tensor.Float64 for gradient checks) initialised from seed:
// uniform ±1/√fan-in weights, LSTM forget-gate biases at 1 (remember by
// default), highway gate biases at −2 (carry the input through at first).
func NewParams(c Config, dt tensor.Dtype, seed uint64) (*Params, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("parameters must be float32 or float64, not %v", dt)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := newParams(c, dt)
	for i, name := range p.Names {
		shape := p.Values[i].Shape()
		vals := make([]float64, shape.TotalSize())
		switch {
		case name == "out.Wz":
			// zeros: the model starts as one without the path from its
			// code to the output layer, and learns what to send through it.
		case name == "embed":
			for j := range vals {
				vals[j] = rng.NormFloat64() * 0.1
			}
		case shape[0] == 1: // a bias
			initBias(name, vals)
		default:
			bound := 1 / math.Sqrt(float64(shape[0]))
			for j := range vals {
				vals[j] = (2*rng.Float64() - 1) * bound
			}
		}
		p.set(i, vals)
	}
	return p, nil
}

func initBias(name string, vals []float64) {
	switch {
	case strings.HasSuffix(name, ".b.f"):
		fill(vals, 1)
	case strings.HasPrefix(name, "highway") && strings.HasSuffix(name, ".bgate"):
		fill(vals, -2)
	}
}

func fill(v []float64, x float64) {
	for i := range v {
		v[i] = x
	}
}

// newParams allocates zeroed parameters for c.
func newParams(c Config, dt tensor.Dtype) *Params {
	names, shapes := layout(c)
	p := &Params{Config: c, Names: names, index: map[string]int{}}
	for i, n := range names {
		p.index[n] = i
		p.Values = append(p.Values, tensor.New(tensor.Of(dt), tensor.WithShape(shapes[i][0], shapes[i][1])))
	}
	return p
}

// Get returns the named parameter.
func (p *Params) Get(name string) *tensor.Dense {
	i, ok := p.index[name]
	if !ok {
		panic("model: no parameter " + name) // a programming error, never input
	}
	return p.Values[i]
}

// Count is the number of scalar weights.
func (p *Params) Count() int {
	n := 0
	for _, v := range p.Values {
		n += v.Shape().TotalSize()
	}
	return n
}

// Float64s returns a copy of parameter i as float64.
func (p *Params) Float64s(i int) []float64 {
	return toFloat64(p.Values[i].Data())
}

func (p *Params) set(i int, vals []float64) {
	switch d := p.Values[i].Data().(type) {
	case []float32:
		for j, v := range vals {
			d[j] = float32(v)
		}
	case []float64:
		copy(d, vals)
	}
}

// As returns a copy of the parameters in another float type.
func (p *Params) As(dt tensor.Dtype) *Params {
	q := newParams(p.Config, dt)
	for i := range p.Values {
		q.set(i, p.Float64s(i))
	}
	return q
}

func toFloat64(data any) []float64 {
	switch d := data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	}
	panic(fmt.Sprintf("model: unexpected data %T", data))
}
