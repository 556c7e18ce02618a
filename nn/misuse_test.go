package nn

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// requireMisuse asserts that f panics with a *tensor.Error (so tensor.Try
// turns it into an error) whose text contains want.
func requireMisuse(t *testing.T, want string, f func()) {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	require.NotNil(t, r, "%s: no panic", want)
	e, ok := r.(error)
	require.True(t, ok, "%s: panicked with %T (%v), want *tensor.Error", want, r, r)
	var te *tensor.Error
	require.True(t, errors.As(e, &te), "%s: panicked with %T (%v), want *tensor.Error", want, r, r)
	require.Contains(t, te.Error(), want)
	require.ErrorAs(t, tensor.Try(f), &te)
}

// TestMisuseIsTensorError covers the misuse panics of the package: each is
// a *tensor.Error naming the op (issue 11, item 7).
func TestMisuseIsTensorError(t *testing.T) {
	g := tensor.NewGenerator(1)
	c32 := func(shape ...int) *autograd.Var { return autograd.Constant(tensor.Zeros(tensor.Float32, shape...)) }
	z := autograd.Param(tensor.Zeros(tensor.Float32, 1))
	var nilVar *autograd.Var
	cases := []struct {
		want string
		f    func()
	}{
		{"autograd.Linear: input shape [2 3] and weight shape [4 5]", func() { NewLinear(g, 5, 4, true).Forward(c32(2, 3)) }},
		{"autograd.Conv2d: input shape [1 2 5 5], weight shape [4 3 3 3]", func() {
			NewConv2d(g, 3, 4, tensor.ConvParams{KH: 3, KW: 3}, 1, true).Forward(c32(1, 2, 5, 5))
		}},
		{"nn.NewConv2d: 3 -> 4 channels, 2 groups", func() { NewConv2d(g, 3, 4, tensor.ConvParams{KH: 3, KW: 3}, 2, true) }},
		{"nn.BatchNorm2d: input shape [2 3] for 3 features", func() { NewBatchNorm2d(3).Forward(c32(2, 3)) }},
		{"nn.LayerNorm: input shape [2 3] does not end with [4]", func() { NewLayerNorm([]int{4}).Forward(c32(2, 3)) }},
		{"nn.CrossEntropy: logits [2 3] with int64 targets [3]", func() { CrossEntropy(c32(2, 3), tensor.Zeros(tensor.Int64, 3)) }},
		{"nn.NLLLoss: logits [2 3] with float32 targets [2]", func() { NLLLoss(c32(2, 3), tensor.Zeros(tensor.Float32, 2)) }},
		{"nn.MSELoss: prediction shape [2] and target shape [3] differ", func() { MSELoss(c32(2), c32(3)) }},
		{"nn.MultiHeadAttention: query [2 3]", func() { NewMultiHeadAttention(g, 4, 2, false).Forward(c32(2, 3)) }},
		{"nn.NewMultiHeadAttention: embedding size 5 not divisible by 2 heads", func() { NewMultiHeadAttention(g, 5, 2, false) }},
		{"nn.Fans: weight shape [3] needs at least 2 dimensions", func() { Fans(tensor.Shape{3}) }},
		{`nn.Gain: unknown nonlinearity "nope"`, func() { Gain("nope", 0) }},
		{"nn.Embedding: indices of dtype float32, want int64", func() { NewEmbedding(g, 4, 2).Lookup(tensor.Zeros(tensor.Float32, 3)) }},
		{"nn.NewDropout: probability 1 outside [0, 1)", func() { NewDropout(g, 1) }},
		{`nn.Base.RegisterModule: name "0" registered twice`, func() { NewSequential(NewReLU()).RegisterModule("0", NewReLU()) }},
		{`nn.Base.RegisterParam: bad name "a.b"`, func() { NewSequential().RegisterParam("a.b", &z) }},
		{`nn.Base.RegisterParam: parameter "w" is nil`, func() { NewSequential().RegisterParam("w", &nilVar) }},
		{`nn.Base.RegisterBuffer: name "weight" registered twice`, func() {
			NewLinear(g, 2, 2, false).RegisterBuffer("weight", tensor.Zeros(tensor.Float32, 1))
		}},
		{"nn.WithParamList: 1 Vars for 2 parameters", func() { WithParamList(NewLinear(g, 2, 2, true), []*autograd.Var{z}) }},
	}
	for _, c := range cases {
		requireMisuse(t, c.want, c.f)
	}
}
