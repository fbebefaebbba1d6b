package model

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds Gorgonia operations the model adds to the graph language
// (the LSTM layer has its own file, lstmop.go). Gorgonia can express the
// lookup and the loss with its own ops (a one-hot product for the lookup,
// LogSoftMax and a one-hot mask for the loss), but a one-hot product costs a
// V×E matrix product per step and the masked loss a second pass over the
// logits; gathering rows and fusing softmax with cross-entropy removes both.
// Each op is paired with its backward op, so Gorgonia's symbolic
// differentiation (G.Grad) differentiates through them.

// gatherRows looks up rows of a table: out[n] = table[ids[n]].
func gatherRows(table, ids *G.Node) (*G.Node, error) {
	return G.ApplyOp(gatherOp{}, table, ids)
}

type gatherOp struct{}

func (gatherOp) Arity() int { return 2 }
func (gatherOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 2, Of: a})
}
func (gatherOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	table, ids := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{ids.TotalSize(), table[1]}, nil
}
func (gatherOp) ReturnsPtr() bool         { return false }
func (gatherOp) CallsExtern() bool        { return false }
func (gatherOp) OverwritesInput() int     { return -1 }
func (op gatherOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op gatherOp) Hashcode() uint32      { return hashOf(op) }
func (gatherOp) String() string           { return "GatherRows" }

func (gatherOp) Do(in ...G.Value) (G.Value, error) {
	table, ids := in[0].(*tensor.Dense), in[1].(*tensor.Dense).Ints()
	cols := table.Shape()[1]
	rows := table.Shape()[0]
	out := tensor.New(tensor.Of(table.Dtype()), tensor.WithShape(len(ids), cols))
	for _, id := range ids {
		if id < 0 || id >= rows {
			return nil, fmt.Errorf("gather: id %d outside table of %d rows", id, rows)
		}
	}
	switch src := table.Data().(type) {
	case []float32:
		gather(out.Float32s(), src, ids, cols)
	case []float64:
		gather(out.Float64s(), src, ids, cols)
	default:
		return nil, fmt.Errorf("gather: unsupported type %v", table.Dtype())
	}
	return out, nil
}

func gather[F float32 | float64](dst, table []F, ids []int, cols int) {
	for n, id := range ids {
		copy(dst[n*cols:(n+1)*cols], table[id*cols:(id+1)*cols])
	}
}

func (gatherOp) DiffWRT(int) []bool { return []bool{true, false} }
func (gatherOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(scatterAddOp{}, in[0], in[1], grad)
	return G.Nodes{d, nil}, err
}

// scatterAddOp is the backward of gatherOp: the table's gradient, where every
// occurrence of an id adds its row of the output gradient.
type scatterAddOp struct{}

func (scatterAddOp) Arity() int { return 3 }
func (scatterAddOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (scatterAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (scatterAddOp) ReturnsPtr() bool         { return false }
func (scatterAddOp) CallsExtern() bool        { return false }
func (scatterAddOp) OverwritesInput() int     { return -1 }
func (op scatterAddOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op scatterAddOp) Hashcode() uint32      { return hashOf(op) }
func (scatterAddOp) String() string           { return "ScatterAddRows" }

func (scatterAddOp) Do(in ...G.Value) (G.Value, error) {
	table, ids, grad := in[0].(*tensor.Dense), in[1].(*tensor.Dense).Ints(), in[2].(*tensor.Dense)
	cols := table.Shape()[1]
	out := tensor.New(tensor.Of(table.Dtype()), tensor.WithShape(table.Shape().Clone()...))
	switch g := grad.Data().(type) {
	case []float32:
		scatterAdd(out.Float32s(), g, ids, cols)
	case []float64:
		scatterAdd(out.Float64s(), g, ids, cols)
	default:
		return nil, fmt.Errorf("scatter-add: unsupported type %v", grad.Dtype())
	}
	return out, nil
}

func scatterAdd[F float32 | float64](dst, grad []F, ids []int, cols int) {
	for n, id := range ids {
		row, g := dst[id*cols:(id+1)*cols], grad[n*cols:(n+1)*cols]
		for j := range row {
			row[j] += g[j]
		}
	}
}

// softmaxXent returns, for every row n of logits, the negative log-likelihood
// −log softmax(logits[n])[targets[n]], computed stably (max subtracted).
func softmaxXent(logits, targets *G.Node) (*G.Node, error) {
	return G.ApplyOp(xentOp{}, logits, targets)
}

type xentOp struct{}

func (xentOp) Arity() int { return 2 }
func (xentOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 1, Of: a})
}
func (xentOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0]}, nil
}
func (xentOp) ReturnsPtr() bool         { return false }
func (xentOp) CallsExtern() bool        { return false }
func (xentOp) OverwritesInput() int     { return -1 }
func (op xentOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op xentOp) Hashcode() uint32      { return hashOf(op) }
func (xentOp) String() string           { return "SoftmaxXent" }

