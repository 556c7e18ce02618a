package cuda

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRowMajorToColumnMajor(t *testing.T) {
	g := RowMajorGemm{M: 2, N: 3, K: 4, A: 100, B: 200, C: 300, InType: R16BF, OutType: R32F,
		Compute: Compute32FFastTF32, Alpha: 1}.ToColumnMajor()
	assert.Equal(t, Gemm{TransA: NoTrans, TransB: NoTrans, M: 3, N: 2, K: 4, Alpha: 1,
		A: 200, AType: R16BF, LDA: 3, StrideA: 12,
		B: 100, BType: R16BF, LDB: 4, StrideB: 8,
		C: 300, CType: R32F, LDC: 3, StrideC: 6, Compute: Compute32FFastTF32}, g)

	gt := RowMajorGemm{TransA: true, TransB: true, M: 2, N: 3, K: 4, A: 1, B: 2, C: 3}.ToColumnMajor()
	assert.Equal(t, Trans, gt.TransA)
	assert.Equal(t, Trans, gt.TransB)
	assert.Equal(t, 4, gt.LDA, "B stored N x K row-major")
	assert.Equal(t, 2, gt.LDB, "A stored K x M row-major")
}

// cpuColMajorGemm evaluates a column-major Gemm on float64 slices indexed
// by DevicePtr (as element offsets) to check the operand swap end to end.
func TestRowMajorSwapComputesRowMajorProduct(t *testing.T) {
	for _, tc := range []struct{ ta, tb bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		M, N, K := 3, 5, 4
		// Row-major storage of A (M x K, or K x M when transposed) etc.
		a := make([]float64, M*K)
		b := make([]float64, K*N)
		for i := range a {
			a[i] = float64(i%7) - 3
		}
		for i := range b {
			b[i] = float64(i%5) - 2
		}
		at := func(i, k int) float64 { // op(A)[i,k]
			if tc.ta {
				return a[k*M+i]
			}
			return a[i*K+k]
		}
		bt := func(k, j int) float64 {
			if tc.tb {
				return b[j*K+k]
			}
			return b[k*N+j]
		}
		g := RowMajorGemm{TransA: tc.ta, TransB: tc.tb, M: M, N: N, K: K, Alpha: 1}.ToColumnMajor()
		// Column-major evaluation: C(i,j) at c[i + j*ldc], op(X)(i,k) from X
		// stored column-major with leading dimension ld.
		el := func(buf []float64, trans Op, ld, r, c int) float64 {
			if trans == Trans {
				return buf[c+r*ld]
			}
			return buf[r+c*ld]
		}
		c := make([]float64, M*N)
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				s := 0.0
				for k := 0; k < g.K; k++ {
					s += el(b, g.TransA, g.LDA, i, k) * el(a, g.TransB, g.LDB, k, j)
				}
				c[i+j*g.LDC] = s
			}
		}
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				want := 0.0
				for k := 0; k < K; k++ {
					want += at(i, k) * bt(k, j)
				}
				assert.Equal(t, want, c[i*N+j], "transA=%v transB=%v (%d,%d)", tc.ta, tc.tb, i, j)
			}
		}
	}
}

func TestBlasErrors(t *testing.T) {
	e := newBlasError(nil, "cublasGemmEx", 3)
	assert.True(t, errors.Is(e, ErrOutOfMemory))
	assert.Contains(t, e.Error(), "CUBLAS_STATUS_ALLOC_FAILED")
	assert.Nil(t, newBlasError(nil, "x", 0))
	assert.True(t, errors.Is(newBlasError(nil, "cublasGemmStridedBatchedEx", int(resultNoSymbol)), ErrSymbolNotFound))
	_, err := (&Gemm{M: -1}).params(false)
	assert.Error(t, err)
	_, err = (&Gemm{M: 1, N: 1, K: 1}).params(true)
	assert.Error(t, err, "batched needs Batch >= 1")
	p, err := (&Gemm{M: 1, N: 1, K: 1}).params(false)
	assert.NoError(t, err)
	assert.Equal(t, int(Compute32F), p.compute)
	assert.Equal(t, -1, p.algo)
}

func TestErrorType(t *testing.T) {
	e := newError(nil, "cuMemAlloc_v2", ErrorOutOfMemory)
	assert.True(t, errors.Is(e, ErrOutOfMemory))
	assert.False(t, errors.Is(e, ErrUnavailable))
	assert.Contains(t, e.Error(), "cuMemAlloc_v2")
	assert.Contains(t, e.Error(), "CUDA_ERROR_OUT_OF_MEMORY (2)")
	assert.True(t, errors.Is(newError(nil, "cuInit", ErrorNoDevice), ErrUnavailable))
	assert.True(t, errors.Is(newError(nil, "cuEventElapsedTime", resultNoSymbol), ErrSymbolNotFound))
	assert.Contains(t, newError(nil, "x", 12345).Error(), "CUresult(12345)")
	assert.Nil(t, newError(nil, "x", Success))
	le := &Error{Call: "cuModuleLoadDataEx", Code: ErrorInvalidPTX, Name: "CUDA_ERROR_INVALID_PTX", Log: "line 3: syntax error"}
	assert.Contains(t, le.Error(), "line 3: syntax error")
}

func TestAvailableWithoutGPU(t *testing.T) {
	if Available() {
		t.Skip("a GPU is present")
	}
	err := Load()
	assert.True(t, errors.Is(err, ErrUnavailable), "%v", err)
	_, err = Open(0)
	assert.Error(t, err)
	info := Info()
	assert.False(t, info.Available)
	assert.NotEmpty(t, info.Reason)
	assert.Contains(t, info.String(), "CUDA unavailable")
}
