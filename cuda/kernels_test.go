//go:build gpu

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"poetvae/model/noise"
)

// Each kernel against a plain-loop reference in float64 on fresh random
// inputs. Outputs are filled with NaN before every launch, so an element a
// kernel fails to write fails the comparison. A new kernel test belongs in
// TestKernelsInAnyOrder's list too (schedule_test.go), which runs them
// again in the emulator's other orders.

// Error bounds (relative to the largest reference value): FP32 element-wise
// work, and FP32 products whose sums run over up to a few hundred terms.
const (
	elementTol = 1e-5
	productTol = 1e-5
	tf32Tol    = 1e-3 // products on the tensor cores, inputs rounded to TF32
)

var testDevice *Device

func TestMain(m *testing.M) {
	d, err := Open(0)
	if err != nil {
		os.Stderr.WriteString("opening the device: " + err.Error() + "\n")
		os.Exit(1)
	}
	testDevice = d
	code := m.Run()
	d.Close()
	os.Exit(code)
}

func random(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return x
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// dev uploads x to a new device buffer.
func dev(t testing.TB, x []float32) Buffer {
	t.Helper()
	b, err := testDevice.alloc(len(x))
	if err != nil {
		t.Fatal(err)
	}
	if err := testDevice.upload(b, 0, x); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testDevice.release(b) })
	return b
}

func devInts(t testing.TB, x []int32) Buffer {
	t.Helper()
	b, err := testDevice.alloc(len(x))
	if err != nil {
		t.Fatal(err)
	}
	if err := testDevice.uploadInts(b, x); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testDevice.release(b) })
	return b
}

// poisoned returns a device buffer of n NaNs.
func poisoned(t testing.TB, n int) Buffer {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return dev(t, x)
}

func fetch(t testing.TB, b Buffer) []float64 {
	t.Helper()
	x := make([]float32, b.n)
	if err := testDevice.download(x, b, 0); err != nil {
		t.Fatal(err)
	}
	return f64(x)
}

func check(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if e := MaxRelErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.0e", what, e, tol)
	}
}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct{ M, N, K int }{{70, 130, 37}, {1, 1, 1}, {64, 64, 16}, {5, 300, 129}, {66, 20, 600}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					for _, withBias := range []bool{false, true} {
						M, N, K := tc.M, tc.N, tc.K
						for _, kernel := range []string{"sgemm", "sgemm32", "sgemm128", "sgemm_plain", "sgemm_tf32"} {
							what := fmt.Sprintf("%s %d×%d·%d×%d transA=%v transB=%v beta=%g bias=%v", kernel, M, K, K, N, ta, tb, beta, withBias)
							pc := newProduct(t, rng, M, N, K, ta, tb, beta, withBias)
							testDevice.gemmWith(kernel, pc.a, pc.b, pc.bias, beta, pc.cm)
							pc.check(t, kernel, what)
						}
						for _, slices := range []int{2, 3} {
							what := fmt.Sprintf("sgemm_split in %d %d×%d·%d×%d transA=%v transB=%v beta=%g bias=%v", slices, M, K, K, N, ta, tb, beta, withBias)
							pc := newProduct(t, rng, M, N, K, ta, tb, beta, withBias)
							testDevice.gemmSplit(pc.a, pc.b, pc.bias, beta, pc.cm, slices)
							pc.check(t, "sgemm_split", what)
						}
					}
				}
			}
		}
	}
}

// productCase is a product of random matrices on the device and its
// float64 results: from the inputs, and from the inputs rounded to TF32.
type productCase struct {
	a, b, cm   mat
	bias       ptr
	K          int
	c          Buffer
	want, tf32 []float64
}

