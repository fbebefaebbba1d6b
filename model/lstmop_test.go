package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lstmUnrolled is the reference for lstmSeq: the same layer built from
// Gorgonia's own ops, one gate and one step at a time, differentiated by
// Gorgonia. It returns the hidden states in time order and the final one.
func lstmUnrolled(b *builder, x *G.Node, wx, bx, extra, wh [4]*G.Node, h0 *G.Node, steps, B int, reverse bool) (all []*G.Node, final *G.Node) {
	all = make([]*G.Node, steps)
	x3 := b.do(G.Reshape(x, tensor.Shape{steps, B, x.Shape()[1]}))
	h, c := h0, (*G.Node)(nil)
	for k := 0; k < steps; k++ {
		t := k
		if reverse {
			t = steps - 1 - k
		}
		xt := b.do(G.Slice(x3, G.S(t)))
		gate := func(g int) *G.Node {
			pre := b.do(G.Mul(xt, wx[g]))
			if bx[g] != nil {
				pre = b.do(G.BroadcastAdd(pre, bx[g], nil, []byte{0}))
			}
			if extra[g] != nil {
				pre = b.do(G.Add(pre, extra[g]))
			}
			if h != nil {
				pre = b.do(G.Add(pre, b.do(G.Mul(h, wh[g]))))
			}
			return pre
		}
		i, f := b.do(G.Sigmoid(gate(0))), b.do(G.Sigmoid(gate(1)))
		g, o := b.do(G.Tanh(gate(2))), b.do(G.Sigmoid(gate(3)))
		ig := b.do(G.HadamardProd(i, g))
		if c == nil {
			c = ig
		} else {
			c = b.do(G.Add(b.do(G.HadamardProd(f, c)), ig))
		}
		h = b.do(G.HadamardProd(o, b.do(G.Tanh(c))))
		all[t] = h
	}
	return all, h
}

// lstmRun builds one layer (by the op or unrolled), weighs its hidden
// states and its final state by fixed random matrices into a scalar loss,
// and returns the hidden states and the gradients of every input.
func lstmRun(t *testing.T, s lstmSpec, dt tensor.Dtype, unrolled bool) (hs []float64, grads [][]float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(s.steps)))
	g := G.NewGraph()
	var inputs G.Nodes
	mat := func(name string, r, c int) *G.Node {
		v := make([]float64, r*c)
		for i := range v {
			v[i] = rng.NormFloat64() * 0.7
		}
		n := G.NewMatrix(g, dt, G.WithName(name), G.WithValue(denseOf(dt, v, r, c)))
		inputs = append(inputs, n)
		return n
	}
	x := mat("x", s.steps*s.B, s.In)
	var wx, wh, bx, extra [4]*G.Node
	for k := range wx {
		wx[k] = mat(fmt.Sprint("wx", k), s.In, s.H)
	}
	for k := range wh {
		wh[k] = mat(fmt.Sprint("wh", k), s.H, s.H)
	}
	if s.bias {
		for k := range bx {
			bx[k] = mat(fmt.Sprint("bx", k), 1, s.H)
		}
	}
	if s.extra {
		for k := range extra {
			extra[k] = mat(fmt.Sprint("extra", k), s.B, s.H)
		}
	}
	var h0 *G.Node
	if s.h0 {
		h0 = mat("h0", s.B, s.H)
	}
	weightAll := G.NewMatrix(g, dt, G.WithName("weight_all"), G.WithValue(denseOf(dt, randoms(rng, s.steps*s.B*s.H), s.steps*s.B, s.H)))
	weightFinal := G.NewMatrix(g, dt, G.WithName("weight_final"), G.WithValue(denseOf(dt, randoms(rng, s.B*s.H), s.B, s.H)))

	b := &builder{}
	var all, final *G.Node
	if unrolled {
		var steps []*G.Node
		steps, final = lstmUnrolled(b, x, wx, bx, extra, wh, h0, s.steps, s.B, s.reverse)
		all = b.do(G.Concat(0, steps...))
	} else {
		state := b.lstm(x, wx, bx, extra, wh, h0, s.steps, s.B, s.reverse)
		last := s.time(s.steps - 1)
		all, final = b.hidden(state, 0, s.steps, s.B), b.hidden(state, last, 1, s.B)
	}
	loss := b.do(G.Add(b.do(G.Sum(b.do(G.HadamardProd(all, weightAll)))), b.do(G.Sum(b.do(G.HadamardProd(final, weightFinal))))))
	if b.err != nil {
		t.Fatal(b.err)
	}
	var allV G.Value
	G.Read(all, &allV)
	gradNodes, err := G.Grad(loss, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range gradNodes {
		grads = append(grads, toFloat64(n.Value().Data()))
	}
	return toFloat64(allV.Data()), grads
}

func randoms(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func denseOf(dt tensor.Dtype, v []float64, r, c int) *tensor.Dense {
	d := tensor.New(tensor.Of(dt), tensor.WithShape(r, c))
	setFloats(d, v)
	return d
}

// TestLSTMOpMatchesUnrolled holds the one-op LSTM to the layer built from
// Gorgonia's own ops: hidden states and the gradient of every input, for
// every combination of direction and optional inputs, in both float types.
func TestLSTMOpMatchesUnrolled(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 2e-5
		}
		for mask := 0; mask < 16; mask++ {
			s := lstmSpec{steps: 5, B: 3, In: 4, H: 6,
				reverse: mask&1 != 0, bias: mask&2 != 0, extra: mask&4 != 0, h0: mask&8 != 0}
			t.Run(fmt.Sprintf("%v/%s", dt, s), func(t *testing.T) {
				hsOp, gOp := lstmRun(t, s, dt, false)
				hsRef, gRef := lstmRun(t, s, dt, true)
				if e := maxRelErr(hsOp, hsRef); e > tol {
					t.Errorf("hidden states differ: relative error %.3g", e)
				}
				if len(gOp) != len(gRef) {
					t.Fatalf("%d gradients, reference %d", len(gOp), len(gRef))
				}
				for i := range gRef {
					if e := maxRelErr(gOp[i], gRef[i]); e > tol {
						t.Errorf("gradient of input %d differs: relative error %.3g", i, e)
					}
					if allZero(gRef[i]) {
						t.Errorf("gradient of input %d is zero in the reference: the test cannot see it", i)
					}
				}
			})
		}
	}
}

// maxRelErr is the largest |a−b| relative to the larger magnitude of b (at
// least 1e-3, so near-zero entries are compared absolutely).
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	scale := 1e-3
	for _, v := range b {
		scale = math.Max(scale, math.Abs(v))
	}
	var e float64
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		e = math.Max(e, d/scale)
	}
	return e
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
