//go:build gpu

package cuda

import "fmt"

// Typed launches of the kernels in *.cu, one method each, with the grid
// worked out here so that no caller repeats it. Arguments are buffers (or
// addresses inside them) and sizes; see each kernel's comment in its .cu
// file for the maths.

const threads = 256 // THREADS in common.cuh

// blocks is the grid for n elements at one element a thread, capped: the
// kernels loop over what one pass of the grid does not cover.
func blocks(n int) int {
	b := (n + threads - 1) / threads
	switch {
	case b < 1:
		return 1
	case b > 65535:
		return 65535
	}
	return b
}

func grid1(n int) [3]int { return [3]int{blocks(n), 1, 1} }

var block1 = [3]int{threads, 1, 1}

// mat is a row-major matrix view of device memory: rows × cols with a row
// stride; trans reads it transposed.
type mat struct {
	p          ptr
	rows, cols int
	stride     int
	trans      bool
}

// m views n consecutive rows of a buffer holding cols-wide rows, from row r0.
func m(b Buffer, r0, rows, cols int) mat {
	if (r0+rows)*cols > b.n {
		panic("cuda: matrix view past the end of its buffer")
	}
	return mat{p: b.p.at(r0 * cols), rows: rows, cols: cols, stride: cols}
}

// T is the transposed view.
func (a mat) T() mat {
	a.trans = !a.trans
	return a
}

func (a mat) shape() (int, int) {
	if a.trans {
		return a.cols, a.rows
	}
	return a.rows, a.cols
}

// gemm sets c = a·b + beta·c (a and b possibly transposed views).
func (d *Device) gemm(a, b mat, beta float32, c mat) { d.gemmBias(a, b, 0, beta, c) }

// gemmBias sets c = a·b + bias + beta·c, bias (c.cols, or 0: none) added to
// every row. Tiles of 128×128 do the most arithmetic per byte moved, but
// only products of many of them keep every multiprocessor busy; 32×32
// tiles give the small products (a batch of rows by the hidden units)
// blocks enough to spread over the GPU.
func (d *Device) gemmBias(a, b mat, bias ptr, beta float32, c mat) {
	tiles := func(size int) int { return ((c.rows + size - 1) / size) * ((c.cols + size - 1) / size) }
	_, K := a.shape()
	if slices := splitK(tiles(64), K); slices > 1 {
		d.gemmSplit(a, b, bias, beta, c, slices)
		return
	}
	switch {
	case tiles(64) < smallProduct:
		d.gemmWith("sgemm32", a, b, bias, beta, c)
	case d.TF32:
		d.gemmWith("sgemm_tf32", a, b, bias, beta, c)
	case tiles(128) >= largeProduct:
		d.gemmWith("sgemm128", a, b, bias, beta, c)
	default:
		d.gemmWith("sgemm", a, b, bias, beta, c)
	}
}

// smallProduct is the number of 64×64 tiles below which products use
// 32×32 tiles: about the multiprocessors of an H100 (132). largeProduct is
// the number of 128×128 tiles from which products use them: about one full
// wave over those multiprocessors at two such blocks each (123 registers a
// thread on sm_90), so that a last, partial wave costs little. (Set by
// reasoning; BenchmarkGemm times every kernel on the step's shapes.)
const smallProduct, largeProduct = 128, 256

// splitK is the number of slices of K that gemmSplit cuts a product of
// the given number of 64×64 output tiles into: enough for about two waves
// of blocks over an H100's 132 multiprocessors, each slice at least
// splitMinK long, and none for products with blocks enough or a short K,
// which sgemm and sgemm32 serve. In the training step: the gradient of the
// output layer's input (K = the vocabulary) below batch 256, and from
// batch 128 the weight gradients summed over all steps (K = steps × batch).
// (Set by reasoning; BenchmarkGemm times it against the other kernels.)
func splitK(tiles, K int) int {
	if tiles >= splitTiles || K < 4*splitMinK {
		return 1
	}
	return min((splitTiles+tiles-1)/tiles, K/splitMinK)
}

