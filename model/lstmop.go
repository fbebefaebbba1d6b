package model

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file runs a whole LSTM layer over a sequence as one Gorgonia op.
//
// Unrolled into Gorgonia's own ops, a layer costs some thirty nodes a step
// (a product, a bias and two sums per gate, the activations, the cell), each
// allocating its result and, backwards, its gradients, and the input
// products come one step at a time. As one op the input products of all
// steps are one matrix product forwards and two backwards, the recurrent
// weight's gradient is one more, and only the recurrent product stays per
// step; the gates, cell and hidden states of every step are kept in the
// op's output for the backward pass, as cuDNN keeps them in its reserve
// space.
//
// The gates are i, f, g, o (input, forget, candidate, output) with separate
// weights per gate, as the model stores them; the op joins them side by side
// (i|f|g|o, 4H wide) for its products.

// lstmSpec is the shape of one layer's run and which optional inputs it has.
type lstmSpec struct {
	steps, B, In, H int
	reverse         bool // run from the last step to the first
	bias            bool // per-gate biases bx (1 × H)
	extra           bool // per-gate additions to every step's pre-activation (B × H)
	h0              bool // an initial hidden state (B × H); otherwise zero
}

// The op's output stacks six blocks of steps·B rows × H, in time order
// (step t of poem b at row t·B+b of its block): what the backward needs.
const (
	lstmH = iota
	lstmC
	lstmI
	lstmF
	lstmG
	lstmO
	lstmBlocks
)

// lstmSeq runs an LSTM over steps (time-major rows of x) and returns its
// state: the hidden states of every step, in time order, are the first
// steps·B rows (take them with rowsOf). Gate k's pre-activation at a step is
// x_t·wx[k] + bx[k] + extra[k] + h·wh[k]; bx, extra and h0 may be nil
// (absent), all or none of their gates. The cell starts at zero.
func lstmSeq(x *G.Node, wx, bx, extra, wh [4]*G.Node, h0 *G.Node, steps, B int, reverse bool) (*G.Node, error) {
	s := lstmSpec{steps: steps, B: B, In: x.Shape()[1], H: wh[0].Shape()[0], reverse: reverse,
		bias: bx[0] != nil, extra: extra[0] != nil, h0: h0 != nil}
	in := append(G.Nodes{x}, wx[:]...)
	in = append(in, wh[:]...)
	if s.bias {
		in = append(in, bx[:]...)
	}
	if s.extra {
		in = append(in, extra[:]...)
	}
	if s.h0 {
		in = append(in, h0)
	}
	return G.ApplyOp(lstmOp{s}, in...)
}

// inputShapes lists the op's inputs' shapes, in order.
func (s lstmSpec) inputShapes() []tensor.Shape {
	sh := []tensor.Shape{{s.steps * s.B, s.In}}
	for k := 0; k < 4; k++ {
		sh = append(sh, tensor.Shape{s.In, s.H})
	}
	for k := 0; k < 4; k++ {
		sh = append(sh, tensor.Shape{s.H, s.H})
	}
	if s.bias {
		for k := 0; k < 4; k++ {
			sh = append(sh, tensor.Shape{1, s.H})
		}
	}
	if s.extra {
		for k := 0; k < 4; k++ {
			sh = append(sh, tensor.Shape{s.B, s.H})
		}
	}
	if s.h0 {
		sh = append(sh, tensor.Shape{s.B, s.H})
	}
	return sh
}

func (s lstmSpec) String() string {
	return fmt.Sprintf("LSTM(steps %d, B %d, in %d, H %d, reverse %t, bias %t, extra %t, h0 %t)",
		s.steps, s.B, s.In, s.H, s.reverse, s.bias, s.extra, s.h0)
}

// time is the time index of the k-th step processed.
func (s lstmSpec) time(k int) int {
	if s.reverse {
		return s.steps - 1 - k
	}
	return k
}

// matrixTypes is the type of an op from n matrices of one float type to out
// (a matrix of that type when nil).
func matrixTypes(n int, out hm.Type) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, n, n+1)
	for i := range ts {
		ts[i] = G.TensorType{Dims: 2, Of: a}
	}
	if out == nil {
		out = G.TensorType{Dims: 2, Of: a}
	}
	return hm.NewFnType(append(ts, out)...)
}

