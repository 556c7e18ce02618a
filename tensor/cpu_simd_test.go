package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of the vector kernels (and, under -tags purego, of their portable
// versions) against float64 references, over lengths that exercise every
// block size and tail, with special values mixed in.

var simdLens = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 1027}

func randF32(r *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return x
}

func TestSIMDReLUAffine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range simdLens {
		x := randF32(r, n+3, -2, 2)[3:] // unaligned start
		g := randF32(r, n, -1, 1)
		if n > 5 {
			x[5] = float32(math.NaN())
		}
		d := make([]float32, n)
		reluF32(d, x)
		for i, v := range x {
			switch {
			case v != v:
				require.True(t, d[i] != d[i], "relu(NaN) n=%d i=%d", n, i)
			default:
				require.Equal(t, float32(math.Max(float64(v), 0)), d[i], "relu n=%d i=%d", n, i)
			}
		}
		reluGradF32(d, g, x)
		for i, v := range x {
			want := float32(0)
			if v > 0 {
				want = g[i]
			}
			require.Equal(t, want, d[i], "relu grad n=%d i=%d", n, i)
		}
		affineF32(d, x, 1.7, -0.3)
		for i, v := range x {
			want := 1.7*float64(v) - 0.3
			if v != v {
				require.True(t, d[i] != d[i])
				continue
			}
			require.InDelta(t, want, float64(d[i]), 4e-7*math.Abs(want)+1e-7, "affine n=%d i=%d", n, i)
		}
	}
}

func TestSIMDSums(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range append(simdLens, 100003) {
		x := randF32(r, n+1, -1, 1)[1:]
		want := 0.0
		for _, v := range x {
			want += float64(v)
		}
		// float64 accumulation: error far below float32 resolution
		require.InDelta(t, want, sumF32(x), 1e-12*float64(n+1), "sum n=%d", n)
		acc := make([]float64, n)
		for i := range acc {
			acc[i] = float64(i)
		}
		accF32F64(acc, x)
		for i, v := range x {
			require.Equal(t, float64(i)+float64(v), acc[i], "acc n=%d i=%d", n, i)
		}
		if n > 0 {
			m := x[0]
			for _, v := range x {
				m = max(m, v)
			}
			require.Equal(t, m, maxF32(x), "max n=%d", n)
		}
	}
}

func TestSIMDExpTanh(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -100, -87.5, 88.5, 89, 0, float32(math.Copysign(0, -1)), 1e-30}
	for _, n := range simdLens {
		for _, span := range []float64{0.3, 3, 20, 90} {
			x := randF32(r, n, -span, span)
			for i := range x {
				if r.IntN(17) == 0 {
					x[i] = specials[r.IntN(len(specials))]
				}
			}
			d := make([]float32, n)
			shift := float32(0.5)
			s := expF32(d, x, shift)
			sum := 0.0
			for i, v := range x {
				want := math.Exp(float64(v - shift))
				got := float64(d[i])
				sum += got
				switch {
				case math.IsNaN(want):
					require.True(t, math.IsNaN(got), "exp(%v)", v)
				case math.IsInf(want, 0) || want > math.MaxFloat32:
					require.True(t, math.IsInf(got, 1), "exp(%v) = %v", v, got)
				default:
					// ~2 ulp relative; subnormal results to their absolute resolution
					require.InDelta(t, want, got, 3e-7*want+1.5e-45, "exp(%v)", v)
				}
			}
			if !math.IsNaN(sum) && !math.IsInf(sum, 0) {
				require.InDelta(t, sum, s, 1e-12*math.Abs(sum)+1e-30, "exp sum")
			}
			tanhF32(d, x)
			for i, v := range x {
				want := math.Tanh(float64(v))
				got := float64(d[i])
				if math.IsNaN(want) {
					require.True(t, math.IsNaN(got), "tanh(%v)", v)
					continue
				}
				require.InDelta(t, want, got, 4e-7*math.Abs(want)+1e-38, "tanh(%v)", v)
				require.Equal(t, math.Signbit(want), math.Signbit(got), "tanh(%v) sign", v)
			}
		}
	}
}

func TestTranspose8x8(t *testing.T) {
	src := make([]float32, 8*11)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, 8*13)
	transpose8x8(dst, 13, src, 11)
	for r := range 8 {
		for c := range 8 {
			require.Equal(t, src[r*11+c], dst[c*13+r])
		}
	}
}
