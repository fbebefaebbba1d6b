package model

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// TestSplitBLAS holds the split products to the unsplit ones: both
// transpositions of each operand, results taller and wider than their
// inner dimension, operands inside wider matrices (leading dimensions
// beyond their widths) and an existing result to add to (beta ≠ 0).
func TestSplitBLAS(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	}
	rng := rand.New(rand.NewPCG(5, 5))
	whole := gonum.Implementation{}
	split := splitBLAS{whole}
	for _, dims := range [][3]int{{300, 200, 100}, {90, 700, 80}, {9, 9, 9}} {
		m, n, k := dims[0], dims[1], dims[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				t.Run(fmt.Sprintf("%dx%dx%d/%c%c", m, n, k, tA, tB), func(t *testing.T) {
					ar, ac := m, k
					if tA == blas.Trans {
						ar, ac = k, m
					}
					br, bc := k, n
					if tB == blas.Trans {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+3, bc+5, n+7
					a, b := randoms(rng, ar*lda), randoms(rng, br*ldb)
					c := randoms(rng, m*ldc)
					want := append([]float64(nil), c...)
					whole.Dgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, 0.5, want, ldc)
					split.Dgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, 0.5, c, ldc)
					if e := maxRelErr(c, want); e > 1e-13 {
						t.Errorf("float64: split product differs by %.3g", e)
					}

					a32, b32, c32 := float32s(a), float32s(b), float32s(randoms(rng, m*ldc))
					want32 := append([]float32(nil), c32...)
					whole.Sgemm(tA, tB, m, n, k, 1.5, a32, lda, b32, ldb, 0.5, want32, ldc)
					split.Sgemm(tA, tB, m, n, k, 1.5, a32, lda, b32, ldb, 0.5, c32, ldc)
					if e := maxRelErr(toFloat64(c32), toFloat64(want32)); e > 1e-5 {
						t.Errorf("float32: split product differs by %.3g", e)
					}
				})
			}
		}
	}
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
