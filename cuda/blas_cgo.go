//go:build linux && cgo

package cuda

/*
#include <stdlib.h>
#include "tess_cuda.h"

#define TESS_NOSYM 0x7e570001

static struct {
	tess_cublasCreate_v2 cublasCreate_v2;
	tess_cublasDestroy_v2 cublasDestroy_v2;
	tess_cublasGetVersion_v2 cublasGetVersion_v2;
	tess_cublasGetProperty cublasGetProperty;
	tess_cublasSetStream_v2 cublasSetStream_v2;
	tess_cublasSetMathMode cublasSetMathMode;
	tess_cublasGetStatusName cublasGetStatusName;
	tess_cublasGetStatusString cublasGetStatusString;
	tess_cublasGemmEx cublasGemmEx;
	tess_cublasGemmStridedBatchedEx cublasGemmStridedBatchedEx;
	tess_cuCtxSetCurrent cuCtxSetCurrent;
	tess_cuCtxGetCurrent cuCtxGetCurrent;
} blas;

static void tess_blas_set(int i, void* p) { ((void**)&blas)[i] = p; }
static int tess_blas_count(void) { return sizeof(blas) / sizeof(void*); }

#define BNEED(f) if (!blas.f) return TESS_NOSYM
// cuBLAS runs on the context current on the calling thread: make ours
// current inside the same cgo call. 1 = CUBLAS_STATUS_NOT_INITIALIZED.
#define BCTX(c) do { CUcontext _cur = 0; \
	if (!blas.cuCtxSetCurrent) return TESS_NOSYM; \
	if (!(blas.cuCtxGetCurrent && blas.cuCtxGetCurrent(&_cur) == 0 && _cur == (c))) \
		if (blas.cuCtxSetCurrent(c) != 0) return 1; } while (0)

static int b_create(CUcontext c, cublasHandle_t* h) { BNEED(cublasCreate_v2); BCTX(c); return blas.cublasCreate_v2(h); }
static int b_destroy(CUcontext c, cublasHandle_t h) { BNEED(cublasDestroy_v2); BCTX(c); return blas.cublasDestroy_v2(h); }
static int b_getProperty(int t, int* v) { BNEED(cublasGetProperty); return blas.cublasGetProperty((libraryPropertyType)t, v); }
static int b_setStream(CUcontext c, cublasHandle_t h, CUstream s) { BNEED(cublasSetStream_v2); BCTX(c); return blas.cublasSetStream_v2(h, (cudaStream_t)s); }
static int b_setMathMode(CUcontext c, cublasHandle_t h, int m) { BNEED(cublasSetMathMode); BCTX(c); return blas.cublasSetMathMode(h, (cublasMath_t)m); }
static void b_statusText(int st, const char** name, const char** desc) {
	*name = 0; *desc = 0;
	if (blas.cublasGetStatusName) *name = blas.cublasGetStatusName((cublasStatus_t)st);
	if (blas.cublasGetStatusString) *desc = blas.cublasGetStatusString((cublasStatus_t)st);
}

typedef struct {
	int transA, transB, m, n, k;
	double alpha, beta;
	CUdeviceptr a; int aType, lda; long long strideA;
	CUdeviceptr b; int bType, ldb; long long strideB;
	CUdeviceptr c; int cType, ldc; long long strideC;
	int batch, compute, algo, scaleIsDouble;
} tess_gemm;

// alpha/beta live on this C stack frame; cuBLAS reads host scalars before
// it returns (CUBLAS_POINTER_MODE_HOST, the default).
static int b_gemm(CUcontext ctx, cublasHandle_t h, const tess_gemm* g) {
	float fa = (float)g->alpha, fb = (float)g->beta;
	double da = g->alpha, db = g->beta;
	const void* alpha = g->scaleIsDouble ? (const void*)&da : (const void*)&fa;
	const void* beta = g->scaleIsDouble ? (const void*)&db : (const void*)&fb;
	BCTX(ctx);
	if (g->batch == 0) {
		BNEED(cublasGemmEx);
		return blas.cublasGemmEx(h, (cublasOperation_t)g->transA, (cublasOperation_t)g->transB,
			g->m, g->n, g->k, alpha,
			(const void*)(size_t)g->a, (cudaDataType)g->aType, g->lda,
			(const void*)(size_t)g->b, (cudaDataType)g->bType, g->ldb, beta,
			(void*)(size_t)g->c, (cudaDataType)g->cType, g->ldc,
			(cublasComputeType_t)g->compute, (cublasGemmAlgo_t)g->algo);
	}
	BNEED(cublasGemmStridedBatchedEx);
	return blas.cublasGemmStridedBatchedEx(h, (cublasOperation_t)g->transA, (cublasOperation_t)g->transB,
		g->m, g->n, g->k, alpha,
		(const void*)(size_t)g->a, (cudaDataType)g->aType, g->lda, g->strideA,
		(const void*)(size_t)g->b, (cudaDataType)g->bType, g->ldb, g->strideB, beta,
		(void*)(size_t)g->c, (cudaDataType)g->cType, g->ldc, g->strideC,
		g->batch, (cublasComputeType_t)g->compute, (cublasGemmAlgo_t)g->algo);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// blasSymbols: the order of the C struct blas. The last two come from the
// driver library.
var blasSymbols = []struct {
	name     string
	required bool
}{
	{"cublasCreate_v2", true},
	{"cublasDestroy_v2", true},
	{"cublasGetVersion_v2", false},
	{"cublasGetProperty", false},
	{"cublasSetStream_v2", true},
	{"cublasSetMathMode", false},
	{"cublasGetStatusName", false},
	{"cublasGetStatusString", false},
	{"cublasGemmEx", true},
	{"cublasGemmStridedBatchedEx", false},
	{"cuCtxSetCurrent", true},
	{"cuCtxGetCurrent", false},
}

type cgoBlas struct{ lib *dl.Library }

// openBlas loads cuBLAS. It needs the driver too (for the context calls),
// so it fails with ErrUnavailable when the driver cannot be loaded.
func openBlas(env dl.Env) (blasAPI, error) {
	if int(C.tess_blas_count()) != len(blasSymbols) {
		return nil, fmt.Errorf("cuda: internal error: %d C slots for %d cuBLAS symbols", int(C.tess_blas_count()), len(blasSymbols))
	}
	d, err := driver()
	if err != nil {
		return nil, err
	}
	drvLib := d.(*cgoDriver).lib
	lib, err := dl.Load(dl.LibCUBLAS, env)
	if err != nil {
		return nil, err
	}
	ptrs := make([]unsafe.Pointer, len(blasSymbols))
	for i, s := range blasSymbols {
		src := lib
		if s.name[:2] == "cu" && s.name[:6] != "cublas" {
			src = drvLib
		}
		ptrs[i] = src.SymOptional(s.name)
		if ptrs[i] == nil && s.required {
			return nil, fmt.Errorf("cuda: %s does not export %s", src.Resolved, s.name)
		}
	}
	for i, p := range ptrs {
		C.tess_blas_set(C.int(i), p)
	}
	return &cgoBlas{lib: lib}, nil
}

func (b *cgoBlas) libraryPath() string { return b.lib.Resolved }

func (b *cgoBlas) version() (int, int, int, bool) {
	var v [3]C.int
	for i := range v {
		if C.b_getProperty(C.int(i), &v[i]) != 0 {
			return 0, 0, 0, false
		}
	}
	return int(v[0]), int(v[1]), int(v[2]), true
}

func (b *cgoBlas) statusText(st int) (string, string) {
	var n, s *C.char
	C.b_statusText(C.int(st), &n, &s)
	var name, desc string
	if n != nil {
		name = C.GoString(n)
	}
	if s != nil {
		desc = C.GoString(s)
	}
	return name, desc
}

func (b *cgoBlas) create(ctx handle) (handle, int) {
	var h C.cublasHandle_t
	st := C.b_create(C.CUcontext(ctx), &h)
	return handle(h), int(st)
}

func (b *cgoBlas) destroy(ctx, h handle) int {
	return int(C.b_destroy(C.CUcontext(ctx), C.cublasHandle_t(h)))
}

func (b *cgoBlas) setStream(ctx, h, s handle) int {
	return int(C.b_setStream(C.CUcontext(ctx), C.cublasHandle_t(h), C.CUstream(s)))
}

func (b *cgoBlas) setMathMode(ctx, h handle, mode int) int {
	return int(C.b_setMathMode(C.CUcontext(ctx), C.cublasHandle_t(h), C.int(mode)))
}

func (b *cgoBlas) gemmEx(ctx, h handle, p *gemmParams) int {
	g := C.tess_gemm{
		transA: C.int(p.transA), transB: C.int(p.transB),
		m: C.int(p.m), n: C.int(p.n), k: C.int(p.k),
		alpha: C.double(p.alpha), beta: C.double(p.beta),
		a: C.CUdeviceptr(p.a), aType: C.int(p.aType), lda: C.int(p.lda), strideA: C.longlong(p.strideA),
		b: C.CUdeviceptr(p.b), bType: C.int(p.bType), ldb: C.int(p.ldb), strideB: C.longlong(p.strideB),
		c: C.CUdeviceptr(p.c), cType: C.int(p.cType), ldc: C.int(p.ldc), strideC: C.longlong(p.strideC),
		batch: C.int(p.batch), compute: C.int(p.compute), algo: C.int(p.algo),
	}
	if p.scaleIsDouble {
		g.scaleIsDouble = 1
	}
	return int(C.b_gemm(C.CUcontext(ctx), C.cublasHandle_t(h), &g))
}
