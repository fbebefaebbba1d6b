//go:build gpu

package cuda

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

// gemm sets c = a·b + beta·c (a and b possibly transposed views), in 64×64
// tiles, or in 32×32 tiles when 64×64 ones would leave most of a large
// GPU's multiprocessors idle (the per-step products of the LSTMs).
func (d *Device) gemm(a, b mat, beta float32, c mat) {
	switch {
	case ((c.rows+63)/64)*((c.cols+63)/64) < smallProduct:
		d.gemmWith("sgemm32", a, b, beta, c)
	case d.TF32:
		d.gemmWith("sgemm_tf32", a, b, beta, c)
	default:
		d.gemmWith("sgemm", a, b, beta, c)
	}
}

// smallProduct is the number of 64×64 tiles below which products use
// 32×32 tiles: about the multiprocessors of an H100 (132).
const smallProduct = 128

// gemmWith launches one of the product kernels: sgemm (64×64 tiles),
// sgemm32 (32×32) or sgemm_tf32 (64×64 on the tensor cores).
func (d *Device) gemmWith(kernel string, a, b mat, beta float32, c mat) {
	M, K := a.shape()
	K2, N := b.shape()
	if K != K2 || c.rows != M || c.cols != N || c.trans {
		panic("cuda: gemm shapes do not match")
	}
	tile := 64
	if kernel == "sgemm32" {
		tile = 32
	}
	d.launch(kernel, [3]int{(N + tile - 1) / tile, (M + tile - 1) / tile, 1}, block1,
		M, N, K, float32(1), a.p, a.stride, a.trans, b.p, b.stride, b.trans, beta, c.p, c.stride)
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

// colSum adds the column sums of x to out.
func (d *Device) colSum(x mat, out ptr) {
	d.launch("col_sum", grid1(x.cols), block1, x.rows, x.cols, x.p, out)
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

// lstmFwd: extra and cprev may be 0 (none).
func (d *Device) lstmFwd(B, H int, pre, extra, cprev, c, h ptr) {
	d.launch("lstm_fwd", grid1(B*H), block1, B, H, pre, extra, cprev, c, h)
}

// lstmBwd: cprev may be 0 (none).
func (d *Device) lstmBwd(B, H int, gates, c, cprev, dh, dc, dpre ptr) {
	d.launch("lstm_bwd", grid1(B*H), block1, B, H, gates, c, cprev, dh, dc, dpre)
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

func (d *Device) finishLoss(rows int, rowLoss ptr, Z int, klDim ptr, beta, freeBits float32, scalars ptr) {
	d.launch("finish_loss", [3]int{1, 1, 1}, block1, rows, rowLoss, Z, klDim, beta, freeBits, scalars)
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