// check compares the product with its reference. The tensor-core kernel
// must compute the TF32-rounded inputs' product in FP32 (1e-5), and stay
// within 1e-3 of the exact one where K ≥ 8: with a single term or two, one
// rounding of each input is the whole error, up to 2⁻¹⁰ of a·b, which a
// cancelling beta·C can make larger than 1e-3 of the result.
func (pc productCase) check(t *testing.T, kernel, what string) {
	t.Helper()
	got := fetch(t, pc.c)
	if kernel != "sgemm_tf32" {
		check(t, what, got, pc.want, productTol)
		return
	}
	check(t, what+" (TF32 inputs)", got, pc.tf32, productTol)
	if pc.K >= 8 {
		check(t, what, got, pc.want, tf32Tol)
	}
}

// tf32 rounds x to TF32's 10-bit mantissa, to nearest with ties away from
// zero, as the kernel's cvt.rna.tf32.f32 does.
func tf32(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7f800000 != 0x7f800000 {
		u = (u + 0x1000) &^ 0x1fff
	}
	return math.Float32frombits(u)
}

// bf16 rounds x to bfloat16's 7-bit mantissa, to nearest even, as
// __float2bfloat16_rn does.
func bf16(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7f800000 != 0x7f800000 {
		u = (u + 0x7fff + (u>>16)&1) &^ 0xffff
	}
	return math.Float32frombits(u)
}

// TestTensorCoreFormat is why the tensor-core products take TF32 and not
// BF16 inputs: at the sizes of the default model's products (K from the
// latent size, 32, through the decoder's input, the embedding plus z, 160,
// to the encoder's two directions side by side, 512), rounding the inputs
// to TF32 keeps the product within tf32Tol of the exact one, with room to
// spare, while BF16's three fewer mantissa bits put it past the bound.
func TestTensorCoreFormat(t *testing.T) {
	for _, c := range []struct{ x, want float32 }{
		{1 + 0x1p-8, 1},                    // halfway, to the even neighbour below
		{1 + 3*0x1p-8, 1 + 0x1p-6},         // halfway, to the even neighbour above
		{1 + 0x1p-8 + 0x1p-20, 1 + 0x1p-7}, // past halfway
		{-(1 + 0x1p-8 + 0x1p-20), -(1 + 0x1p-7)},
	} {
		if got := bf16(c.x); got != c.want {
			t.Fatalf("bf16(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	const M, N = 64, 256
	for _, K := range []int{32, 128, 160, 256, 512} {
		a, b := random(rng, M*K, 1), random(rng, K*N, 1)
		product := func(round func(float32) float32) []float64 {
			c := make([]float64, M*N)
			for i := 0; i < M; i++ {
				for j := 0; j < N; j++ {
					var s float64
					for k := 0; k < K; k++ {
						s += float64(round(a[i*K+k])) * float64(round(b[k*N+j]))
					}
					c[i*N+j] = s
				}
			}
			return c
		}
		exact := product(func(x float32) float32 { return x })
		tf, bf := MaxRelErr(product(tf32), exact), MaxRelErr(product(bf16), exact)
		t.Logf("K=%d: relative error with TF32 inputs %.2g, with BF16 inputs %.2g", K, tf, bf)
		if !(tf <= tf32Tol/2) {
			t.Errorf("K=%d: TF32 inputs: relative error %.3g, want within half of %.0e", K, tf, tf32Tol)
		}
		if !(bf > tf32Tol) {
			t.Errorf("K=%d: BF16 inputs: relative error %.3g within %.0e: BF16 would keep the bound", K, bf, tf32Tol)
		}
	}
}

// newProduct makes C = op(A)·op(B) + bias + beta·C, A stored K×M when ta,
// B N×K when tb, a bias for each column when withBias; C is poisoned when
// beta is 0.
func newProduct(t *testing.T, rng *rand.Rand, M, N, K int, ta, tb bool, beta float32, withBias bool) productCase {
	a, b, c0, bias := random(rng, M*K, 1), random(rng, K*N, 1), random(rng, M*N, 1), random(rng, N, 1)
	want, wantTF32 := make([]float64, M*N), make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s := float64(beta) * float64(c0[i*N+j])
			if withBias {
				s += float64(bias[j])
			}
			s32 := s
			for k := 0; k < K; k++ {
				av, bv := a[i*K+k], b[k*N+j]
				if ta {
					av = a[k*M+i]
				}
				if tb {
					bv = b[j*K+k]
				}
				s += float64(av) * float64(bv)
				s32 += float64(tf32(av)) * float64(tf32(bv))
			}
			want[i*N+j], wantTF32[i*N+j] = s, s32
		}
	}
	ab, bb := dev(t, a), dev(t, b)
	am, bm := m(ab, 0, M, K), m(bb, 0, K, N)
	if ta {
		am = m(ab, 0, K, M).T()
	}
	if tb {
		bm = m(bb, 0, N, K).T()
	}
	c := poisoned(t, M*N)
	if beta != 0 {
		c = dev(t, c0)
	}
	var biasPtr ptr
	if withBias {
		biasPtr = dev(t, bias).p
	}
	return productCase{am, bm, m(c, 0, M, N), biasPtr, K, c, want, wantTF32}
}

func TestGatherScatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const V, E, rows = 11, 7, 40
	table := random(rng, V*E, 1)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(rng.IntN(V)) // repeats: the scatter must add them all
	}
	grad := random(rng, rows*E, 1)
	dtable0 := random(rng, V*E, 1)
	wantG := make([]float64, rows*E)
	wantS := f64(dtable0)
	for r, id := range ids {
		for j := 0; j < E; j++ {
			wantG[r*E+j] = float64(table[int(id)*E+j])
			wantS[int(id)*E+j] += float64(grad[r*E+j])
		}
	}
	tb, ib, out := dev(t, table), devInts(t, ids), poisoned(t, rows*E)
	testDevice.gather(rows, E, ib.p, tb.p, out.p)
	check(t, "gather", fetch(t, out), wantG, elementTol)
	dt := dev(t, dtable0)
	testDevice.scatterAdd(rows, E, ib.p, dev(t, grad).p, dt.p)
	check(t, "scatter_add", fetch(t, dt), wantS, elementTol)
}

func TestBiasKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const rows, cols = 37, 300
	x, bias, acc := random(rng, rows*cols, 1), random(rng, cols, 1), random(rng, cols, 1)
	want := f64(x)
	wantSum := f64(acc)
	wantBlocks := f64(acc)
	for r := 0; r < rows; r++ {
		for j := 0; j < cols; j++ {
			want[r*cols+j] += float64(bias[j])
			wantSum[j] += float64(x[r*cols+j])
		}
	}
	// sum_blocks over 3 blocks of 100 elements of the first 300 values
	for k := 0; k < 3; k++ {
		for i := 0; i < 100; i++ {
			if i < cols {
				wantBlocks[i] += float64(x[k*100+i])
			}
		}
	}
	xb := dev(t, x)
	testDevice.addBias(m(xb, 0, rows, cols), dev(t, bias).p)
	check(t, "add_bias", fetch(t, xb), want, elementTol)
	ab := dev(t, acc)
	testDevice.colSum(m(dev(t, x), 0, rows, cols), ab.p, Buffer{})
	check(t, "col_sum", fetch(t, ab), wantSum, productTol)
	bb := dev(t, acc)
	testDevice.sumBlocks(3, 100, dev(t, x).p, bb.p)
	got := fetch(t, bb)
	check(t, "sum_blocks", got[:100], wantBlocks[:100], elementTol)
	check(t, "sum_blocks untouched tail", got[100:], f64(acc[100:]), 0)
}

// TestColSum covers one chunk of rows, exactly one, and several with a
// short last one, over column counts off the 32-column blocks; the chunks'
// buffer is poisoned, so a chunk left unwritten shows.
func TestColSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sz := range [][2]int{{5, 3}, {colChunk, 40}, {colChunk + 1, 33}, {3*colChunk + 77, 70}} {
		rows, cols := sz[0], sz[1]
		x, acc := random(rng, rows*cols, 1), random(rng, cols, 1)
		want := f64(acc)
		for r := 0; r < rows; r++ {
			for j := 0; j < cols; j++ {
				want[j] += float64(x[r*cols+j])
			}
		}
		out := dev(t, acc)
		testDevice.colSum(m(dev(t, x), 0, rows, cols), out.p, poisoned(t, colChunks(rows)*cols))
		check(t, fmt.Sprintf("col_sum %d×%d", rows, cols), fetch(t, out), want, productTol)
	}
}

