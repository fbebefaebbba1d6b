//go:build cgo && !noopenblas

package model

// OpenBLAS opened at run time: no headers or libopenblas-dev at build
// time, and no link to it in the binary. The prototypes are CBLAS's, with
// its enums passed as the ints they are (CblasRowMajor 101, CblasNoTrans
// 111, CblasTrans 112, CblasConjTrans 113) and blasint as int, as in
// OpenBLAS's usual 32-bit-integer builds (libopenblas.so.0).

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*pv_dgemm_fn)(int order, int tA, int tB, int m, int n, int k,
	double alpha, const double *a, int lda, const double *b, int ldb,
	double beta, double *c, int ldc);
typedef void (*pv_sgemm_fn)(int order, int tA, int tB, int m, int n, int k,
	float alpha, const float *a, int lda, const float *b, int ldb,
	float beta, float *c, int ldc);
typedef void (*pv_threads_fn)(int n);

static pv_dgemm_fn pv_dgemm_p;
static pv_sgemm_fn pv_sgemm_p;
static pv_threads_fn pv_threads_p;

// pv_open opens the library named and takes its products (and, when it has
// it, its thread setting): 1 when both products are there, else 0 with
// the library closed again.
static int pv_open(const char *name) {
	// OpenBLAS starts its thread pool as it loads, sized by this variable;
	// poetvae runs it on one thread (see blas.go), so a pool of one spares
	// every command starting threads that would only spin. A value the
	// user set is kept.
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return 0;
	}
	pv_dgemm_fn d = (pv_dgemm_fn)dlsym(h, "cblas_dgemm");
	pv_sgemm_fn s = (pv_sgemm_fn)dlsym(h, "cblas_sgemm");
	if (d == NULL || s == NULL) {
		dlclose(h);
		return 0;
	}
	pv_dgemm_p = d;
	pv_sgemm_p = s;
	pv_threads_p = (pv_threads_fn)dlsym(h, "openblas_set_num_threads");
	return 1;
}

static void pv_set_threads(int n) {
	if (pv_threads_p != NULL) {
		pv_threads_p(n);
	}
}

static void pv_dgemm(int tA, int tB, int m, int n, int k, double alpha,
		const double *a, int lda, const double *b, int ldb,
		double beta, double *c, int ldc) {
	pv_dgemm_p(101, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void pv_sgemm(int tA, int tB, int m, int n, int k, float alpha,
		const float *a, int lda, const float *b, int ldb,
		float beta, float *c, int ldc) {
	pv_sgemm_p(101, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
*/
import "C"

import "unsafe"

// openBLASNames are the names OpenBLAS is looked for under, in order: the
// runtime library's (Debian's libopenblas0), then the development link.
var openBLASNames = []string{"libopenblas.so.0", "libopenblas.so"}

// openOpenBLAS opens the first of openBLASNames that loads and has the
// products, and says which; false when none does.
func openOpenBLAS() (string, bool) {
	for _, name := range openBLASNames {
		cs := C.CString(name)
		ok := C.pv_open(cs) == 1
		C.free(unsafe.Pointer(cs))
		if ok {
			return name, true
		}
	}
	return "", false
}

func setOpenBLASThreads(n int) { C.pv_set_threads(C.int(n)) }

// cDgemm and cSgemm run a row-major product in OpenBLAS on arguments
// already checked (openBLAS.Dgemm, openBLAS.Sgemm).
func cDgemm(tA, tB, m, n, k int, alpha float64, a *float64, lda int, b *float64, ldb int, beta float64, c *float64, ldc int) {
	C.pv_dgemm(C.int(tA), C.int(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(a)), C.int(lda), (*C.double)(unsafe.Pointer(b)), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(c)), C.int(ldc))
}

func cSgemm(tA, tB, m, n, k int, alpha float32, a *float32, lda int, b *float32, ldb int, beta float32, c *float32, ldc int) {
	C.pv_sgemm(C.int(tA), C.int(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(a)), C.int(lda), (*C.float)(unsafe.Pointer(b)), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(c)), C.int(ldc))
}
