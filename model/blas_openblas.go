//go:build !noopenblas

package model

// Matrix products dominate training; OpenBLAS does them about twice as fast
// as gonum's pure-Go BLAS on two cores. Build with -tags noopenblas to do
// without it (no libopenblas-dev needed, slower).

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"os"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

func init() {
	// One OpenBLAS thread: its worker threads spin while they wait and
	// fight Go's own threads for the cores; measured on 2 cores, a training
	// step of the default model runs 1.8× faster single-threaded
	// (docs/RESULTS.md). OPENBLAS_NUM_THREADS still overrides.
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		C.openblas_set_num_threads(1)
	}
	G.Use(splitBLAS{netlib.Implementation{}})
	blas64.Use(splitBLAS{netlib.Implementation{}})
}

// BLAS names the matrix library in use, for benchmarks and logs.
const BLAS = "OpenBLAS"
