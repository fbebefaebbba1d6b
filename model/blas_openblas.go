//go:build !noopenblas

package model

// Matrix products dominate training; OpenBLAS does them about twice as fast
// as gonum's pure-Go BLAS on two cores. Build with -tags noopenblas to do
// without it (no libopenblas-dev needed, slower).

/*
#cgo LDFLAGS: -lopenblas
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() {
	G.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
}

// BLAS names the matrix library in use, for benchmarks and logs.
const BLAS = "OpenBLAS"