func TestHighway(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n = 1000
	x, h, tp, dy := random(rng, n, 2), random(rng, n, 2), random(rng, n, 3), random(rng, n, 1)
	wantT, wantY := make([]float64, n), make([]float64, n)
	wantDx, wantDh, wantDt := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		tg := 1 / (1 + math.Exp(-float64(tp[i])))
		relu := math.Max(float64(h[i]), 0)
		wantT[i] = tg
		wantY[i] = float64(x[i]) + tg*(relu-float64(x[i]))
		g := float64(dy[i])
		wantDx[i] = g * (1 - tg)
		if h[i] > 0 {
			wantDh[i] = g * tg
		}
		wantDt[i] = g * (relu - float64(x[i])) * tg * (1 - tg)
	}
	xb, hb, tb, yb := dev(t, x), dev(t, h), dev(t, tp), poisoned(t, n)
	testDevice.highwayFwd(n, xb.p, hb.p, tb.p, yb.p)
	check(t, "highway_fwd y", fetch(t, yb), wantY, elementTol)
	check(t, "highway_fwd t", fetch(t, tb), wantT, elementTol)
	dx := poisoned(t, n)
	testDevice.highwayBwd(n, xb.p, hb.p, tb.p, dev(t, dy).p, dx.p)
	check(t, "highway_bwd dx", fetch(t, dx), wantDx, elementTol)
	check(t, "highway_bwd dh", fetch(t, hb), wantDh, elementTol)
	check(t, "highway_bwd dt", fetch(t, tb), wantDt, elementTol)
}

func TestRandomKernelsMatchNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	src := noise.New(42, 17)
	const n, B = 3000, 12
	p := 0.3
	th := noise.Threshold(p)
	x := random(rng, n, 1)
	wantMask, wantY := make([]float64, n), make([]float64, n)
	scale := float32(1 / (1 - p))
	for i := range x {
		if !src.Dropped(noise.DecDropout, i, th) {
			wantMask[i] = float64(scale)
			wantY[i] = float64(x[i] * scale)
		}
	}
	mask, y := poisoned(t, n), poisoned(t, n)
	testDevice.dropoutFwd(n, src.Key(), noise.DecDropout, th, scale, dev(t, x).p, mask.p, y.p)
	check(t, "dropout mask", fetch(t, mask), wantMask, 0)
	check(t, "dropout output", fetch(t, y), wantY, elementTol)

	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(4 + rng.IntN(50))
	}
	want := make([]float64, n)
	for i, id := range ids {
		want[i] = float64(id)
		if i >= B && src.Dropped(noise.WordDropout, i, th) {
			want[i] = 3
		}
	}
	ib := devInts(t, ids)
	testDevice.wordDropout(n, B, src.Key(), noise.WordDropout, th, 3, ib.p)
	got := make([]int32, n)
	if err := testDevice.downloadInts(got, ib); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if float64(got[i]) != want[i] {
			t.Fatalf("word dropout: id %d is %d, want %v", i, got[i], want[i])
		}
	}

	eps := poisoned(t, n)
	testDevice.normalFill(n, src.Key(), noise.Eps, eps.p)
	wantEps := make([]float64, n)
	for i := range wantEps {
		wantEps[i] = src.Normal(noise.Eps, i)
	}
	check(t, "normal_fill", fetch(t, eps), wantEps, elementTol)
}

