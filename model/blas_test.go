package model

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// needOpenBLAS skips a test or benchmark when this process runs pure Go.
func needOpenBLAS(t testing.TB) {
	t.Helper()
	if !strings.HasPrefix(BLAS(), "OpenBLAS") {
		t.Skipf("OpenBLAS not in use here (%s): it is not installed (Debian: libopenblas0), POETVAE_BLAS=go, or the build has -tags noopenblas", BLAS())
	}
}

// gemmCase is a product op(a) (m × k) · op(b) (k × n) into c (m × n), each
// operand inside a wider matrix (leading dimension beyond its width).
type gemmCase struct {
	tA, tB        blas.Transpose
	m, n, k       int
	lda, ldb, ldc int
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	for _, d := range [][3]int{{1, 1, 1}, {7, 5, 3}, {64, 1024, 256}, {300, 17, 129}, {33, 200, 1}} {
		m, n, k := d[0], d[1], d[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				lda, ldb := k+3, n+5
				if tA == blas.Trans {
					lda = m + 3
				}
				if tB == blas.Trans {
					ldb = k + 5
				}
				cases = append(cases, gemmCase{tA, tB, m, n, k, lda, ldb, n + 7})
			}
		}
	}
	return cases
}

func (g gemmCase) String() string {
	return fmt.Sprintf("%dx%dx%d/%c%c", g.m, g.n, g.k, g.tA, g.tB)
}

// sizes are the lengths of a, b and c.
func (g gemmCase) sizes() (int, int, int) {
	ar, br := g.m, g.k
	if g.tA == blas.Trans {
		ar = g.k
	}
	if g.tB == blas.Trans {
		br = g.n
	}
	return ar * g.lda, br * g.ldb, g.m * g.ldc
}

// TestOpenBLASDgemm holds OpenBLAS's products to gonum's: every shape in
// both transpositions of each operand, leading dimensions beyond the
// widths, alpha ≠ 1 and an existing result to add to (beta ≠ 0), and the
// padding between rows of c left alone.
func TestOpenBLASDgemm(t *testing.T) {
	needOpenBLAS(t)
	rng := rand.New(rand.NewPCG(3, 7))
	ref, ob := gonum.Implementation{}, openBLAS{}
	for _, g := range gemmCases() {
		t.Run(g.String(), func(t *testing.T) {
			na, nb, nc := g.sizes()
			a, b, c := randoms(rng, na), randoms(rng, nb), randoms(rng, nc)
			for _, ab := range [][2]float64{{1.5, 0.5}, {-0.7, 0}, {1, 1}} {
				alpha, beta := ab[0], ab[1]
				want := append([]float64(nil), c...)
				got := append([]float64(nil), c...)
				ref.Dgemm(g.tA, g.tB, g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb, beta, want, g.ldc)
				ob.Dgemm(g.tA, g.tB, g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb, beta, got, g.ldc)
				if e := maxRelErr(got, want); e > 1e-12 {
					t.Errorf("alpha %g, beta %g: OpenBLAS differs from gonum by %.3g", alpha, beta, e)
				}
			}

			a32, b32, c32 := float32s(a), float32s(b), float32s(c)
			want32 := append([]float32(nil), c32...)
			ref.Sgemm(g.tA, g.tB, g.m, g.n, g.k, 1.5, a32, g.lda, b32, g.ldb, 0.5, want32, g.ldc)
			ob.Sgemm(g.tA, g.tB, g.m, g.n, g.k, 1.5, a32, g.lda, b32, g.ldb, 0.5, c32, g.ldc)
			if e := maxRelErr(toFloat64(c32), toFloat64(want32)); e > 1e-4 {
				t.Errorf("float32: OpenBLAS differs from gonum by %.3g", e)
			}
		})
	}
}

