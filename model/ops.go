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

// This file holds the two Gorgonia operations the model adds to the graph
// language. Gorgonia can express both with its own ops (a one-hot product for
// the lookup, LogSoftMax and a one-hot mask for the loss), but a one-hot
// product costs a V×E matrix product per step and the masked loss a second
// pass over the logits; gathering rows and fusing softmax with cross-entropy
// removes both. Each op is paired with its backward op, so Gorgonia's
// symbolic differentiation (G.Grad) differentiates through them.

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
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - float64(m))
	}
	return float64(m) + math.Log(s)
}

func xentForward[F float32 | float64](nll, logits []F, targets []int, cols int) {
	for n, t := range targets {
		row := logits[n*cols : (n+1)*cols]
		nll[n] = F(logSumExp(row) - float64(row[t]))
	}
}

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
	for n, t := range targets {
		row, drow := logits[n*cols:(n+1)*cols], dx[n*cols:(n+1)*cols]
		lse := float64(nll[n]) + float64(row[t])
		g := float64(grad[n])
		for j, v := range row {
			drow[j] = F(math.Exp(float64(v)-lse) * g)
		}
		drow[t] -= F(g)
	}
}

func hashOf(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, op.String())
	return h.Sum32()
}

// stackRows stacks matrices of equal shape on top of each other: the
// decoder's hidden states of all steps, for one output product. Gorgonia's
// Concat would do, but its gradient slices the result at row offsets that
// its common-subexpression elimination hashes as one byte, so blocks 256
// rows apart get merged and receive the wrong gradient.
func stackRows(parts ...*G.Node) (*G.Node, error) {
	return G.ApplyOp(stackOp{n: len(parts)}, parts...)
}

type stackOp struct{ n int }

func (op stackOp) Arity() int { return op.n }
func (op stackOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, op.n+1)
	for i := range ts {
		ts[i] = G.TensorType{Dims: 2, Of: a}
	}
	return hm.NewFnType(ts...)
}
func (op stackOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{op.n * s[0], s[1]}, nil
}
func (stackOp) ReturnsPtr() bool         { return false }
func (stackOp) CallsExtern() bool        { return false }
func (stackOp) OverwritesInput() int     { return -1 }
func (op stackOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op stackOp) Hashcode() uint32      { return hashOf(op) }
func (op stackOp) String() string        { return fmt.Sprintf("StackRows(%d)", op.n) }

func (op stackOp) Do(in ...G.Value) (G.Value, error) {
	first := in[0].(*tensor.Dense)
	rows, cols := first.Shape()[0], first.Shape()[1]
	out := tensor.New(tensor.Of(first.Dtype()), tensor.WithShape(op.n*rows, cols))
	for i, v := range in {
		d := v.(*tensor.Dense)
		if !d.Shape().Eq(first.Shape()) {
			return nil, fmt.Errorf("stack: block %d is %v, block 0 %v", i, d.Shape(), first.Shape())
		}
		switch dst := out.Data().(type) {
		case []float32:
			copy(dst[i*rows*cols:], d.Float32s())
		case []float64:
			copy(dst[i*rows*cols:], d.Float64s())
		default:
			return nil, fmt.Errorf("stack: unsupported type %v", d.Dtype())
		}
	}
	return out, nil
}

func (op stackOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op stackOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	ds := make(G.Nodes, op.n)
	for i := range ds {
		d, err := G.ApplyOp(blockOp{i: i, n: op.n}, grad)
		if err != nil {
			return nil, err
		}
		ds[i] = d
	}
	return ds, nil
}

// blockOp takes block i of n equal row blocks: the backward of stackOp.
type blockOp struct{ i, n int }

func (blockOp) Arity() int { return 1 }
func (blockOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (op blockOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0] / op.n, s[1]}, nil
}
func (blockOp) ReturnsPtr() bool         { return false }
func (blockOp) CallsExtern() bool        { return false }
func (blockOp) OverwritesInput() int     { return -1 }
func (op blockOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op blockOp) Hashcode() uint32      { return hashOf(op) }
func (op blockOp) String() string        { return fmt.Sprintf("RowBlock(%d of %d)", op.i, op.n) }

func (op blockOp) Do(in ...G.Value) (G.Value, error) {
	src := in[0].(*tensor.Dense)
	rows, cols := src.Shape()[0]/op.n, src.Shape()[1]
	out := tensor.New(tensor.Of(src.Dtype()), tensor.WithShape(rows, cols))
	lo, hi := op.i*rows*cols, (op.i+1)*rows*cols
	switch s := src.Data().(type) {
	case []float32:
		copy(out.Float32s(), s[lo:hi])
	case []float64:
		copy(out.Float64s(), s[lo:hi])
	default:
		return nil, fmt.Errorf("row block: unsupported type %v", src.Dtype())
	}
	return out, nil
}