// TestLaunchLimits: a launch the hardware refuses fails, on the emulated
// device as on a GPU, and the device works on after it.
func TestLaunchLimits(t *testing.T) {
	x := dev(t, []float32{0.5, -2})
	for _, c := range []struct{ grid, block [3]int }{
		{[3]int{0, 1, 1}, block1},
		{grid1(2), [3]int{2048, 1, 1}},
		{[3]int{1, 70000, 1}, block1},
	} {
		testDevice.launch("tanh_fwd", c.grid, c.block, 2, x.p, x.p)
		if err := testDevice.sync(); err == nil {
			t.Errorf("grid %v, block %v: launched", c.grid, c.block)
		}
	}
	testDevice.launch("tanh_fwd", grid1(2), block1, 2, x.p, x.p)
	if err := testDevice.sync(); err != nil {
		t.Fatal(err)
	}
	check(t, "tanh after refused launches", fetch(t, x), []float64{math.Tanh(0.5), math.Tanh(-2)}, elementTol)
}

func TestTanh(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const n = 500
	x, dy := random(rng, n, 3), random(rng, n, 1)
	wantY, wantD := make([]float64, n), make([]float64, n)
	for i := range x {
		y := math.Tanh(float64(x[i]))
		wantY[i] = y
		wantD[i] = float64(dy[i]) * (1 - y*y)
	}
	yb, db := poisoned(t, n), poisoned(t, n)
	testDevice.tanhFwd(n, dev(t, x).p, yb.p)
	check(t, "tanh_fwd", fetch(t, yb), wantY, elementTol)
	testDevice.tanhBwd(n, yb.p, dev(t, dy).p, db.p)
	check(t, "tanh_bwd", fetch(t, db), wantD, elementTol)
}

// lstmRef is one LSTM step forward and back in float64: the reference for
// lstm_fwd and lstm_bwd. hprev (with Wh, the recurrent product), extra,
// cprev, dh and dpreNext may be nil.
func lstmRef(B, H int, pre, extra, hprev, Wh, cprev, dh, dpreNext, dcNext []float32) (gates, c, h, dpre, dcPrev []float64) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	gates, c, h = make([]float64, B*4*H), make([]float64, B*H), make([]float64, B*H)
	dpre, dcPrev = make([]float64, B*4*H), make([]float64, B*H)
	for b := 0; b < B; b++ {
		for j := 0; j < H; j++ {
			var p [4]float64
			for k := range p {
				p[k] = float64(pre[b*4*H+k*H+j])
				if extra != nil {
					p[k] += float64(extra[b*4*H+k*H+j])
				}
				for l := 0; hprev != nil && l < H; l++ {
					p[k] += float64(hprev[b*H+l]) * float64(Wh[l*4*H+k*H+j])
				}
			}
			i, f, g, o := sig(p[0]), sig(p[1]), math.Tanh(p[2]), sig(p[3])
			cp := 0.0
			if cprev != nil {
				cp = float64(cprev[b*H+j])
			}
			cc := f*cp + i*g
			idx := b*H + j
			gates[b*4*H+j], gates[b*4*H+H+j], gates[b*4*H+2*H+j], gates[b*4*H+3*H+j] = i, f, g, o
			c[idx], h[idx] = cc, o*math.Tanh(cc)

			dhj := 0.0
			if dh != nil {
				dhj = float64(dh[idx])
			}
			for k := 0; dpreNext != nil && k < 4*H; k++ {
				dhj += float64(dpreNext[b*4*H+k]) * float64(Wh[j*4*H+k])
			}
			tc := math.Tanh(cc)
			dcell := float64(dcNext[idx]) + dhj*o*(1-tc*tc)
			dpre[b*4*H+j] = dcell * g * i * (1 - i)
			dpre[b*4*H+H+j] = dcell * cp * f * (1 - f)
			dpre[b*4*H+2*H+j] = dcell * i * (1 - g*g)
			dpre[b*4*H+3*H+j] = dhj * tc * o * (1 - o)
			dcPrev[idx] = dcell * f
		}
	}
	return
}