func (xentOp) Do(in ...G.Value) (G.Value, error) {
	logits, targets := in[0].(*tensor.Dense), in[1].(*tensor.Dense).Ints()
	rows, cols := logits.Shape()[0], logits.Shape()[1]
	if err := checkTargets(targets, rows, cols); err != nil {
		return nil, err
	}
	out := tensor.New(tensor.Of(logits.Dtype()), tensor.WithShape(rows))
	switch x := logits.Data().(type) {
	case []float32:
		xentForward(out.Float32s(), x, targets, cols)
	case []float64:
		xentForward(out.Float64s(), x, targets, cols)
	default:
		return nil, fmt.Errorf("softmax cross-entropy: unsupported type %v", logits.Dtype())
	}
	return out, nil
}

func checkTargets(targets []int, rows, cols int) error {
	if len(targets) != rows {
		return fmt.Errorf("softmax cross-entropy: %d targets for %d rows", len(targets), rows)
	}
	for _, t := range targets {
		if t < 0 || t >= cols {
			return fmt.Errorf("softmax cross-entropy: target %d outside %d classes", t, cols)
		}
	}
	return nil
}

// logSumExp returns log Σ exp(row[j]) without overflow, accumulating in
// float64. It finds the maximum with > rather than math.Max, which would
// also order NaNs and signed zeros that finite logits never hold: on the
// softmax of every training and decoding step that halves the cost of the
// maximum against the exponentials.
func logSumExp[F float32 | float64](row []F) float64 {
	m := row[0]
	for _, v := range row[1:] {
		if v > m {
			m = v
		}
	}
	fast, shift := fastMathFor[F](), float64(m)
	var s float64
	for _, v := range row {
		if x := float64(v) - shift; fast && x >= expFastMin { // x ≤ 0, or NaN
			s += expFast(x)
		} else {
			s += math.Exp(x)
		}
	}
	return shift + math.Log(s)
}

func xentForward[F float32 | float64](nll, logits []F, targets []int, cols int) {
	inParallel(len(targets), xentRowsPerCore, func(lo, hi int) {
		xentForwardRows(nll, logits, targets, cols, lo, hi)
	})
}

// The row loops are functions of their own, not bodies of the closures
// above: inside a closure in a generic function, Go (1.26) compiles the
// float conversions of the loop a few times slower (measured: the
// backward's loop ran at a quarter of the speed).
func xentForwardRows[F float32 | float64](nll, logits []F, targets []int, cols, lo, hi int) {
	for n := lo; n < hi; n++ {
		row := logits[n*cols : (n+1)*cols]
		nll[n] = F(logSumExp(row) - float64(row[targets[n]]))
	}
}

// xentRowsPerCore keeps small batches (decoding, tests) on one core.
const xentRowsPerCore = 64

func (xentOp) DiffWRT(int) []bool { return []bool{true, false} }
func (xentOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(xentGradOp{}, in[0], in[1], out, grad)
	return G.Nodes{d, nil}, err
}

// xentGradOp is the backward of xentOp: (softmax(logits[n]) − onehot(target[n]))·grad[n].
// It takes the forward's losses too: row n's log-sum-exp is nll[n] +
// logits[n][target[n]], which saves a pass of exponentials over the logits.
type xentGradOp struct{}