// checkShapes refuses inputs of other shapes than the op was built for.
func checkShapes(what string, want []tensor.Shape, in []G.Value) error {
	if len(in) != len(want) {
		return fmt.Errorf("%s: %d inputs, want %d", what, len(in), len(want))
	}
	for i, v := range in {
		if !v.Shape().Eq(want[i]) {
			return fmt.Errorf("%s: input %d is %v, want %v", what, i, v.Shape(), want[i])
		}
	}
	return nil
}

// lstmOp is the forward op: inputs as lstmSeq lists them, output the state
// (lstmBlocks blocks of steps·B × H).
type lstmOp struct{ lstmSpec }

func (op lstmOp) Arity() int    { return len(op.inputShapes()) }
func (op lstmOp) Type() hm.Type { return matrixTypes(op.Arity(), nil) }
func (op lstmOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{lstmBlocks * op.steps * op.B, op.H}, nil
}
func (lstmOp) ReturnsPtr() bool         { return false }
func (lstmOp) CallsExtern() bool        { return false }
func (lstmOp) OverwritesInput() int     { return -1 }
func (op lstmOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op lstmOp) Hashcode() uint32      { return hashOf(op) }

func (op lstmOp) Do(in ...G.Value) (G.Value, error) {
	if err := checkShapes("lstm", op.inputShapes(), in); err != nil {
		return nil, err
	}
	out := tensor.New(tensor.Of(in[0].Dtype()), tensor.WithShape(lstmBlocks*op.steps*op.B, op.H))
	switch dst := out.Data().(type) {
	case []float32:
		lstmForward(op.lstmSpec, dst, floatsOf[float32](in))
	case []float64:
		lstmForward(op.lstmSpec, dst, floatsOf[float64](in))
	default:
		return nil, fmt.Errorf("lstm: unsupported type %v", out.Dtype())
	}
	return out, nil
}

func floatsOf[F float32 | float64](in []G.Value) [][]F {
	out := make([][]F, len(in))
	for i, v := range in {
		out[i] = v.Data().([]F)
	}
	return out
}

// lstmInputs names the op's inputs once they are slices.
type lstmInputs[F float32 | float64] struct {
	x         []F
	wx, wh    [][]F // four gates each
	bx, extra [][]F // four gates each, or nil
	h0        []F   // or nil
	wxJ, whJ  []F   // the gates' weights side by side: In × 4H and H × 4H
}

func splitInputs[F float32 | float64](s lstmSpec, in [][]F) lstmInputs[F] {
	v := lstmInputs[F]{x: in[0], wx: in[1:5], wh: in[5:9]}
	rest := in[9:]
	if s.bias {
		v.bx, rest = rest[:4], rest[4:]
	}
	if s.extra {
		v.extra, rest = rest[:4], rest[4:]
	}
	if s.h0 {
		v.h0 = rest[0]
	}
	v.wxJ, v.whJ = joinGates(v.wx, s.In, s.H), joinGates(v.wh, s.H, s.H)
	return v
}

// joinGates lays four rows × H matrices side by side.
func joinGates[F float32 | float64](w [][]F, rows, H int) []F {
	j := make([]F, rows*4*H)
	for r := 0; r < rows; r++ {
		for k := 0; k < 4; k++ {
			copy(j[r*4*H+k*H:r*4*H+(k+1)*H], w[k][r*H:(r+1)*H])
		}
	}
	return j
}

// splitGates is the inverse of joinGates, writing into dst[k].
func splitGates[F float32 | float64](dst [][]F, j []F, rows, H int) {
	for r := 0; r < rows; r++ {
		for k := 0; k < 4; k++ {
			copy(dst[k][r*H:(r+1)*H], j[r*4*H+k*H:r*4*H+(k+1)*H])
		}
	}
}