// lstmInputs says which of an LSTM step's optional inputs it has: forward
// the previous h (and so a recurrent product) and the previous cell;
// backward a gradient of h from outside and one from the next step.
type lstmInputs struct{ hprev, cprev, dh, next bool }

// lstmCase is one LSTM step's arrays on the device and its float64 results.
type lstmCase struct {
	fwd                        lstmStep
	bwd                        lstmGrad
	pre, c, h, dc, dpre        Buffer
	gates, cRef, hRef, dpreRef []float64
	dcPrev                     []float64
}

func newLSTMCase(t *testing.T, rng *rand.Rand, B, H int, in lstmInputs) *lstmCase {
	pre, extra, Wh := random(rng, B*4*H, 2), random(rng, B*4*H, 1), random(rng, H*4*H, 0.3)
	hprev, cprev, dh := random(rng, B*H, 1), random(rng, B*H, 1), random(rng, B*H, 1)
	dpreNext, dc := random(rng, B*4*H, 1), random(rng, B*H, 1)
	lc := &lstmCase{pre: dev(t, pre), c: poisoned(t, B*H), h: poisoned(t, B*H), dc: dev(t, dc), dpre: poisoned(t, B*4*H)}
	lc.fwd = lstmStep{pre: lc.pre.p, extra: dev(t, extra).p, c: lc.c.p, h: lc.h.p}
	lc.bwd = lstmGrad{gates: lc.pre.p, c: lc.c.p, dc: lc.dc.p, dpre: lc.dpre.p}
	whBuf := dev(t, Wh).p
	if in.hprev {
		lc.fwd.hprev, lc.fwd.Wh = dev(t, hprev).p, whBuf
	} else {
		hprev = nil
	}
	if in.cprev {
		lc.fwd.cprev = dev(t, cprev).p
		lc.bwd.cprev = lc.fwd.cprev
	} else {
		cprev = nil
	}
	if in.dh {
		lc.bwd.dh = dev(t, dh).p
	} else {
		dh = nil
	}
	if in.next {
		lc.bwd.dpreNext, lc.bwd.Wh = dev(t, dpreNext).p, whBuf
	} else {
		dpreNext = nil
	}
	lc.gates, lc.cRef, lc.hRef, lc.dpreRef, lc.dcPrev = lstmRef(B, H, pre, extra, hprev, Wh, cprev, dh, dpreNext, dc)
	return lc
}

func (lc *lstmCase) check(t *testing.T, what string) {
	t.Helper()
	check(t, what+" lstm_fwd gates", fetch(t, lc.pre), lc.gates, elementTol)
	check(t, what+" lstm_fwd c", fetch(t, lc.c), lc.cRef, elementTol)
	check(t, what+" lstm_fwd h", fetch(t, lc.h), lc.hRef, elementTol)
	check(t, what+" lstm_bwd dpre", fetch(t, lc.dpre), lc.dpreRef, elementTol)
	check(t, what+" lstm_bwd dc", fetch(t, lc.dc), lc.dcPrev, elementTol)
}

func TestLSTMStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// Sizes off the kernels' tiles (32 rows, 8 units, 64 of K). The cases:
	// a middle step; an encoder's first step forward and last step back; a
	// VAE decoder's first step forward (its h0 but no cell), which is an
	// encoder's middle step back (no gradient from outside).
	for _, size := range []struct{ B, H int }{{5, 33}, {40, 17}, {3, 70}} {
		for _, in := range []lstmInputs{{true, true, true, true}, {false, false, true, false}, {true, false, false, true}} {
			B, H := size.B, size.H
			what := fmt.Sprintf("B=%d H=%d %+v:", B, H, in)
			one := newLSTMCase(t, rng, B, H, in)
			testDevice.lstmFwd(B, H, one.fwd)
			testDevice.lstmBwd(B, H, one.bwd)
			one.check(t, "one LSTM, "+what)

			// Two LSTMs in one launch, the second's arrays before the
			// first's in memory (negative offsets).
			second := newLSTMCase(t, rng, B, H, in)
			first := newLSTMCase(t, rng, B, H, in)
			testDevice.lstmFwd(B, H, first.fwd, second.fwd)
			testDevice.lstmBwd(B, H, first.bwd, second.bwd)
			first.check(t, "first of two, "+what)
			second.check(t, "second of two, "+what)
		}
	}
}

