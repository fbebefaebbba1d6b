package model

// Matrix products dominate training and decoding. When OpenBLAS is
// installed (Debian: libopenblas0) poetvae finds it at start-up and hands
// it the products (a training step runs about 3.8 times as fast as on
// gonum's pure-Go BLAS on two cores, docs/BENCHMARKS.md); otherwise it
// runs gonum's. Nothing is linked at build time: the library is opened
// with dlopen (blas_dlopen.go), so the same binary runs with or without it.
//
// POETVAE_BLAS=go forces pure Go at run time; building with
// -tags noopenblas (or without cgo) leaves the OpenBLAS path out.

import (
	"math"
	"os"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// pureGo names gonum's BLAS, the one used when OpenBLAS is not.
const pureGo = "gonum, pure Go"

// blasName is what BLAS reports, set once at start-up.
var blasName = pureGo

// BLAS names the matrix library in use, for benchmarks and logs:
// "OpenBLAS, libopenblas.so.0" (the file it was opened as) or
// "gonum, pure Go".
func BLAS() string { return blasName }

func init() {
	if os.Getenv("POETVAE_BLAS") == "go" {
		useBLAS(gonum.Implementation{})
		return
	}
	lib, ok := openOpenBLAS()
	if !ok {
		useBLAS(gonum.Implementation{})
		return
	}
	// One OpenBLAS thread: its worker threads spin while they wait and
	// fight Go's own threads for the cores; measured on 2 cores, a training
	// step of the default model runs 1.8× faster single-threaded
	// (docs/RESULTS.md). OPENBLAS_NUM_THREADS still overrides. splitBLAS
	// spreads the large products over the cores instead.
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		setOpenBLASThreads(1)
	}
	blasName = "OpenBLAS, " + lib
	useBLAS(splitBLAS{openBLAS{}})
}

// useBLAS makes b the BLAS of Gorgonia's ops (float32 in training) and of
// gonum's blas64 (the float64 decoding of forward.go).
func useBLAS(b G.BLAS) {
	G.Use(b)
	blas64.Use(b)
}

// openBLAS is gonum's pure-Go BLAS with the matrix products, the only
// routines training and decoding call often (Sgemm in training, Dgemm in
// decoding), handed to the OpenBLAS that openOpenBLAS found. Everything
// else is gonum's.
type openBLAS struct{ gonum.Implementation }

// cTranspose is CBLAS's code for a transposition (CblasNoTrans,
// CblasTrans, CblasConjTrans).
func cTranspose(t blas.Transpose) int {
	switch t {
	case blas.Trans:
		return 112
	case blas.ConjTrans:
		return 113
	}
	return 111
}

// fitsCInt reports whether every size and leading dimension fits CBLAS's
// 32-bit int.
func fitsCInt(v ...int) bool {
	for _, x := range v {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

func (o openBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	// gonum's checks, which panic on a bad call as gonum does: with
	// alpha 0 and beta 1 it stops right after them, touching nothing.
	o.Implementation.Dgemm(tA, tB, m, n, k, 0, a, lda, b, ldb, 1, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	// With nothing to multiply a and b may be empty: gonum scales c.
	if k == 0 || alpha == 0 || !fitsCInt(m, n, k, lda, ldb, ldc) {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	cDgemm(cTranspose(tA), cTranspose(tB), m, n, k, alpha, &a[0], lda, &b[0], ldb, beta, &c[0], ldc)
}

func (o openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	o.Implementation.Sgemm(tA, tB, m, n, k, 0, a, lda, b, ldb, 1, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 || !fitsCInt(m, n, k, lda, ldb, ldc) {
		o.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	cSgemm(cTranspose(tA), cTranspose(tB), m, n, k, alpha, &a[0], lda, &b[0], ldb, beta, &c[0], ldc)
}