func lstmForward[F float32 | float64](s lstmSpec, state []F, in [][]F) {
	v := splitInputs(s, in)
	T, B, H := s.steps, s.B, s.H
	n := T * B * H
	hs, cs := state[lstmH*n:(lstmH+1)*n], state[lstmC*n:(lstmC+1)*n]

	// All steps' input products at once, then the biases.
	pre := make([]F, T*B*4*H)
	gemm(false, false, T*B, 4*H, s.In, v.x, s.In, v.wxJ, 4*H, 0, pre, 4*H)
	if s.bias {
		for r := 0; r < T*B; r++ {
			for k := 0; k < 4; k++ {
				addTo(pre[r*4*H+k*H:r*4*H+(k+1)*H], v.bx[k])
			}
		}
	}
	for k := 0; k < T; k++ {
		t := s.time(k)
		p := pre[t*B*4*H : (t+1)*B*4*H]
		if s.extra {
			for r := 0; r < B; r++ {
				for g := 0; g < 4; g++ {
					addTo(p[r*4*H+g*H:r*4*H+(g+1)*H], v.extra[g][r*H:(r+1)*H])
				}
			}
		}
		var hPrev, cPrev []F
		if k > 0 {
			tp := s.time(k - 1)
			hPrev, cPrev = hs[tp*B*H:(tp+1)*B*H], cs[tp*B*H:(tp+1)*B*H]
		} else if s.h0 {
			hPrev = v.h0
		}
		if hPrev != nil {
			gemm(false, false, B, 4*H, H, hPrev, H, v.whJ, 4*H, 1, p, 4*H)
		}
		inParallel(B, lstmRowsPerCore, func(lo, hi int) {
			lstmGates(p, cPrev, state, t*B*H, n, H, lo, hi)
		})
	}
}

// lstmGates turns rows lo…hi of a step's pre-activations p (B × 4H) into
// gates, cell and hidden state, stored at offset at of each of the state's
// blocks (n values each). cPrev is the previous step's cell, nil at the
// first. (The loops are functions, not closures' bodies: see
// xentForwardRows.)
func lstmGates[F float32 | float64](p, cPrev, state []F, at, n, H, lo, hi int) {
	sigmoid, tanh := gateFuncs[F]()
	hs, cs, is, fs := state[lstmH*n:], state[lstmC*n:], state[lstmI*n:], state[lstmF*n:]
	gs, os := state[lstmG*n:], state[lstmO*n:]
	for r := lo; r < hi; r++ {
		pr := p[r*4*H : (r+1)*4*H]
		for j := 0; j < H; j++ {
			e := at + r*H + j
			i, f := sigmoid(pr[j]), sigmoid(pr[H+j])
			g, o := tanh(pr[2*H+j]), sigmoid(pr[3*H+j])
			c := i * g
			if cPrev != nil {
				c += f * cPrev[r*H+j]
			}
			is[e], fs[e], gs[e], os[e], cs[e] = i, f, g, o, c
			hs[e] = o * tanh(c)
		}
	}
}

// lstmGatesBack is the backward of lstmGates for rows lo…hi: from the
// step's hidden-state gradient (dhs at offset at, plus the carried dh) and
// the carried cell gradient dc, the pre-activation gradients dp (B × 4H);
// dc is updated in place to carry on to the step before.
func lstmGatesBack[F float32 | float64](dp, dh, dc, cPrev, state, dhs []F, at, n, H, lo, hi int) {
	_, tanh := gateFuncs[F]()
	cs, is, fs := state[lstmC*n:], state[lstmI*n:], state[lstmF*n:]
	gs, os := state[lstmG*n:], state[lstmO*n:]
	for r := lo; r < hi; r++ {
		dr := dp[r*4*H : (r+1)*4*H]
		for j := 0; j < H; j++ {
			e, m := at+r*H+j, r*H+j
			i, f, g, o := is[e], fs[e], gs[e], os[e]
			tc := tanh(cs[e])
			dhv := dhs[e] + dh[m]
			dcv := dc[m] + dhv*o*(1-tc*tc)
			dr[j] = dcv * g * i * (1 - i)
			if cPrev != nil {
				dr[H+j] = dcv * cPrev[m] * f * (1 - f)
			}
			dr[2*H+j] = dcv * i * (1 - g*g)
			dr[3*H+j] = dhv * tc * o * (1 - o)
			dc[m] = dcv * f
		}
	}
}

// lstmRowsPerCore: a step's gates for 16 poems of the default width are a
// few tens of microseconds of exponentials, well above a goroutine's start.
const lstmRowsPerCore = 16

