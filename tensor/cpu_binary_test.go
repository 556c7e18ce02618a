package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// binF32 (vector, with non-temporal stores for long slices) must equal the
// float64 reference rounded once to float32 exactly: for +, -, *, / the
// float64 result of float32 operands rounds to the correctly rounded float32
// (53 ≥ 2·24+2), which is what one IEEE float32 operation gives.
func TestBinF32MatchesFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ref := []func(a, b float64) float64{
		func(a, b float64) float64 { return a + b },
		func(a, b float64) float64 { return a - b },
		func(a, b float64) float64 { return a * b },
		func(a, b float64) float64 { return a / b },
	}
	lengths := []int{0, 1, 7, 8, 9, 31, 32, 33, 100, 1000, ntMinElems - 1, ntMinElems + 37}
	for op := range 4 {
		for _, n := range lengths {
			for _, off := range []int{0, 1, 3} { // misaligned starts of d, a and b
				a := make([]float32, n+off)
				b := make([]float32, n+off)
				d := make([]float32, n+off)
				for i := range a {
					a[i] = float32(r.NormFloat64() * math.Exp2(float64(r.IntN(40)-20)))
					b[i] = float32(r.NormFloat64() * math.Exp2(float64(r.IntN(40)-20)))
				}
				if n > 3 { // specials survive the vector path
					a[off] = float32(math.Inf(1))
					b[off+3] = 0
					a[off+2] = float32(math.NaN())
				}
				binF32(op, d[off:], a[off:], b[off:])
				for i := off; i < n+off; i++ {
					want := float32(ref[op](float64(a[i]), float64(b[i])))
					got := d[i]
					if !(got == want || (got != got && want != want)) {
						require.Failf(t, "mismatch", "op %d n %d off %d: d[%d] = %v, want %v (a %v, b %v)", op, n, off, i, got, want, a[i], b[i])
					}
				}
				for i := 0; i < off; i++ {
					require.Zero(t, d[i], "wrote before the slice")
				}
			}
		}
	}
}

// In place (d aliases a) gives the same result.
func TestBinF32InPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{5, 77, ntMinElems + 3} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = r.Float32()*4-2, r.Float32()*4-2
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = float32(float64(a[i]) * float64(b[i]))
		}
		binF32(2, a, a, b)
		require.Equal(t, want, a)
	}
}
