package cuda

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// DataType is a cudaDataType_t (library_types.h).
type DataType int

// Data types for GemmEx.
const (
	R32F  DataType = 0  // CUDA_R_32F
	R64F  DataType = 1  // CUDA_R_64F
	R16F  DataType = 2  // CUDA_R_16F
	R16BF DataType = 14 // CUDA_R_16BF
	R8I   DataType = 3  // CUDA_R_8I
	R32I  DataType = 10 // CUDA_R_32I
)

// ComputeType is a cublasComputeType_t (CUDA 11+ values).
type ComputeType int

// Compute types.
const (
	Compute16F         ComputeType = 64 // CUBLAS_COMPUTE_16F
	Compute32F         ComputeType = 68 // CUBLAS_COMPUTE_32F: full FP32
	Compute32FFastF16  ComputeType = 74 // CUBLAS_COMPUTE_32F_FAST_16F
	Compute32FFastBF16 ComputeType = 75 // CUBLAS_COMPUTE_32F_FAST_16BF
	Compute32FFastTF32 ComputeType = 77 // CUBLAS_COMPUTE_32F_FAST_TF32: TF32 tensor cores
	Compute64F         ComputeType = 70 // CUBLAS_COMPUTE_64F
)

// Op is a cublasOperation_t.
type Op int

// Transpose operations.
const (
	NoTrans Op = 0 // CUBLAS_OP_N
	Trans   Op = 1 // CUBLAS_OP_T
)

// MathMode is a cublasMath_t.
type MathMode int

// Math modes.
const (
	DefaultMath                       MathMode = 0 // CUBLAS_DEFAULT_MATH
	PedanticMath                      MathMode = 2 // CUBLAS_PEDANTIC_MATH
	TF32MathMode                      MathMode = 3 // CUBLAS_TF32_TENSOR_OP_MATH
	DisallowReducedPrecisionReduction MathMode = 16
)

const gemmDefaultAlgo = -1 // CUBLAS_GEMM_DEFAULT

// BlasError is a failed cuBLAS call.
type BlasError struct {
	Call   string
	Status int // cublasStatus_t
	Name   string
	Desc   string
}

var blasStatusNames = map[int]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func (e *BlasError) Error() string {
	s := fmt.Sprintf("cuda: %s failed: %s (%d)", e.Call, e.Name, e.Status)
	if e.Desc != "" && e.Desc != e.Name {
		s += ": " + e.Desc
	}
	return s
}

// Is makes CUBLAS_STATUS_ALLOC_FAILED match ErrOutOfMemory.
func (e *BlasError) Is(target error) bool {
	return target == ErrOutOfMemory && e.Status == 3 || target == ErrSymbolNotFound && e.Status == int(resultNoSymbol)
}

func newBlasError(api blasAPI, call string, st int) error {
	if st == 0 {
		return nil
	}
	e := &BlasError{Call: call, Status: st}
	if st == int(resultNoSymbol) {
		e.Name = "TESSERA_SYMBOL_NOT_FOUND"
		e.Desc = "the loaded cuBLAS does not export " + call
		return e
	}
	if api != nil {
		e.Name, e.Desc = api.statusText(st)
	}
	if e.Name == "" {
		if n, ok := blasStatusNames[st]; ok {
			e.Name = n
		} else {
			e.Name = fmt.Sprintf("cublasStatus(%d)", st)
		}
	}
	return e
}

var (
	blasOnce sync.Once
	blasLib  blasAPI
	blasErr  error
)

func loadBlas() (blasAPI, error) {
	blasOnce.Do(func() { blasLib, blasErr = openBlas(dl.OSEnv()) })
	return blasLib, blasErr
}

// Blas is a cuBLAS handle bound to one device. Calls are serialised by a
// mutex (a cuBLAS handle is not safe for concurrent use).
type Blas struct {
	d   *Device
	api blasAPI
	h   handle

	mu     sync.Mutex
	stream *Stream
	mode   MathMode
}

// Blas returns the device's cuBLAS handle, creating it on first use
// (libcublas.so.13/.12/.11 is loaded then).
func (d *Device) Blas() (*Blas, error) {
	api, err := loadBlas()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("cuda: device is closed")
	}
	if d.blas != nil {
		return d.blas, nil
	}
	h, st := api.create(d.ctx)
	if st != 0 {
		return nil, newBlasError(api, "cublasCreate_v2", st)
	}
	d.blas = &Blas{d: d, api: api, h: h}
	return d.blas, nil
}

func (b *Blas) destroy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := newBlasError(b.api, "cublasDestroy_v2", b.api.destroy(b.d.ctx, b.h))
	b.h = nil
	return err
}

// SetStream makes later calls run on s (nil: default stream).
func (b *Blas) SetStream(s *Stream) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := newBlasError(b.api, "cublasSetStream_v2", b.api.setStream(b.d.ctx, b.h, s.Handle())); err != nil {
		return err
	}
	b.stream = s
	return nil
}

// SetMathMode sets the handle's math mode (cublasSetMathMode).
func (b *Blas) SetMathMode(m MathMode) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := newBlasError(b.api, "cublasSetMathMode", b.api.setMathMode(b.d.ctx, b.h, int(m))); err != nil {
		return err
	}
	b.mode = m
	return nil
}

