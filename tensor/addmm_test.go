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