// TestOpenBLASDgemmChecks: a bad call panics as gonum's does, before any C
// sees it, and the degenerate ones (nothing to multiply) give gonum's
// results.
func TestOpenBLASDgemmChecks(t *testing.T) {
	ob := openBLAS{}
	a, b, c := make([]float64, 12), make([]float64, 12), make([]float64, 12)
	for _, bad := range []struct {
		name string
		call func()
	}{
		{"short a", func() { ob.Dgemm(blas.NoTrans, blas.NoTrans, 4, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"short c", func() { ob.Dgemm(blas.NoTrans, blas.NoTrans, 3, 5, 4, 1, a, 4, make([]float64, 20), 5, 0, c, 5) }},
		{"small lda", func() { ob.Dgemm(blas.NoTrans, blas.NoTrans, 3, 3, 4, 1, a, 3, b, 3, 0, c, 3) }},
		{"negative m", func() { ob.Dgemm(blas.NoTrans, blas.NoTrans, -1, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"bad transpose", func() { ob.Dgemm('x', blas.NoTrans, 3, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"short b float32", func() {
			ob.Sgemm(blas.NoTrans, blas.Trans, 3, 4, 4, 1, make([]float32, 12), 4, make([]float32, 12), 4, 0, make([]float32, 12), 4)
		}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			bad.call()
		})
	}

	// k = 0: c scaled by beta, b empty.
	c = []float64{1, 2, 3, 4}
	ob.Dgemm(blas.NoTrans, blas.NoTrans, 2, 2, 0, 1, a[:1], 1, nil, 2, 2, c, 2)
	if fmt.Sprint(c) != "[2 4 6 8]" {
		t.Errorf("k = 0: c = %v, want [2 4 6 8]", c)
	}
	// m = 0: nothing.
	ob.Dgemm(blas.NoTrans, blas.NoTrans, 0, 2, 3, 1, nil, 3, b, 2, 0, nil, 2)
}

// TestBLASInUse: Gorgonia and blas64 run what BLAS names, and
// POETVAE_BLAS=go makes a fresh process run pure Go whatever is installed.
func TestBLASInUse(t *testing.T) {
	want := pureGo
	if os.Getenv("POETVAE_BLAS") == "go" || BLAS() == want {
		if BLAS() != want {
			t.Fatalf("POETVAE_BLAS=go, yet BLAS() = %q", BLAS())
		}
		if _, ok := G.WhichBLAS().(gonum.Implementation); !ok {
			t.Fatalf("BLAS() = %q, yet Gorgonia uses %T", BLAS(), G.WhichBLAS())
		}
	} else {
		if s, ok := G.WhichBLAS().(splitBLAS); !ok || s.BLAS != (openBLAS{}) {
			t.Fatalf("BLAS() = %q, yet Gorgonia uses %#v", BLAS(), G.WhichBLAS())
		}
	}
	if os.Getenv("POETVAE_BLAS") == "go" {
		return // the child below
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestBLASInUse$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "POETVAE_BLAS=go")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBLASInUse") {
		t.Fatalf("with POETVAE_BLAS=go: %v\n%s", err, out)
	}
}

// BenchmarkDgemm times the product of a 64 × 256 and a 256 × 1024 matrix
// (float64), of the size of a step's larger products: gonum's pure Go
// (which spreads a product over the cores itself), OpenBLAS on its one
// thread, and OpenBLAS as poetvae runs it, split over the cores
// (splitBLAS).
func BenchmarkDgemm(b *testing.B) {
	const m, k, n = 64, 256, 1024
	rng := rand.New(rand.NewPCG(1, 2))
	x, y, z := randoms(rng, m*k), randoms(rng, k*n), make([]float64, m*n)
	for _, impl := range []struct {
		name string
		b    blas.Float64
	}{{"gonum", gonum.Implementation{}}, {"openblas", openBLAS{}}, {"openblas-split", splitBLAS{openBLAS{}}}} {
		b.Run(impl.name, func(b *testing.B) {
			if impl.name != "gonum" {
				needOpenBLAS(b)
			}
			for b.Loop() {
				impl.b.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, y, n, 0, z, n)
			}
			b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
