package tensor

import (
	"github.com/stretchr/testify/require"
	"testing"
)

func TestAddMatMulMatchesAddOfMatMul(t *testing.T) {
	g := NewGenerator(3)
	a := g.Normal(0, 1, Float32, 5, 7)
	b := g.Normal(0, 1, Float32, 7, 3)
	c := g.Normal(0, 1, Float32, 3)
	require.True(t, AllClose(AddMatMul(c, a, b), Add(c, MatMul(a, b)), 1e-5, 1e-5))
	// float64 with a transposed (column-major) b, accumulating into d
	a64 := a.Cast(Float64)
	b64 := b.Cast(Float64).T().Contiguous().T()
	d := g.Normal(0, 1, Float64, 5, 3)
	want := Add(d, MatMul(a64, b64))
	require.True(t, AllClose(MatMulAddInto(d, a64, b64), want, 1e-12, 1e-12))
	h := a.Cast(BFloat16)
	require.True(t, AllClose(AddMatMul(c.Cast(BFloat16), h, b.Cast(BFloat16)), Add(c, MatMul(h.Cast(Float32), b.Cast(BFloat16).Cast(Float32))), 2e-2, 5e-2))
}

// The bias rows copied directly (a contiguous 1-D bias of n or 1 elements)
// give what the general broadcasting copy gives (the same bias as a strided
// view), bit for bit, in float32 and float64.
func TestAddMatMulBiasRows(t *testing.T) {
	g := NewGenerator(21)
	for _, dt := range []DType{Float32, Float64} {
		for _, n := range []int{1, 7, 40} {
			a := g.Normal(0, 1, dt, 10, 5)
			b := g.Normal(0, 1, dt, 5, n)
			for _, bn := range []int{n, 1} {
				c := g.Normal(0, 1, dt, bn)
				strided := Zeros(dt, bn, 2).Slice(1, 0, 1, 1).Squeeze(1) // stride 2
				strided.CopyFrom(c)
				require.NotEqual(t, []int{1}, strided.Strides())
				want := AddMatMul(strided, a, b).Float64s()
				require.Equal(t, want, AddMatMul(c, a, b).Float64s(), "%v n=%d bias %d", dt, n, bn)
			}
		}
	}
}
