package autograd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// TestCheckpointMatchesPlainBackward: gradients through a checkpointed
// block equal those of the same computation recorded normally, for the
// block's input and for the parameters it captures; hooks fire once.
func TestCheckpointMatchesPlainBackward(t *testing.T) {
	g := tensor.NewGenerator(8)
	w1 := Param(g.Normal(0, 0.5, tensor.Float64, 6, 5))
	w2 := Param(g.Normal(0, 0.5, tensor.Float64, 5, 6))
	x0 := g.Normal(0, 1, tensor.Float64, 4, 6)
	block := func(xs []*Var) *Var { return Tanh(MatMul(GELU(MatMul(xs[0], w1)), w2)) }

	run := func(checkpoint bool) (gx, g1, g2 []float64) {
		w1.SetGrad(nil)
		w2.SetGrad(nil)
		x := Param(x0)
		h := Sin(x)
		var y *Var
		if checkpoint {
			y = Checkpoint(block, h)
			assert.Equal(t, "autograd.Checkpoint", y.Op())
		} else {
			y = block([]*Var{h})
		}
		require.NoError(t, Sum(Square(y), false).Backward())
		return x.Grad().Float64s(), w1.Grad().Float64s(), w2.Grad().Float64s()
	}
	hooks := 0
	w1.RegisterHook(func(*tensor.Tensor) { hooks++ })
	ax, a1, a2 := run(false)
	require.Equal(t, 1, hooks)
	bx, b1, b2 := run(true)
	assert.Equal(t, 2, hooks)
	assert.InDeltaSlice(t, ax, bx, 1e-12)
	assert.InDeltaSlice(t, a1, b1, 1e-12)
	assert.InDeltaSlice(t, a2, b2, 1e-12)

	// A CreateGraph pass through a checkpoint is refused.
	y := Checkpoint(block, Param(x0))
	require.Panics(t, func() { _ = Sum(y, false).BackwardWith(BackwardOpts{CreateGraph: true}) })
}

// Parameters inside the block get gradients even when the block's input
// does not require one.
func TestCheckpointConstantInput(t *testing.T) {
	w := Param(tensor.FromSlice([]float64{2, 3}, 2))
	x := Constant(tensor.FromSlice([]float64{5, 7}, 2))
	y := Checkpoint(func(xs []*Var) *Var { return Sum(Mul(Square(xs[0]), w), false) }, x)
	require.True(t, y.RequiresGrad())
	require.NoError(t, y.Backward())
	assert.Equal(t, []float64{25, 49}, w.Grad().Float64s())

	var z *Var
	NoGrad(func() { z = Checkpoint(func(xs []*Var) *Var { return Mul(xs[0], w) }, x) })
	assert.False(t, z.RequiresGrad())
}
