package nn

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// The one-pass CPU gradient of CrossEntropy against the composed rule (the
// one a create-graph pass records), with ignored targets, label smoothing
// and every reduction, in float32 and float64.
func TestCrossEntropyFusedGrad(t *testing.T) {
	g := tensor.NewGenerator(3)
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		for _, red := range []Reduction{Mean, Sum, None} {
			for _, eps := range []float64{0, 0.1} {
				x := autograd.Param(tensor.MulScalar(g.Normal(0, 1, dt, 2, 6, 11), 3))
				tg := tensor.FromSlice([]int64{1, 0, 10, -100, 5, 3, 2, 9, -100, 4, 7, 6}, 2, 6)
				loss := CrossEntropy(x, tg, WithReduction(red), LabelSmoothing(eps))
				var seed *tensor.Tensor
				if red == None {
					seed = g.Uniform(0.5, 1.5, dt, 2, 6)
				} else {
					seed = tensor.OnesLike(loss.Value())
				}
				require.NoError(t, loss.Backward(seed))
				fast := x.Grad().Cast(tensor.Float64).Float64s()
				loss = CrossEntropy(x, tg, WithReduction(red), LabelSmoothing(eps))
				ref, err := autograd.Grad([]*autograd.Var{loss}, []*autograd.Var{x}, []*autograd.Var{autograd.Constant(seed)}, autograd.BackwardOpts{CreateGraph: true})
				require.NoError(t, err)
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-6
				}
				require.InDeltaSlice(t, ref[0].Value().Cast(tensor.Float64).Float64s(), fast, tol, "%v red %d eps %v", dt, red, eps)
			}
		}
	}
}
