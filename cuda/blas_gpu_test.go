package cuda_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/internal/testutil"
)

func blasOrSkip(t *testing.T) (*cuda.Device, *cuda.Blas) {
	d := testutil.RequireGPU(t)
	testutil.RequireGPUProbe(t, func() error { _, _, _, _, err := cuda.BlasVersion(); return err })
	b, err := d.Blas()
	require.NoError(t, err)
	return d, b
}

// refMatMul is C = A·B (row-major, float64) and the matrix of Σ|a||b| used
// to scale the tolerances.
func refMatMul(a, b []float64, M, N, K int) (c, mag []float64) {
	c, mag = make([]float64, M*N), make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s, m := 0.0, 0.0
			for k := 0; k < K; k++ {
				s += a[i*K+k] * b[k*N+j]
				m += math.Abs(a[i*K+k] * b[k*N+j])
			}
			c[i*N+j], mag[i*N+j] = s, m
		}
	}
	return c, mag
}

func f64s(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// Tolerances, as |gpu - ref| <= tol * Σ_k |a_ik b_kj| (the standard
// forward error bound of a dot product):
//   - FP32 compute: K * 2^-24 (float32 accumulation), K = 300 -> 1.8e-5;
//   - TF32 compute: inputs rounded to 10-bit mantissas (2 * 2^-11 per
//     product, 2 * 2^-10 if the hardware truncates) plus FP32
//     accumulation -> 3e-3;
//   - BF16 inputs (the reference uses the same bf16-rounded values), FP32
//     compute -> as FP32.
func TestGPUGemmEx(t *testing.T) {
	d, b := blasOrSkip(t)
	ma, mi, pa, path, _ := cuda.BlasVersion()
	t.Logf("cuBLAS %d.%d.%d from %s", ma, mi, pa, path)
	rng := rand.New(rand.NewSource(10))
	const M, N, K = 70, 90, 300
	a32, b32 := randF32(rng, M*K), randF32(rng, K*N)
	pa32, pb32 := upload(t, d, a32), upload(t, d, b32)
	pc := alloc(t, d, 4*M*N)
	want, mag := refMatMul(f64s(a32), f64s(b32), M, N, K)
	check := func(name string, tol float64, ref []float64) {
		got := download[float32](t, d, pc, M*N)
		worst := 0.0
		for i := range got {
			e := math.Abs(float64(got[i])-ref[i]) / mag[i]
			worst = math.Max(worst, e)
		}
		t.Logf("%s: worst error %.2e x Σ|ab| (tolerance %.1e)", name, worst, tol)
		assert.LessOrEqual(t, worst, tol, name)
	}

	r := cuda.RowMajorGemm{M: M, N: N, K: K, Alpha: 1, A: pa32, B: pb32, C: pc,
		InType: cuda.R32F, OutType: cuda.R32F, Compute: cuda.Compute32F}
	require.NoError(t, b.MatMul(r))
	check("FP32", K*math.Pow(2, -24), want)

	r.Compute = cuda.Compute32FFastTF32
	require.NoError(t, b.MatMul(r))
	check("TF32", 3e-3, want)

	// BF16 inputs, FP32 output and compute.
	abf, bbf := make([]uint16, M*K), make([]uint16, K*N)
	ar, br := make([]float64, M*K), make([]float64, K*N)
	for i, v := range a32 {
		abf[i] = cuda.RefBF16(float64(v))
		ar[i] = float64(math.Float32frombits(uint32(abf[i]) << 16))
	}
	for i, v := range b32 {
		bbf[i] = cuda.RefBF16(float64(v))
		br[i] = float64(math.Float32frombits(uint32(bbf[i]) << 16))
	}
	wantbf, magbf := refMatMul(ar, br, M, N, K)
	mag = magbf
	r = cuda.RowMajorGemm{M: M, N: N, K: K, Alpha: 1, A: upload(t, d, abf), B: upload(t, d, bbf), C: pc,
		InType: cuda.R16BF, OutType: cuda.R32F, Compute: cuda.Compute32F}
	require.NoError(t, b.MatMul(r))
	check("BF16 in, FP32 compute", K*math.Pow(2, -24), wantbf)
}

func TestGPUGemmTransposedAndBatched(t *testing.T) {
	d, b := blasOrSkip(t)
	rng := rand.New(rand.NewSource(11))
	const Bt, M, N, K = 4, 33, 17, 65
	a, bb := randF32(rng, Bt*K*M), randF32(rng, Bt*N*K) // A stored K x M (TransA), B stored N x K (TransB)
	pa, pb := upload(t, d, a), upload(t, d, bb)
	pc := upload(t, d, randF32(rng, Bt*M*N))
	cinit := download[float32](t, d, pc, Bt*M*N)
	require.NoError(t, b.MatMul(cuda.RowMajorGemm{TransA: true, TransB: true, M: M, N: N, K: K,
		Alpha: 0.5, Beta: 2, A: pa, B: pb, C: pc, InType: cuda.R32F, OutType: cuda.R32F,
		Compute: cuda.Compute32F, Batch: Bt}))
	got := download[float32](t, d, pc, Bt*M*N)
	for bi := 0; bi < Bt; bi++ {
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				s, m := 0.0, 0.0
				for k := 0; k < K; k++ {
					p := float64(a[bi*K*M+k*M+i]) * float64(bb[bi*N*K+j*K+k])
					s += p
					m += math.Abs(p)
				}
				idx := bi*M*N + i*N + j
				want := 0.5*s + 2*float64(cinit[idx])
				require.InDelta(t, want, float64(got[idx]), 2*K*math.Pow(2, -24)*(m+math.Abs(float64(cinit[idx]))))
			}
		}
	}
	s, err := d.NewStream(true)
	require.NoError(t, err)
	defer s.Destroy()
	require.NoError(t, b.SetStream(s))
	require.NoError(t, b.SetMathMode(cuda.TF32MathMode))
	require.NoError(t, b.SetMathMode(cuda.DefaultMath))
	require.NoError(t, b.SetStream(nil))
}
