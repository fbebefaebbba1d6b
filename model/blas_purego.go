//go:build noopenblas

package model

// BLAS names the matrix library in use, for benchmarks and logs.
const BLAS = "gonum (pure Go)"
