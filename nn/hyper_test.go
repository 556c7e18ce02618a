package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// TestHyperParametersCheckedAtConstruction: losses, layers and their
// exported settings refuse values PyTorch refuses, with a *tensor.Error
// that names the value (issue 11, item 8); the edge values that are valid
// are accepted.
func TestHyperParametersCheckedAtConstruction(t *testing.T) {
	g := tensor.NewGenerator(3)
	x4 := autograd.Constant(g.Normal(0, 1, tensor.Float32, 2, 3, 4, 4))
	x2 := autograd.Constant(g.Normal(0, 1, tensor.Float32, 2, 3))
	nan := math.NaN()
	bad := []struct {
		want string
		f    func()
	}{
		{"nn.LabelSmoothing: smoothing 5 outside [0, 1]", func() { LabelSmoothing(5) }},
		{"nn.LabelSmoothing: smoothing -0.1 outside [0, 1]", func() { LabelSmoothing(-0.1) }},
		{"nn.LabelSmoothing: smoothing NaN outside [0, 1]", func() { LabelSmoothing(nan) }},
		{"nn.WithReduction: unknown reduction 7", func() { WithReduction(7) }},
		{"nn.WithReduction: unknown reduction -1", func() { WithReduction(-1) }},
		{"nn.NewDropout: probability 1 outside [0, 1)", func() { NewDropout(g, 1) }},
		{"nn.NewDropout: probability -0.5 outside [0, 1)", func() { NewDropout(g, -0.5) }},
		{"nn.NewDropout: probability NaN outside [0, 1)", func() { NewDropout(g, nan) }},
		{"nn.Dropout: probability 1.5 outside [0, 1)", func() { d := NewDropout(g, 0.5); d.P = 1.5; d.Forward(x2) }},
		{"nn.NewLinear: -1 input and 3 output features", func() { NewLinear(g, -1, 3, true) }},
		{"nn.NewLinear: 2 input and -3 output features", func() { NewLinear(g, 2, -3, true) }},
		{"nn.NewConv2d: 0 -> 4 channels", func() { NewConv2d(g, 0, 4, tensor.ConvParams{KH: 3, KW: 3}, 1, true) }},
		{"nn.NewConv2d: 3 -> 4 channels, 1 groups, kernel 0x3", func() { NewConv2d(g, 3, 4, tensor.ConvParams{KW: 3}, 1, true) }},
		{"nn.NewConv2d: stride -1x1, padding 0x0", func() {
			NewConv2d(g, 3, 4, tensor.ConvParams{KH: 3, KW: 3, StrideH: -1, StrideW: 1}, 1, true)
		}},
		{"nn.NewConv2d: stride 0x0, padding 0x-2", func() { NewConv2d(g, 3, 4, tensor.ConvParams{KH: 3, KW: 3, PadW: -2}, 1, true) }},
		{"nn.NewMaxPool2d: kernel 0, stride 0, padding 0", func() { NewMaxPool2d(0, 0, 0) }},
		{"nn.NewMaxPool2d: kernel 2, stride 2, padding 2", func() { NewMaxPool2d(2, 2, 2) }},
		{"nn.NewAvgPool2d: kernel 3, stride -1, padding 0", func() { NewAvgPool2d(3, -1, 0) }},
		{"nn.NewAvgPool2d: kernel 3, stride 1, padding -1", func() { NewAvgPool2d(3, 1, -1) }},
		{`nn.NewGELU: approximate "erf"`, func() { NewGELU("erf") }},
		{"nn.NewGELU: 2 approximations", func() { NewGELU("tanh", "none") }},
		{"nn.NewEmbedding: -2 embeddings of size 4", func() { NewEmbedding(g, -2, 4) }},
		{"nn.NewMultiHeadAttention: embedding size 0 not divisible by 2 heads", func() { NewMultiHeadAttention(g, 0, 2, false) }},
		{"nn.NewMultiHeadAttention: embedding size 4 not divisible by -2 heads", func() { NewMultiHeadAttention(g, 4, -2, false) }},
		{"nn.NewBatchNorm2d: -3 features", func() { NewBatchNorm2d(-3) }},
		{"nn.BatchNorm2d: Eps = -1 and Momentum = 0.1", func() { b := NewBatchNorm2d(3); b.Eps = -1; b.Forward(x4) }},
		{"nn.BatchNorm2d: Eps = 1e-05 and Momentum = 2", func() { b := NewBatchNorm2d(3); b.Momentum = 2; b.Forward(x4) }},
		{"nn.BatchNorm1d: Eps = NaN", func() { b := NewBatchNorm1d(3); b.Eps = nan; b.Forward(x2) }},
		{"nn.LayerNorm: Eps = -0.001", func() { l := NewLayerNorm([]int{3}); l.Eps = -1e-3; l.Forward(x2) }},
		{"nn.LayerNorm: Eps = +Inf", func() { l := NewLayerNorm([]int{3}); l.Eps = math.Inf(1); l.Forward(x2) }},
	}
	for _, c := range bad {
		requireMisuse(t, c.want, c.f)
	}
	// The edges of the valid ranges are accepted.
	good := []func(){
		func() { LabelSmoothing(0) },
		func() { LabelSmoothing(1) },
		func() { WithReduction(None) },
		func() { NewDropout(g, 0).Forward(x2) },
		func() { NewDropout(g, 0.999).Forward(x2) },
		func() { NewLinear(g, 0, 3, true) },
		func() { NewMaxPool2d(3, 0, 1).Forward(x4) },
		func() { NewAvgPool2d(2, 1, 1).Forward(x4) },
		func() { b := NewBatchNorm2d(3); b.Momentum, b.Eps = 1, 0; b.Forward(x4) },
		func() { b := NewBatchNorm2d(3); b.Momentum = 0; b.Forward(x4) },
	}
	for i, f := range good {
		require.NoError(t, tensor.Try(f), "valid case %d", i)
	}
	// A Linear without inputs is initialised like PyTorch's: bias bound 0.
	l := NewLinear(g, 0, 3, true)
	require.Equal(t, []float32{0, 0, 0}, l.Bias.Value().Float32s())
}
