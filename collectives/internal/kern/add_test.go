package kern

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The vector sum (add_amd64.s) gives the same bits as the scalar loop for
// every length (tails of every size), in place, and with NaNs on either
// side (the first operand's NaN wins, as with scalar ADDSS).
func TestVectorSumBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 200; n++ {
		a32, b32 := make([]float32, n), make([]float32, n)
		a64, b64 := make([]float64, n), make([]float64, n)
		for i := range n {
			a32[i], b32[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*1e3)
			a64[i], b64[i] = rng.NormFloat64(), rng.NormFloat64()*1e-3
		}
		if n > 3 {
			a32[1], b32[2] = math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00002)
			a32[3], b32[3] = math.Float32frombits(0x7fc00003), math.Float32frombits(0x7fc00004)
			a64[1], b64[2] = math.Float64frombits(0x7ff8000000000001), math.NaN()
		}
		want32, want64 := make([]float32, n), make([]float64, n)
		for i := range n {
			want32[i] = a32[i] + b32[i]
			want64[i] = a64[i] + b64[i]
		}
		got32, got64 := make([]float32, n), make([]float64, n)
		combine(Sum, got32, a32, b32)
		combine(Sum, got64, a64, b64)
		for i := range n {
			require.Equal(t, math.Float32bits(want32[i]), math.Float32bits(got32[i]), "float32 n=%d i=%d", n, i)
			require.Equal(t, math.Float64bits(want64[i]), math.Float64bits(got64[i]), "float64 n=%d i=%d", n, i)
		}
		combine(Sum, a32, a32, b32) // in place
		for i := range n {
			require.Equal(t, math.Float32bits(want32[i]), math.Float32bits(a32[i]), "in place n=%d i=%d", n, i)
		}
	}
}