const splitTiles, splitMinK = 264, 512

// splitWorkSize bounds the workspace of every split that gemmBias makes
// (8.7 MB): slices·M·N ≤ slices·tiles·64² with slices ≤ splitTiles/tiles + 1
// and tiles < splitTiles, so that a training run allocates it once.
const splitWorkSize = 2 * splitTiles * 64 * 64

// gemmSplit computes c = a·b + bias + beta·c as gemmBias does, with K cut
// into (up to) slices slices that the GPU computes side by side
// (sgemm_split), then adds (split_sum). Its workspace holds the slices'
// products: allocated at the first split, at splitWorkSize or more, and
// kept (only products split by hand, in tests and benchmarks, need more).
func (d *Device) gemmSplit(a, b mat, bias ptr, beta float32, c mat, slices int) {
	M, N, K := productShape(a, b, c)
	kSlice := (K + slices - 1) / slices
	kSlice = (kSlice + tileK - 1) / tileK * tileK
	slices = (K + kSlice - 1) / kSlice
	if need := slices * M * N; need > d.splitWork.n && d.err == nil {
		if err := d.sync(); err != nil { // the old workspace may be in use
			d.err = err
			return
		}
		d.release(d.splitWork)
		if d.splitWork, d.err = d.alloc(max(need, splitWorkSize)); d.err != nil {
			return
		}
	}
	d.launch("sgemm_split", [3]int{(N + 63) / 64, (M + 63) / 64, slices}, block1,
		M, N, K, kSlice, a.p, a.stride, a.trans, b.p, b.stride, b.trans, d.splitWork.p)
	d.launch("split_sum", grid1(M*N), block1, slices, M, N, d.splitWork.p, bias, beta, c.p, c.stride)
}

// productShape is the M, N and K of c = a·b, whose shapes must agree.
func productShape(a, b, c mat) (M, N, K int) {
	M, K = a.shape()
	K2, N := b.shape()
	if K != K2 || c.rows != M || c.cols != N || c.trans {
		panic("cuda: gemm shapes do not match")
	}
	return M, N, K
}

// tileK is TILE_K in gemm.cu: the product kernels step through K this
// many at a time, and a split's slices start at its multiples.
const tileK = 16

// gemmWith launches one of the product kernels: sgemm (64×64 tiles),
// sgemm32 (32×32), sgemm128 (128×128), sgemm_tf32 (64×64 on the tensor
// cores) or sgemm_plain (sgemm without prefetching, for BenchmarkGemm).
func (d *Device) gemmWith(kernel string, a, b mat, bias ptr, beta float32, c mat) {
	M, N, K := productShape(a, b, c)
	tile := 64
	switch kernel {
	case "sgemm32":
		tile = 32
	case "sgemm128":
		tile = 128
	}
	d.launch(kernel, [3]int{(N + tile - 1) / tile, (M + tile - 1) / tile, 1}, block1,
		M, N, K, float32(1), a.p, a.stride, a.trans, b.p, b.stride, b.trans, beta, c.p, c.stride, bias)
}

// distance is how many float32 elements q lies after p (negative: before);
// a kernel over two problems finds the second's arrays that far from the
// first's. Both are null, or neither.
func distance(p, q ptr) int64 {
	if (p == 0) != (q == 0) {
		panic("cuda: a batched launch with an array in one problem and none in the other")
	}
	return (int64(q) - int64(p)) / 4
}

func (d *Device) gather(rows, E int, ids ptr, table, out ptr) {
	d.launch("gather", grid1(rows*E), block1, rows, E, ids, table, out)
}

func (d *Device) scatterAdd(rows, E int, ids ptr, grad, dtable ptr) {
	d.launch("scatter_add", grid1(rows*E), block1, rows, E, ids, grad, dtable)
}

func (d *Device) addBias(x mat, bias ptr) {
	d.launch("add_bias", grid1(x.rows*x.cols), block1, x.rows, x.cols, x.p, bias)
}

