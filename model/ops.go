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

// softmaxXent returns, for every row n of the logits x·W + b, the negative
// log-likelihood −log softmax(xw[n] + bias)[targets[n]], computed stably
// (max subtracted). It takes the product xw and the 1×V bias apart and adds
// the bias as it reads each row: Gorgonia's BroadcastAdd would repeat the
// bias into a full matrix and write the sum into another, two passes over
// the largest matrix of the step (rows × vocabulary) that the loss does not
// need.
func softmaxXent(xw, bias, targets *G.Node) (*G.Node, error) {
	return G.ApplyOp(xentOp{}, xw, bias, targets)
}

type xentOp struct{}

func (xentOp) Arity() int { return 3 }
func (xentOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 1, Of: a})
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
	xw, bias, targets := in[0].(*tensor.Dense), in[1].(*tensor.Dense), in[2].(*tensor.Dense).Ints()
	rows, cols, err := checkXentShapes(xw, bias, targets)
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.Of(xw.Dtype()), tensor.WithShape(rows))
	switch x := xw.Data().(type) {
	case []float32:
		xentForward(out.Float32s(), x, bias.Float32s(), targets, cols)
	case []float64:
		xentForward(out.Float64s(), x, bias.Float64s(), targets, cols)
	default:
		return nil, fmt.Errorf("softmax cross-entropy: unsupported type %v", xw.Dtype())
	}
	return out, nil
}

// checkXentShapes returns the rows and classes of the logits and checks
// that the bias has one entry a class and that every target names one.
func checkXentShapes(xw, bias *tensor.Dense, targets []int) (rows, cols int, err error) {
	rows, cols = xw.Shape()[0], xw.Shape()[1]
	if bias.Shape().TotalSize() != cols {
		return 0, 0, fmt.Errorf("softmax cross-entropy: bias of shape %v for %d classes", bias.Shape(), cols)
	}
	if len(targets) != rows {
		return 0, 0, fmt.Errorf("softmax cross-entropy: %d targets for %d rows", len(targets), rows)
	}
	for _, t := range targets {
		if t < 0 || t >= cols {
			return 0, 0, fmt.Errorf("softmax cross-entropy: target %d outside %d classes", t, cols)
		}
	}
	return rows, cols, nil
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

// biasedLogSumExp is logSumExp of row + bias, the sum rounded to F as a
// logits matrix of F would hold it.
func biasedLogSumExp[F float32 | float64](row, bias []F) float64 {
	bias = bias[:len(row)]
	m := row[0] + bias[0]
	for j, v := range row {
		if l := v + bias[j]; l > m {
			m = l
		}
	}
	fast, shift := fastMathFor[F](), float64(m)
	var s float64
	for j, v := range row {
		if x := float64(v+bias[j]) - shift; fast && x >= expFastMin { // x ≤ 0, or NaN
			s += expFast(x)
		} else {
			s += math.Exp(x)
		}
	}
	return shift + math.Log(s)
}

func xentForward[F float32 | float64](nll, xw, bias []F, targets []int, cols int) {
	inParallel(len(targets), xentRowsPerCore, func(lo, hi int) {
		xentForwardRows(nll, xw, bias, targets, cols, lo, hi)
	})
}

// The row loops are functions of their own, not bodies of the closures
// above: inside a closure in a generic function, Go (1.26) compiles the
// float conversions of the loop a few times slower (measured: the
// backward's loop ran at a quarter of the speed).
func xentForwardRows[F float32 | float64](nll, xw, bias []F, targets []int, cols, lo, hi int) {
	for n := lo; n < hi; n++ {
		row, t := xw[n*cols:(n+1)*cols], targets[n]
		nll[n] = F(biasedLogSumExp(row, bias) - float64(row[t]+bias[t]))
	}
}

// xentRowsPerCore keeps small batches (decoding, tests) on one core.
const xentRowsPerCore = 64

func (xentOp) DiffWRT(int) []bool { return []bool{true, true, false} }
func (xentOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dxw, err := G.ApplyOp(xentGradOp{}, in[0], in[1], in[2], out, grad)
	if err != nil {
		return nil, err
	}
	dbias, err := G.ApplyOp(columnSumsOp{}, dxw)
	return G.Nodes{dxw, dbias, nil}, err
}

// xentGradOp is the backward of xentOp with respect to xw (and, summed over
// rows, to the bias): (softmax(xw[n] + bias) − onehot(target[n]))·grad[n].
// It takes the forward's losses too: row n's log-sum-exp is nll[n] +
// xw[n][target[n]] + bias[target[n]], which saves a pass of exponentials.
type xentGradOp struct{}

func (xentGradOp) Arity() int { return 5 }
func (xentGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a})
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
	xw, bias, targets := in[0].(*tensor.Dense), in[1].(*tensor.Dense), in[2].(*tensor.Dense).Ints()
	nll, grad := in[3].(*tensor.Dense), in[4].(*tensor.Dense)
	_, cols, err := checkXentShapes(xw, bias, targets)
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.Of(xw.Dtype()), tensor.WithShape(xw.Shape().Clone()...))
	switch x := xw.Data().(type) {
	case []float32:
		xentBackward(out.Float32s(), x, bias.Float32s(), nll.Float32s(), grad.Float32s(), targets, cols)
	case []float64:
		xentBackward(out.Float64s(), x, bias.Float64s(), nll.Float64s(), grad.Float64s(), targets, cols)
	default:
		return nil, fmt.Errorf("softmax cross-entropy gradient: unsupported type %v", xw.Dtype())
	}
	return out, nil
}

