//go:build !cgo || noopenblas

package model

// Without cgo, or built with -tags noopenblas, poetvae does not look for
// OpenBLAS: gonum's pure-Go BLAS does every product.

func openOpenBLAS() (string, bool) { return "", false }

func setOpenBLASThreads(int) {}

func cDgemm(tA, tB, m, n, k int, alpha float64, a *float64, lda int, b *float64, ldb int, beta float64, c *float64, ldc int) {
	panic("model: OpenBLAS is not in this build")
}

func cSgemm(tA, tB, m, n, k int, alpha float32, a *float32, lda int, b *float32, ldb int, beta float32, c *float32, ldc int) {
	panic("model: OpenBLAS is not in this build")
}