// colChunk is COL_CHUNK in layers.cu: the rows of one col_sum_part block.
const colChunk = 256

// colChunks is how many chunks of rows colSum splits rows into.
func colChunks(rows int) int { return max(1, (rows+colChunk-1)/colChunk) }

// colSum adds the column sums of x to out. part holds each chunk's sums
// when x has more than colChunk rows: colChunks(rows)·cols floats.
func (d *Device) colSum(x mat, out ptr, part Buffer) {
	if x.trans || x.stride != x.cols {
		panic("cuda: colSum of a transposed or strided view") // a programming error
	}
	chunks := colChunks(x.rows)
	if chunks > 1 && part.n < chunks*x.cols {
		panic(fmt.Sprintf("cuda: colSum of %d rows needs %d floats for its chunks, not %d", x.rows, chunks*x.cols, part.n))
	}
	d.launch("col_sum_part", [3]int{(x.cols + 31) / 32, chunks, 1}, block1, x.rows, x.cols, x.p, part.p, out)
	if chunks > 1 {
		d.launch("col_sum_finish", grid1(x.cols), block1, chunks, x.cols, part.p, out)
	}
}

// sumBlocks adds the n consecutive blocks of len elements at x to out.
func (d *Device) sumBlocks(n, length int, x, out ptr) {
	d.launch("sum_blocks", grid1(length), block1, n, length, x, out)
}

func (d *Device) highwayFwd(n int, x, h, tgate, y ptr) {
	d.launch("highway_fwd", grid1(n), block1, int64(n), x, h, tgate, y)
}

func (d *Device) highwayBwd(n int, x, h, tgate, dy, dx ptr) {
	d.launch("highway_bwd", grid1(n), block1, int64(n), x, h, tgate, dy, dx)
}

func (d *Device) dropoutFwd(n int, key uint64, stream int, threshold uint32, scale float32, x, mask, y ptr) {
	d.launch("dropout_fwd", grid1(n), block1, int64(n), key, stream, threshold, scale, x, mask, y)
}

func (d *Device) mul(n int, x, mask, y ptr) {
	d.launch("mul", grid1(n), block1, int64(n), x, mask, y)
}

func (d *Device) wordDropout(n, B int, key uint64, stream int, threshold uint32, unk int, ids ptr) {
	d.launch("word_dropout", grid1(n), block1, n, B, key, stream, threshold, unk, ids)
}

func (d *Device) normalFill(n int, key uint64, stream int, out ptr) {
	d.launch("normal_fill", grid1(n), block1, n, key, stream, out)
}

func (d *Device) tanhFwd(n int, x, y ptr) { d.launch("tanh_fwd", grid1(n), block1, n, x, y) }

func (d *Device) tanhBwd(n int, y, dy, dx ptr) { d.launch("tanh_bwd", grid1(n), block1, n, y, dy, dx) }

// lstmStep is the arrays of one LSTM step forward: pre holds the input
// product; hprev (with Wh, the recurrent product's weights), extra and
// cprev may be 0 (none).
type lstmStep struct{ pre, extra, hprev, Wh, cprev, c, h ptr }

// Tile of lstm_fwd's blocks (LSTM_ROWS, LSTM_UNITS in layers.cu).
const lstmRows, lstmUnits = 32, 8

// lstmGrid is the grid of the LSTM kernels for n LSTMs of B rows × H units.
func lstmGrid(B, H, n int) [3]int {
	return [3]int{(H + lstmUnits - 1) / lstmUnits, (B + lstmRows - 1) / lstmRows, n}
}