// Gemm describes C = alpha*op(A)*op(B) + beta*C in cuBLAS's column-major
// convention: op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are
// leading dimensions (rows of the stored column-major matrices).
// StrideA/B/C (elements) and Batch are for GemmStridedBatchedEx.
type Gemm struct {
	TransA, TransB Op
	M, N, K        int
	Alpha, Beta    float64
	A              DevicePtr
	AType          DataType
	LDA            int
	StrideA        int64
	B              DevicePtr
	BType          DataType
	LDB            int
	StrideB        int64
	C              DevicePtr
	CType          DataType
	LDC            int
	StrideC        int64
	Batch          int
	Compute        ComputeType
}

func (g *Gemm) params(batched bool) (*gemmParams, error) {
	if g.M < 0 || g.N < 0 || g.K < 0 {
		return nil, fmt.Errorf("cuda: Gemm: negative size m=%d n=%d k=%d", g.M, g.N, g.K)
	}
	p := &gemmParams{
		transA: int(g.TransA), transB: int(g.TransB), m: g.M, n: g.N, k: g.K,
		alpha: g.Alpha, beta: g.Beta,
		a: g.A, aType: int(g.AType), lda: g.LDA, strideA: g.StrideA,
		b: g.B, bType: int(g.BType), ldb: g.LDB, strideB: g.StrideB,
		c: g.C, cType: int(g.CType), ldc: g.LDC, strideC: g.StrideC,
		compute: int(g.Compute), algo: gemmDefaultAlgo,
		scaleIsDouble: g.Compute == Compute64F,
	}
	if batched {
		if g.Batch < 1 {
			return nil, fmt.Errorf("cuda: GemmStridedBatchedEx: batch %d", g.Batch)
		}
		p.batch = g.Batch
	}
	if g.Compute == 0 {
		p.compute = int(Compute32F)
	}
	return p, nil
}

// GemmEx runs cublasGemmEx (column-major). alpha/beta are passed as float
// (double for Compute64F), on the host.
func (b *Blas) GemmEx(g Gemm) error {
	p, err := g.params(false)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return newBlasError(b.api, "cublasGemmEx", b.api.gemmEx(b.d.ctx, b.h, p))
}

// GemmStridedBatchedEx runs cublasGemmStridedBatchedEx (column-major):
// Batch products with matrix i at A + i*StrideA elements, etc.
func (b *Blas) GemmStridedBatchedEx(g Gemm) error {
	p, err := g.params(true)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return newBlasError(b.api, "cublasGemmStridedBatchedEx", b.api.gemmEx(b.d.ctx, b.h, p))
}

// RowMajorGemm describes C = alpha*op(A)*op(B) + beta*C on row-major
// matrices: op(A) is M x K, op(B) is K x N, C is M x N, each stored
// row-major with its row stride (leading dimension) LDA/LDB/LDC; zero
// leading dimensions mean "packed" (K or M for A, N or K for B, N for C).
type RowMajorGemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float64
	A, B, C        DevicePtr
	LDA, LDB, LDC  int
	// InType is the type of A and B, OutType of C.
	InType, OutType DataType
	Compute         ComputeType
	// Batch > 0 selects the strided batched call with the given strides in
	// elements (0: packed, M*K etc.).
	Batch                     int
	StrideA, StrideB, StrideC int64
}

// ToColumnMajor maps a row-major product to cuBLAS's column-major call.
// A row-major M x N matrix is the same memory as a column-major N x M
// matrix (its transpose), so C = A·B (row-major) is computed as
// Cᵀ = Bᵀ·Aᵀ (column-major): swap the operands and m/n, keep each
// operand's own transpose flag and leading dimension.
func (r RowMajorGemm) ToColumnMajor() Gemm {
	lda, ldb, ldc := r.LDA, r.LDB, r.LDC
	if lda == 0 {
		lda = r.K // A stored M x K
		if r.TransA {
			lda = r.M // stored K x M
		}
	}
	if ldb == 0 {
		ldb = r.N // B stored K x N
		if r.TransB {
			ldb = r.K // stored N x K
		}
	}
	if ldc == 0 {
		ldc = r.N
	}
	sa, sb, sc := r.StrideA, r.StrideB, r.StrideC
	if sa == 0 {
		sa = int64(r.M) * int64(r.K)
	}
	if sb == 0 {
		sb = int64(r.K) * int64(r.N)
	}
	if sc == 0 {
		sc = int64(r.M) * int64(r.N)
	}
	op := func(t bool) Op {
		if t {
			return Trans
		}
		return NoTrans
	}
	out := r.OutType
	return Gemm{
		TransA: op(r.TransB), TransB: op(r.TransA),
		M: r.N, N: r.M, K: r.K,
		Alpha: r.Alpha, Beta: r.Beta,
		A: r.B, AType: r.InType, LDA: ldb, StrideA: sb,
		B: r.A, BType: r.InType, LDB: lda, StrideB: sa,
		C: r.C, CType: out, LDC: ldc, StrideC: sc,
		Batch: r.Batch, Compute: r.Compute,
	}
}

// MatMul runs a row-major (optionally batched) product; see RowMajorGemm.
func (b *Blas) MatMul(r RowMajorGemm) error {
	g := r.ToColumnMajor()
	if r.Batch > 0 {
		return b.GemmStridedBatchedEx(g)
	}
	return b.GemmEx(g)
}

// BlasVersion returns the loaded cuBLAS version (major*10000+minor*100+patch
// style triple) and the library file, or an error when cuBLAS cannot be
// loaded.
func BlasVersion() (major, minor, patch int, path string, err error) {
	api, err := loadBlas()
	if err != nil {
		return 0, 0, 0, "", err
	}
	ma, mi, pa, ok := api.version()
	if !ok {
		return 0, 0, 0, api.libraryPath(), errors.New("cuda: cublasGetProperty failed")
	}
	return ma, mi, pa, api.libraryPath(), nil
}
