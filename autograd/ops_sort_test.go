package autograd

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// sortGradCases are the finite-difference cases of ops_sort.go (appended to
// gradCheckCases). Random normal inputs have no ties, so the order is
// locally constant and the gradients are well defined.
func sortGradCases() []gcCase {
	first := func(v *Var, _ *tensor.Tensor) *Var { return v }
	return []gcCase{
		unaryCase("Sort", func(x *Var) *Var { return first(Sort(x, 1, false)) }, randn(3, 5)),
		unaryCase("Sort/descending-axis0", func(x *Var) *Var { return first(Sort(x, 0, true)) }, randn(4, 3)),
		unaryCase("TopK", func(x *Var) *Var { return first(TopK(x, 2, -1, true)) }, randn(3, 5)),
		unaryCase("TopK/smallest", func(x *Var) *Var { return first(TopK(x, 3, 0, false)) }, randn(5, 2)),
		unaryCase("KthValue", func(x *Var) *Var { return first(KthValue(x, 2, 1, false)) }, randn(3, 5)),
		unaryCase("Median", func(x *Var) *Var { return first(Median(x, 0, false)) }, randn(6, 3)),
		unaryCase("Median/keepDim", func(x *Var) *Var { return first(Median(x, 1, true)) }, randn(3, 5)),
		unaryCase("Norm", func(x *Var) *Var { return Norm(x, 2, false, 1) }, randn(3, 5)),
		unaryCase("Norm/all", func(x *Var) *Var { return Norm(x, 2, true) }, randn(3, 5)),
		unaryCase("Norm/L1", func(x *Var) *Var { return Norm(x, 1, false, 0) }, randn(3, 5)),
		unaryCase("Norm/Linf", func(x *Var) *Var { return Norm(x, math.Inf(1), false, 0, 1) }, randn(3, 5)),
		{name: "PairwiseSqDist", f: func(x []*Var) *Var { return PairwiseSqDist(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(4, 3), randn(5, 3)}},
	}
}

// TestNormGradAtZero: the L2 norm's gradient at a zero row is 0 (as in
// PyTorch), not NaN, and the other rows get x/‖x‖.
func TestNormGradAtZero(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{0, 0, 0, 3, 4, 0}, 2, 3))
	require.NoError(t, Sum(Norm(x, 2, false, 1), false).Backward())
	require.InDeltaSlice(t, []float64{0, 0, 0, 0.6, 0.8, 0}, x.Grad().Float64s(), 1e-15)
}

// TestMedianGradTies: with ties the gradient goes to the one element the
// index names (the stable sort's choice), and the value matches torch's
// lower median.
func TestMedianGradTies(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{2, 1, 2, 5}, 4))
	m, idx := Median(x, 0, false)
	require.Equal(t, 2.0, m.Value().Item())
	require.Equal(t, int64(0), idx.Int64s()[0])
	require.NoError(t, m.Backward())
	require.Equal(t, []float64{1, 0, 0, 0}, x.Grad().Float64s())
}
