package autograd

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// The fused Linear (bias in the GEMM, gradients written into zeroed
// gradient buffers) against the composed ops, over repeated steps with
// ZeroGrad, accumulation, float32 and float64.
func TestLinearFusedMatchesComposed(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		x := Param(randn(7, 5).Cast(dt))
		w := Param(randn(3, 5).Cast(dt))
		b := Param(randn(3).Cast(dt))
		loss := func(fused bool) *Var {
			var y *Var
			if fused {
				y = Linear(x, w, b)
			} else {
				y = Add(MatMul(x, T(w)), b)
			}
			return Sum(Square(ReLU(y)), false)
		}
		grads := func() [][]float64 {
			var out [][]float64
			for _, v := range []*Var{x, w, b} {
				out = append(out, v.Grad().Cast(tensor.Float64).Float64s())
			}
			return out
		}
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 1e-4
		}
		require.NoError(t, loss(false).Backward())
		want := grads()
		for _, v := range []*Var{x, w, b} {
			v.ZeroGrad()
		}
		require.NoError(t, loss(true).Backward())
		got := grads()
		for i := range want {
			require.InDeltaSlice(t, want[i], got[i], tol, "%v input %d", dt, i)
		}
		// Second step after ZeroGrad: the weight's buffer is reused in place.
		wg := w.Grad()
		for _, v := range []*Var{x, w, b} {
			v.ZeroGrad()
		}
		require.NoError(t, loss(true).Backward())
		require.Same(t, wg, w.Grad(), "weight gradient buffer reused")
		got = grads()
		for i := range want {
			require.InDeltaSlice(t, want[i], got[i], tol, "%v step 2 input %d", dt, i)
		}
		// Without ZeroGrad the gradients accumulate.
		require.NoError(t, loss(true).Backward())
		got = grads()
		for i := range want {
			for j := range want[i] {
				require.InDelta(t, 2*want[i][j], got[i][j], 2*tol, "%v accumulated input %d", dt, i)
			}
		}
	}
}

// A parameter used twice gets the sum of both contributions, never a
// buffer overwritten by one of them.
func TestLinearSharedWeight(t *testing.T) {
	x := Param(randn(4, 3))
	w := Param(randn(3, 3))
	f := func() *Var { return Sum(Square(Linear(Tanh(Linear(x, w, nil)), w, nil)), false) }
	require.NoError(t, f().Backward())
	want := w.Grad().Clone().Float64s()
	w.ZeroGrad()
	x.ZeroGrad()
	require.NoError(t, f().Backward())
	require.InDeltaSlice(t, want, w.Grad().Float64s(), 1e-12)
}
