package model

import (
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// splitBLAS hands each large matrix product to the cores in parts: it
// splits the result's rows (or its columns, when it has more of them) into
// one contiguous range per core and runs a product for each range
// side by side, every one on the single-threaded library underneath.
// OpenBLAS could thread a product itself, but its threads spin between
// products and fight the Go ops' own goroutines for the cores: on a
// training step on two cores, OPENBLAS_NUM_THREADS=2 saved 3% of the time,
// splitting saves 19% (docs/RESULTS.md). Every element of the result is
// computed by exactly one part, over the whole inner dimension: with
// OpenBLAS on the build machine the parts came out bit-identical to the
// whole product for every product of the default model, split 2, 3, 4 and
// 7 ways, so a run does not depend on the number of cores there.
type splitBLAS struct{ G.BLAS }

// splitMin is the least work (multiply-adds) worth a part of its own: a
// few tens of microseconds, well above a goroutine's start.
const splitMin = 1 << 21

func (s splitBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	splitGemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []float32) {
		s.BLAS.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

func (s splitBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	splitGemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []float64) {
		s.BLAS.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// splitGemm cuts the product c (m × n) = op(a) (m × k) · op(b) (k × n),
// row-major with leading dimensions lda, ldb, ldc, into parts and calls
// part(rows, cols, a, b, c) on each with the slices moved to its corner.
func splitGemm[F float32 | float64](tA, tB blas.Transpose, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int, part func(m, n int, a, b, c []F)) {
	work := m * n * max(k, 1)
	if work < 2*splitMin {
		part(m, n, a, b, c)
		return
	}
	if m >= n {
		// Rows lo…hi of c come from rows lo…hi of op(a): rows of a, or
		// columns of a when it is stored transposed.
		inParallel(m, max(splitMin/(n*max(k, 1)), 1), func(lo, hi int) {
			aOff := lo * lda
			if tA != blas.NoTrans {
				aOff = lo
			}
			part(hi-lo, n, a[aOff:], b, c[lo*ldc:])
		})
		return
	}
	// Columns lo…hi of c come from columns lo…hi of op(b).
	inParallel(n, max(splitMin/(m*max(k, 1)), 1), func(lo, hi int) {
		bOff := lo
		if tB != blas.NoTrans {
			bOff = lo * ldb
		}
		part(m, hi-lo, a, b[bOff:], c[lo:])
	})
}
