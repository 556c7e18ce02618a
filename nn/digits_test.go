package nn

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/tensor"
)

// TestConvNetLearnsDigits trains a small ConvNet (conv, batch norm, ReLU,
// max pooling, dropout, linear) on the embedded UCI digits with plain SGD
// and a shuffling loader; held-out accuracy in evaluation mode must
// exceed 90% (a nearest-centroid baseline gets about 90%, such a network
// typically over 95%).
func TestConvNetLearnsDigits(t *testing.T) {
	train, test := data.DigitsSplit()
	train, err := train.WithShape(1, 8, 8)
	require.NoError(t, err)
	g := tensor.NewGenerator(11)
	model := NewSequential(
		NewConv2d(g, 1, 16, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 1, true),
		NewBatchNorm2d(16), NewReLU(), NewMaxPool2d(2, 0, 0),
		NewFlatten(), NewDropout(g, 0.1), NewLinear(g, 16*4*4, 10, true))
	loader, err := data.NewLoader(train, data.LoaderOptions{BatchSize: 64, Shuffle: true, Seed: 3})
	require.NoError(t, err)
	params := Params(model)
	for epoch := range 8 {
		it := loader.Epoch(context.Background(), epoch)
		for {
			b, ok := it.Next()
			if !ok {
				break
			}
			ZeroGrad(model)
			loss := CrossEntropy(model.Forward(autograd.Constant(b.X)), b.Y, LabelSmoothing(0.05))
			require.NoError(t, loss.Backward())
			for _, p := range params {
				tensor.SubInto(p.Value(), p.Value(), tensor.MulScalar(p.Grad(), 0.1))
			}
		}
		require.NoError(t, it.Err())
		it.Close()
	}
	model.Train(false)
	x, y := test.Tensors()
	pred := tensor.ArgMax(model.Forward(autograd.Constant(x.Reshape(-1, 1, 8, 8))).Value(), -1, false)
	acc := tensor.Sum(tensor.Eq(pred, y), false).Item() / float64(test.Len())
	t.Logf("held-out accuracy %.3f", acc)
	require.Greater(t, acc, 0.9)
}