// lstmFwd runs a step of one LSTM, or of two independent ones of the same
// size in one launch, the recurrent product and the cell together.
func (d *Device) lstmFwd(B, H int, steps ...lstmStep) {
	s := steps[0]
	var o [7]int64
	if len(steps) > 1 {
		q := steps[1]
		o = [7]int64{distance(s.pre, q.pre), distance(s.extra, q.extra), distance(s.hprev, q.hprev),
			distance(s.Wh, q.Wh), distance(s.cprev, q.cprev), distance(s.c, q.c), distance(s.h, q.h)}
	}
	if (s.hprev == 0) != (s.Wh == 0) {
		panic("cuda: an LSTM step with hprev but no Wh, or Wh but no hprev")
	}
	d.launch("lstm_fwd", lstmGrid(B, H, len(steps)), block1, B, H, s.pre, s.extra, s.hprev, s.Wh, s.cprev, s.c, s.h,
		o[0], o[1], o[2], o[3], o[4], o[5], o[6])
}

// lstmGrad is the arrays of one LSTM step backward: dh, cprev and
// dpreNext (with Wh, the recurrent product's weights) may be 0 (none).
type lstmGrad struct{ gates, c, cprev, dh, dpreNext, Wh, dc, dpre ptr }

// lstmBwd is the backward pass of lstmFwd, for one LSTM or two.
func (d *Device) lstmBwd(B, H int, steps ...lstmGrad) {
	s := steps[0]
	var o [8]int64
	if len(steps) > 1 {
		q := steps[1]
		o = [8]int64{distance(s.gates, q.gates), distance(s.c, q.c), distance(s.cprev, q.cprev), distance(s.dh, q.dh),
			distance(s.dpreNext, q.dpreNext), distance(s.Wh, q.Wh), distance(s.dc, q.dc), distance(s.dpre, q.dpre)}
	}
	if (s.dpreNext == 0) != (s.Wh == 0) {
		panic("cuda: an LSTM step back with dpreNext but no Wh, or Wh but no dpreNext")
	}
	d.launch("lstm_bwd", lstmGrid(B, H, len(steps)), block1, B, H, s.gates, s.c, s.cprev, s.dh, s.dpreNext, s.Wh,
		s.dc, s.dpre, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7])
}

func (d *Device) latentFwd(n int, mu, logvar, eps, z, kl ptr) {
	d.launch("latent_fwd", grid1(n), block1, n, mu, logvar, eps, z, kl)
}

func (d *Device) klDims(B, Z, rows int, kl, klDim ptr) {
	d.launch("kl_dims", grid1(Z), block1, B, Z, rows, kl, klDim)
}

func (d *Device) latentBwd(B, Z, rows int, beta, freeBits float32, mu, logvar, eps, klDim, dz, dmu, dlogvar ptr) {
	d.launch("latent_bwd", grid1(B*Z), block1, B, Z, rows, beta, freeBits, mu, logvar, eps, klDim, dz, dmu, dlogvar)
}

// xent: one block per row.
func (d *Device) xent(rows, V, B, count int, targets, logits, loss ptr) {
	d.launch("xent", [3]int{rows, 1, 1}, block1, rows, V, B, count, targets, logits, loss)
}

func (d *Device) finishLoss(rows int, rowLoss ptr, bagRows int, bagLoss ptr, Z int, klDim ptr, beta, freeBits float32, scalars ptr) {
	d.launch("finish_loss", [3]int{1, 1, 1}, block1, rows, rowLoss, bagRows, bagLoss, Z, klDim, beta, freeBits, scalars)
}

// normParts is the number of partial sums of the gradient norm.
const normParts = 512

func (d *Device) sumSquares(n int, g, partial ptr) {
	d.launch("sum_squares", [3]int{min(normParts, blocks(n)), 1, 1}, block1, int64(n), g, partial)
}

func (d *Device) clipScale(parts int, partial ptr, clip float32, scalars ptr) {
	d.launch("clip_scale", [3]int{1, 1, 1}, block1, parts, partial, clip, scalars)
}

func (d *Device) adam(n int, w, g, m, v, scale ptr, lr, c1, c2 float32) {
	d.launch("adam", grid1(n), block1, int64(n), w, g, m, v, scale, lr, c1, c2)
}
