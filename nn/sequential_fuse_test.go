package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Sequential pools before a ReLU that precedes a max pooling, and runs a
// convolution and the pooling as one op; the output and every gradient
// match the layers applied one by one in their order, computed in float64,
// with and without a gradient for the input.
func TestSequentialReLUMaxPoolOrder(t *testing.T) {
	require.True(t, isReLU(NewReLU()))
	require.False(t, isReLU(NewGELU()))
	for i, pool := range []*MaxPool2d{NewMaxPool2d(2, 2, 0), NewMaxPool2d(3, 2, 1), NewMaxPool2d(2, 2, 0), NewMaxPool2d(3, 2, 1)} {
		xGrad := i < 2
		g := tensor.NewGenerator(5)
		conv := NewConv2d(g, 3, 8, tensor.ConvParams{KH: 3, KW: 3}, 1, true)
		lin := NewLinear(g, 8*5*5, 4, true)
		model := NewSequential(conv, NewReLU(), pool, NewFlatten(), lin)
		x := g.Normal(0, 1, tensor.Float32, 6, 3, 12, 12)
		xv := autograd.NewVar(x.Clone(), xGrad)
		ZeroGrad(model)
		out := model.Forward(xv)
		require.NoError(t, autograd.Sum(autograd.Square(out), false).Backward())
		var grads []*tensor.Tensor
		if xGrad {
			grads = append(grads, xv.Grad().Clone())
		}
		for _, p := range Params(model) {
			grads = append(grads, p.Grad().Clone())
		}

		// reference: the same layers in float64, in their order
		for _, p := range Params(model) {
			p.ZeroGrad()
		}
		x64 := autograd.Param(x.Cast(tensor.Float64))
		w, b := autograd.Param(conv.Weight.Value().Cast(tensor.Float64)), autograd.Param(conv.Bias.Value().Cast(tensor.Float64))
		lw, lb := autograd.Param(lin.Weight.Value().Cast(tensor.Float64)), autograd.Param(lin.Bias.Value().Cast(tensor.Float64))
		h := autograd.MaxPool2d(autograd.ReLU(autograd.Conv2d(x64, w, b, conv.Params, 1)), pool.Params)
		ref := autograd.Linear(autograd.Flatten(h, 1, -1), lw, lb)
		require.NoError(t, autograd.Sum(autograd.Square(ref), false).Backward())
		close := func(want, got *tensor.Tensor, what string) {
			a, c := want.Float64s(), got.Float64s()
			require.Len(t, c, len(a), what)
			for i := range a {
				require.InDelta(t, a[i], c[i], 1e-3*(1+math.Abs(a[i])), "%s %d", what, i)
			}
		}
		close(ref.Value(), out.Value(), "output")
		wants := []*tensor.Tensor{w.Grad(), b.Grad(), lw.Grad(), lb.Grad()}
		if xGrad {
			wants = append([]*tensor.Tensor{x64.Grad()}, wants...)
		}
		for i, want := range wants {
			close(want, grads[i], "gradient")
		}
	}
}