func TestLatent(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const B, Z, rows = 6, 9, 4
	const beta, free = 0.7, 0.05
	mu, lv, eps, dz := random(rng, B*Z, 1), random(rng, B*Z, 1), random(rng, B*Z, 1), random(rng, B*Z, 1)
	wantZ, wantKL := make([]float64, B*Z), make([]float64, B*Z)
	for i := range mu {
		m, l := float64(mu[i]), float64(lv[i])
		wantZ[i] = m + math.Exp(0.5*l)*float64(eps[i])
		wantKL[i] = 0.5 * (m*m + math.Exp(l) - 1 - l)
	}
	wantDim := make([]float64, Z)
	for d := 0; d < Z; d++ {
		for b := 0; b < rows; b++ {
			wantDim[d] += wantKL[b*Z+d] / rows
		}
	}
	wantDmu, wantDlv := make([]float64, B*Z), make([]float64, B*Z)
	for b := 0; b < B; b++ {
		for d := 0; d < Z; d++ {
			i := b*Z + d
			w := 0.0
			if b < rows && wantDim[d] > free {
				w = beta / rows
			}
			l := float64(lv[i])
			wantDmu[i] = w*float64(mu[i]) + float64(dz[i])
			wantDlv[i] = w*0.5*(math.Exp(l)-1) + float64(dz[i])*float64(eps[i])*0.5*math.Exp(0.5*l)
		}
	}
	mb, lb, eb := dev(t, mu), dev(t, lv), dev(t, eps)
	zb, kb, db := poisoned(t, B*Z), poisoned(t, B*Z), poisoned(t, Z)
	testDevice.latentFwd(B*Z, mb.p, lb.p, eb.p, zb.p, kb.p)
	check(t, "latent_fwd z", fetch(t, zb), wantZ, elementTol)
	check(t, "latent_fwd kl", fetch(t, kb), wantKL, elementTol)
	testDevice.klDims(B, Z, rows, kb.p, db.p)
	check(t, "kl_dims", fetch(t, db), wantDim, elementTol)
	dmu, dlv := poisoned(t, B*Z), poisoned(t, B*Z)
	testDevice.latentBwd(B, Z, rows, beta, free, mb.p, lb.p, eb.p, db.p, dev(t, dz).p, dmu.p, dlv.p)
	check(t, "latent_bwd dmu", fetch(t, dmu), wantDmu, elementTol)
	check(t, "latent_bwd dlogvar", fetch(t, dlv), wantDlv, elementTol)

	// finish_loss over row losses and these KL dimensions.
	rowLoss := random(rng, 700, 1)
	var nll, kl, klFloor float64
	for _, v := range rowLoss {
		nll += float64(v)
	}
	for _, v := range wantDim {
		kl += v
		klFloor += math.Max(v, free)
	}
	sc := poisoned(t, 8)
	testDevice.finishLoss(len(rowLoss), dev(t, rowLoss).p, 0, 0, Z, db.p, beta, free, sc.p)
	got := fetch(t, sc)
	check(t, "finish_loss", got[:4], []float64{nll + beta*klFloor, nll, kl, klFloor}, elementTol)
	// With the bag-of-characters rows: they join the loss, not the NLL.
	bagLoss := random(rng, 300, 1)
	var bag float64
	for _, v := range bagLoss {
		bag += float64(v)
	}
	testDevice.finishLoss(len(rowLoss), dev(t, rowLoss).p, len(bagLoss), dev(t, bagLoss).p, Z, db.p, beta, free, sc.p)
	got = fetch(t, sc)
	check(t, "finish_loss with a bag", append(got[:4:4], got[6]), []float64{nll + bag + beta*klFloor, nll, kl, klFloor, bag}, elementTol)
}