func (xentGradOp) Arity() int { return 4 }
func (xentGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (xentGradOp) ReturnsPtr() bool         { return false }
func (xentGradOp) CallsExtern() bool        { return false }
func (xentGradOp) OverwritesInput() int     { return -1 }
func (op xentGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op xentGradOp) Hashcode() uint32      { return hashOf(op) }
func (xentGradOp) String() string           { return "SoftmaxXentGrad" }

func (xentGradOp) Do(in ...G.Value) (G.Value, error) {
	logits, targets, nll, grad := in[0].(*tensor.Dense), in[1].(*tensor.Dense).Ints(), in[2].(*tensor.Dense), in[3].(*tensor.Dense)
	cols := logits.Shape()[1]
	out := tensor.New(tensor.Of(logits.Dtype()), tensor.WithShape(logits.Shape().Clone()...))
	switch x := logits.Data().(type) {
	case []float32:
		xentBackward(out.Float32s(), x, nll.Float32s(), grad.Float32s(), targets, cols)
	case []float64:
		xentBackward(out.Float64s(), x, nll.Float64s(), grad.Float64s(), targets, cols)
	default:
		return nil, fmt.Errorf("softmax cross-entropy gradient: unsupported type %v", logits.Dtype())
	}
	return out, nil
}

func xentBackward[F float32 | float64](dx, logits, nll, grad []F, targets []int, cols int) {
	inParallel(len(targets), xentRowsPerCore, func(lo, hi int) {
		xentBackwardRows(dx, logits, nll, grad, targets, cols, lo, hi)
	})
}

func xentBackwardRows[F float32 | float64](dx, logits, nll, grad []F, targets []int, cols, lo, hi int) {
	fast := fastMathFor[F]()
	for n := lo; n < hi; n++ {
		t := targets[n]
		row, drow := logits[n*cols:(n+1)*cols], dx[n*cols:(n+1)*cols]
		lse := float64(nll[n]) + float64(row[t])
		g := float64(grad[n])
		for j, v := range row {
			if x := float64(v) - lse; fast && x >= expFastMin && x <= expFastMax {
				drow[j] = F(expFast(x) * g)
			} else {
				drow[j] = F(math.Exp(x) * g)
			}
		}
		drow[t] -= F(g)
	}
}

func hashOf(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, op.String())
	return h.Sum32()
}

// rowsOf takes n rows from lo of a matrix: an LSTM's hidden states out of
// its state. The gradient is a zero matrix of the whole's shape with those
// rows filled in.
func rowsOf(x *G.Node, lo, n int) (*G.Node, error) {
	return G.ApplyOp(rowsOp{lo: lo, n: n}, x)
}

type rowsOp struct{ lo, n int }

func (rowsOp) Arity() int { return 1 }
func (rowsOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (op rowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, in[0].(tensor.Shape)[1]}, nil
}
func (rowsOp) ReturnsPtr() bool         { return false }
func (rowsOp) CallsExtern() bool        { return false }
func (rowsOp) OverwritesInput() int     { return -1 }
func (op rowsOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op rowsOp) Hashcode() uint32      { return hashOf(op) }
func (op rowsOp) String() string        { return fmt.Sprintf("Rows(%d, %d)", op.lo, op.n) }

func (op rowsOp) Do(in ...G.Value) (G.Value, error) {
	src := in[0].(*tensor.Dense)
	rows, cols := src.Shape()[0], src.Shape()[1]
	if op.lo < 0 || op.lo+op.n > rows {
		return nil, fmt.Errorf("rows: %d from %d of %d", op.n, op.lo, rows)
	}
	out := tensor.New(tensor.Of(src.Dtype()), tensor.WithShape(op.n, cols))
	lo, hi := op.lo*cols, (op.lo+op.n)*cols
	switch s := src.Data().(type) {
	case []float32:
		copy(out.Float32s(), s[lo:hi])
	case []float64:
		copy(out.Float64s(), s[lo:hi])
	default:
		return nil, fmt.Errorf("rows: unsupported type %v", src.Dtype())
	}
	return out, nil
}

func (rowsOp) DiffWRT(int) []bool { return []bool{true} }
func (op rowsOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(padRowsOp{lo: op.lo, rows: in[0].Shape()[0]}, grad)
	return G.Nodes{d}, err
}

// padRowsOp is the backward of rowsOp: the gradient rows placed at lo in a
// zero matrix of the given rows.
type padRowsOp struct{ lo, rows int }

func (padRowsOp) Arity() int { return 1 }
func (padRowsOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (op padRowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, in[0].(tensor.Shape)[1]}, nil
}
func (padRowsOp) ReturnsPtr() bool         { return false }
func (padRowsOp) CallsExtern() bool        { return false }
func (padRowsOp) OverwritesInput() int     { return -1 }
func (op padRowsOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op padRowsOp) Hashcode() uint32      { return hashOf(op) }
func (op padRowsOp) String() string        { return fmt.Sprintf("PadRows(%d of %d)", op.lo, op.rows) }

func (op padRowsOp) Do(in ...G.Value) (G.Value, error) {
	src := in[0].(*tensor.Dense)
	n, cols := src.Shape()[0], src.Shape()[1]
	if op.lo < 0 || op.lo+n > op.rows {
		return nil, fmt.Errorf("pad rows: %d at %d of %d", n, op.lo, op.rows)
	}
	out := tensor.New(tensor.Of(src.Dtype()), tensor.WithShape(op.rows, cols))
	switch s := src.Data().(type) {
	case []float32:
		copy(out.Float32s()[op.lo*cols:], s)
	case []float64:
		copy(out.Float64s()[op.lo*cols:], s)
	default:
		return nil, fmt.Errorf("pad rows: unsupported type %v", src.Dtype())
	}
	return out, nil
}
