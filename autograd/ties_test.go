package autograd

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// TestMaximumMinimumTies: where the operands are equal, Maximum and Minimum
// give each operand half the gradient (PyTorch's rule), elsewhere all of it
// to the winner; with broadcasting the shares of b are summed over the
// broadcast axis. Exact values (the shares are 0, ½ and 1).
func TestMaximumMinimumTies(t *testing.T) {
	av := tensor.FromSlice([]float64{1, 2, 3, -1, 5, 0}, 2, 3)
	bv := tensor.FromSlice([]float64{1, 0, 5}, 3)
	gv := tensor.FromSlice([]float64{0.5, -2, 3, 7, 1.5, -4}, 2, 3)
	for _, tc := range []struct {
		name   string
		f      func(a, b *Var) *Var
		wa, wb []float64 // the gradients for the output gradient gv
	}{
		// one tie, at [0][0]
		{"Maximum", Maximum, []float64{0.25, -2, 0, 0, 1.5, 0}, []float64{0.25 + 7, 0, 3 - 4}},
		{"Minimum", Minimum, []float64{0.25, 0, 3, 7, 0, -4}, []float64{0.25, -2 + 1.5, 0}},
	} {
		a, b := Param(av), Param(bv)
		require.NoError(t, Sum(Mul(tc.f(a, b), Constant(gv)), false).Backward(), tc.name)
		require.InDeltaSlice(t, tc.wa, a.Grad().Float64s(), 1e-15, tc.name)
		require.InDeltaSlice(t, tc.wb, b.Grad().Float64s(), 1e-15, tc.name)
	}
	// A NaN operand gets the whole gradient (as in PyTorch: neither
	// a < b, a > b nor a == b holds).
	a, b := Param(tensor.FromSlice([]float64{math.NaN()}, 1)), Param(tensor.FromSlice([]float64{1.0}, 1))
	require.NoError(t, Sum(Maximum(a, b), false).Backward())
	require.Equal(t, []float64{1}, a.Grad().Float64s())
	require.Equal(t, []float64{1}, b.Grad().Float64s())
}