// gateFuncs returns the gates' activations at F's precision: at float32
// the fast ones of fastmath.go, at float64, which the gradient checks use,
// the exact ones. The loops call them through function values, which costs
// little, and for float32 keeps conversions out of the loops (see
// fastmath.go).
func gateFuncs[F float32 | float64]() (sigmoid, tanh func(F) F) {
	if fastMathFor[F]() {
		return any(sigmoid32).(func(F) F), any(tanh32).(func(F) F)
	}
	return any(sigmoid64).(func(F) F), any(math.Tanh).(func(F) F)
}

func addTo[F float32 | float64](dst, src []F) {
	for i, v := range src {
		dst[i] += v
	}
}

// gemm is c = a·b + beta·c for row-major matrices (a m×k, b k×n, either
// transposed as stored when its flag is set), through the BLAS Gorgonia uses.
func gemm[F float32 | float64](transA, transB bool, m, n, k int, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		G.WhichBLAS().Sgemm(tA, tB, m, n, k, 1, a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		G.WhichBLAS().Dgemm(tA, tB, m, n, k, 1, a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

func (op lstmOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op lstmOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	all, err := G.ApplyOp(lstmGradOp{op.lstmSpec}, append(append(G.Nodes{}, in...), out, grad)...)
	if err != nil {
		return nil, err
	}
	ds := make(G.Nodes, len(in))
	off := 0
	for i, sh := range op.inputShapes() {
		if ds[i], err = G.ApplyOp(partOp{off: off, rows: sh[0], cols: sh[1]}, all); err != nil {
			return nil, err
		}
		off += sh.TotalSize()
	}
	return ds, nil
}

// lstmGradOp is the backward of lstmOp: from the inputs, the forward's
// state and the state's gradient (only the hidden states' rows are used),
// the gradients of every input, one after the other in a flat vector.
type lstmGradOp struct{ lstmSpec }

func (op lstmGradOp) Arity() int { return len(op.inputShapes()) + 2 }
func (op lstmGradOp) Type() hm.Type {
	return matrixTypes(op.Arity(), G.TensorType{Dims: 1, Of: hm.TypeVariable('a')})
}
func (op lstmGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	n := 0
	for _, sh := range op.inputShapes() {
		n += sh.TotalSize()
	}
	return tensor.Shape{n}, nil
}
func (lstmGradOp) ReturnsPtr() bool         { return false }
func (lstmGradOp) CallsExtern() bool        { return false }
func (lstmGradOp) OverwritesInput() int     { return -1 }
func (op lstmGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op lstmGradOp) Hashcode() uint32      { return hashOf(op) }
func (op lstmGradOp) String() string        { return "Grad" + op.lstmSpec.String() }

func (op lstmGradOp) Do(in ...G.Value) (G.Value, error) {
	state := tensor.Shape{lstmBlocks * op.steps * op.B, op.H}
	if err := checkShapes("lstm gradient", append(op.inputShapes(), state, state), in); err != nil {
		return nil, err
	}
	size, _ := op.InferShape()
	out := tensor.New(tensor.Of(in[0].Dtype()), tensor.WithShape(size...))
	switch dst := out.Data().(type) {
	case []float32:
		lstmBackward(op.lstmSpec, dst, floatsOf[float32](in))
	case []float64:
		lstmBackward(op.lstmSpec, dst, floatsOf[float64](in))
	default:
		return nil, fmt.Errorf("lstm gradient: unsupported type %v", out.Dtype())
	}
	return out, nil
}

func lstmBackward[F float32 | float64](s lstmSpec, out []F, in [][]F) {
	nIn := len(in) - 2
	v := splitInputs(s, in[:nIn])
	state, dState := in[nIn], in[nIn+1]
	T, B, H, In := s.steps, s.B, s.H, s.In
	n := T * B * H
	hs, cs := state[lstmH*n:(lstmH+1)*n], state[lstmC*n:(lstmC+1)*n]
	dhs := dState[:n] // only the hidden states' rows are used outside the op

	// Walk the steps backwards, carrying the hidden and cell gradients, and
	// keep every step's pre-activation gradient (B × 4H) for the products.
	dPre := make([]F, T*B*4*H)
	dh, dc := make([]F, B*H), make([]F, B*H)
	for k := T - 1; k >= 0; k-- {
		t := s.time(k)
		var cPrev []F
		if k > 0 {
			tp := s.time(k - 1)
			cPrev = cs[tp*B*H : (tp+1)*B*H]
		}
		dp := dPre[t*B*4*H : (t+1)*B*4*H]
		inParallel(B, lstmRowsPerCore, func(lo, hi int) {
			lstmGatesBack(dp, dh, dc, cPrev, state, dhs, t*B*H, n, H, lo, hi)
		})
		if k > 0 || s.h0 {
			gemm(false, true, B, H, 4*H, dp, 4*H, v.whJ, 4*H, 0, dh, H)
		}
	}

	// The gradients, in the inputs' order, written into out.
	shapes := s.inputShapes()
	grads := make([][]F, len(shapes))
	off := 0
	for i, sh := range shapes {
		grads[i] = out[off : off+sh.TotalSize()]
		off += sh.TotalSize()
	}
	dx, dwx, dwh := grads[0], grads[1:5], grads[5:9]
	rest := grads[9:]

	gemm(false, true, T*B, In, 4*H, dPre, 4*H, v.wxJ, 4*H, 0, dx, In)
	dwxJ := make([]F, In*4*H)
	gemm(true, false, In, 4*H, T*B, v.x, In, dPre, 4*H, 0, dwxJ, 4*H)
	splitGates(dwx, dwxJ, In, H)

	// The recurrent weight meets each step's gradient with the hidden state
	// before it: in time order that is the neighbouring step's block, so
	// all steps but the first processed are one product of two row ranges.
	dwhJ := make([]F, H*4*H)
	if T > 1 {
		prevRows, gradRows := hs[:(T-1)*B*H], dPre[B*4*H:]
		if s.reverse {
			prevRows, gradRows = hs[B*H:], dPre[:(T-1)*B*4*H]
		}
		gemm(true, false, H, 4*H, (T-1)*B, prevRows, H, gradRows, 4*H, 0, dwhJ, 4*H)
	}
	if s.h0 {
		t0 := s.time(0)
		gemm(true, false, H, 4*H, B, v.h0, H, dPre[t0*B*4*H:(t0+1)*B*4*H], 4*H, 1, dwhJ, 4*H)
	}
	splitGates(dwh, dwhJ, H, H)

	if s.bias {
		dbx := rest[:4]
		rest = rest[4:]
		for r := 0; r < T*B; r++ {
			for k := 0; k < 4; k++ {
				addTo(dbx[k], dPre[r*4*H+k*H:r*4*H+(k+1)*H])
			}
		}
	}
	if s.extra {
		dex := rest[:4]
		rest = rest[4:]
		for t := 0; t < T; t++ {
			for r := 0; r < B; r++ {
				row := dPre[(t*B+r)*4*H:]
				for k := 0; k < 4; k++ {
					addTo(dex[k][r*H:(r+1)*H], row[k*H:(k+1)*H])
				}
			}
		}
	}
	if s.h0 {
		copy(rest[0], dh)
	}
}

// partOp takes a rows × cols matrix starting at off out of a flat vector:
// one input's gradient out of lstmGradOp's.
type partOp struct{ off, rows, cols int }

func (partOp) Arity() int { return 1 }
func (partOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (op partOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, op.cols}, nil
}
func (partOp) ReturnsPtr() bool         { return false }
func (partOp) CallsExtern() bool        { return false }
func (partOp) OverwritesInput() int     { return -1 }
func (op partOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op partOp) Hashcode() uint32      { return hashOf(op) }
func (op partOp) String() string        { return fmt.Sprintf("Part(%d, %d×%d)", op.off, op.rows, op.cols) }

func (op partOp) Do(in ...G.Value) (G.Value, error) {
	src := in[0].(*tensor.Dense)
	n := op.rows * op.cols
	if src.Shape().TotalSize() < op.off+n {
		return nil, fmt.Errorf("part: %d values from %d of %d", n, op.off, src.Shape().TotalSize())
	}
	out := tensor.New(tensor.Of(src.Dtype()), tensor.WithShape(op.rows, op.cols))
	switch s := src.Data().(type) {
	case []float32:
		copy(out.Float32s(), s[op.off:op.off+n])
	case []float64:
		copy(out.Float64s(), s[op.off:op.off+n])
	default:
		return nil, fmt.Errorf("part: unsupported type %v", src.Dtype())
	}
	return out, nil
}