func xentBackward[F float32 | float64](dx, xw, bias, nll, grad []F, targets []int, cols int) {
	inParallel(len(targets), xentRowsPerCore, func(lo, hi int) {
		xentBackwardRows(dx, xw, bias, nll, grad, targets, cols, lo, hi)
	})
}

func xentBackwardRows[F float32 | float64](dx, xw, bias, nll, grad []F, targets []int, cols, lo, hi int) {
	fast := fastMathFor[F]()
	bias = bias[:cols]
	for n := lo; n < hi; n++ {
		t := targets[n]
		row, drow := xw[n*cols:(n+1)*cols], dx[n*cols:(n+1)*cols]
		lse := float64(nll[n]) + float64(row[t]+bias[t])
		g := float64(grad[n])
		for j, v := range row {
			if x := float64(v+bias[j]) - lse; fast && x >= expFastMin && x <= expFastMax {
				drow[j] = F(expFast(x) * g)
			} else {
				drow[j] = F(math.Exp(x) * g)
			}
		}
		drow[t] -= F(g)
	}
}

// columnSumsOp sums a matrix over its rows into a 1×cols matrix: the
// gradient of a bias added to every row.
type columnSumsOp struct{}

func (columnSumsOp) Arity() int { return 1 }
func (columnSumsOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (columnSumsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{1, in[0].(tensor.Shape)[1]}, nil
}
func (columnSumsOp) ReturnsPtr() bool         { return false }
func (columnSumsOp) CallsExtern() bool        { return false }
func (columnSumsOp) OverwritesInput() int     { return -1 }
func (op columnSumsOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op columnSumsOp) Hashcode() uint32      { return hashOf(op) }
func (columnSumsOp) String() string           { return "ColumnSums" }

func (columnSumsOp) Do(in ...G.Value) (G.Value, error) {
	x := in[0].(*tensor.Dense)
	cols := x.Shape()[1]
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(1, cols))
	switch d := x.Data().(type) {
	case []float32:
		columnSums(out.Float32s(), d)
	case []float64:
		columnSums(out.Float64s(), d)
	default:
		return nil, fmt.Errorf("column sums: unsupported type %v", x.Dtype())
	}
	return out, nil
}

// columnSums adds the rows of x into sum, the cores taking a range of
// columns each, row after row as Gorgonia's Sum along the rows does, so
// the result is the same bit for bit.
func columnSums[F float32 | float64](sum, x []F) {
	cols := len(sum)
	inParallel(cols, columnsPerCore, func(lo, hi int) {
		columnSumsRange(sum, x, lo, hi)
	})
}

func columnSumsRange[F float32 | float64](sum, x []F, lo, hi int) {
	cols := len(sum)
	acc := sum[lo:hi]
	for r := 0; r+cols <= len(x); r += cols {
		for j, v := range x[r+lo : r+hi] {
			acc[j] += v
		}
	}
}

// columnsPerCore keeps small sums (tests, the narrow layers) on one core.
const columnsPerCore = 512

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