func TestXent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const B, count, steps, V = 4, 3, 3, 1000
	rows := B * steps
	logits := random(rng, rows*V, 20) // large logits: the max subtraction matters
	targets := make([]int32, rows)
	for i := range targets {
		targets[i] = int32(rng.IntN(V))
	}
	wantLoss, wantGrad := make([]float64, rows), make([]float64, rows*V)
	for r := 0; r < rows; r++ {
		x := f64(logits[r*V : (r+1)*V])
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range x {
			s += math.Exp(v - mx)
		}
		lse := mx + math.Log(s)
		w := 0.0
		if r%B < count {
			w = 1.0 / count
		}
		wantLoss[r] = w * (lse - x[targets[r]])
		for j, v := range x {
			g := math.Exp(v - lse)
			if j == int(targets[r]) {
				g--
			}
			wantGrad[r*V+j] = w * g
		}
	}
	lb, loss := dev(t, logits), poisoned(t, rows)
	testDevice.xent(rows, V, B, count, devInts(t, targets).p, lb.p, loss.p)
	check(t, "xent loss", fetch(t, loss), wantLoss, elementTol)
	check(t, "xent gradient", fetch(t, lb), wantGrad, elementTol)
}

func TestOptimiser(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	const n = 100000
	g, w, mo, v := random(rng, n, 0.1), random(rng, n, 1), random(rng, n, 0.01), random(rng, n, 0.01)
	for i := range v {
		v[i] = float32(math.Abs(float64(v[i])))
	}
	var sq float64
	for _, x := range g {
		sq += float64(x) * float64(x)
	}
	norm := math.Sqrt(sq)
	for _, clip := range []float64{norm / 2, 0} {
		parts := min(normParts, blocks(n))
		partial, sc := poisoned(t, normParts), poisoned(t, 8)
		gb := dev(t, g)
		testDevice.sumSquares(n, gb.p, partial.p)
		testDevice.clipScale(parts, partial.p, float32(clip), sc.p)
		got := fetch(t, sc)
		scale := 1.0
		if clip > 0 {
			scale = clip / norm
		}
		check(t, "gradient norm", got[4:6], []float64{norm, scale}, productTol)

		const lr, step = 2e-3, 3
		c1, c2 := 1-math.Pow(0.9, step), 1-math.Pow(0.999, step)
		wantW, wantM, wantV := make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range w {
			gi := float64(g[i]) * scale
			mi := 0.9*float64(mo[i]) + 0.1*gi
			vi := 0.999*float64(v[i]) + 0.001*gi*gi
			wantM[i], wantV[i] = mi, vi
			wantW[i] = float64(w[i]) - lr*(mi/c1)/(math.Sqrt(vi/c2)+1e-8)
		}
		wb, mb, vb := dev(t, w), dev(t, mo), dev(t, v)
		testDevice.adam(n, wb.p, gb.p, mb.p, vb.p, sc.p.at(5), lr, float32(c1), float32(c2))
		check(t, "adam w", fetch(t, wb), wantW, elementTol)
		check(t, "adam m", fetch(t, mb), wantM, elementTol)
		check(t, "adam v", fetch(t, vb), wantV, elementTol)
	}
}

// TestSplitWorkSize: every product that gemmBias splits fits the workspace
// allocated at the first split, so that a training run allocates it once.
func TestSplitWorkSize(t *testing.T) {
	for M := 1; M < 3000; M += 23 {
		for N := 1; N < 3000; N += 29 {
			tiles := ((M + 63) / 64) * ((N + 63) / 64)
			for _, K := range []int{2048, 5984, 1 << 20} {
				if s := splitK(tiles, K); s > 1 && s*M*N > splitWorkSize {
					t.Fatalf("%d×%d over K = %d in %d slices needs %d floats, over %d", M, N, K, s, s*M*N, splitWorkSize)
				}
			}
		}
	}
}
