package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// crossAttention attends from the first two positions of x to all of them,
// with a padding mask that forbids one key per batch element: Attend with
// distinct queries and keys and an explicit mask.
type crossAttention struct {
	*MultiHeadAttention
	mask *tensor.Tensor
}

func (c *crossAttention) Forward(x *autograd.Var) *autograd.Var {
	return c.Attend(autograd.Narrow(x, 1, 0, 2), x, x, false, c.mask)
}

// evalBatchNorm returns a BatchNorm that has seen two training batches (so
// its running statistics are not the initial 0 and 1) and is in evaluation
// mode, with a random affine transform.
func evalBatchNorm(b *BatchNorm, shape ...int) *BatchNorm {
	autograd.NoGrad(func() {
		b.Forward(autograd.Constant(randn(shape...)))
		b.Forward(autograd.Constant(tensor.AddScalar(randn(shape...), 0.5)))
	})
	b.Weight.SetValue(tensor.AddScalar(randn(b.Weight.Shape()...), 1))
	b.Bias.SetValue(randn(b.Bias.Shape()...))
	b.Train(false)
	return b
}

// TestLayerGradientsMore checks, by central differences in float64 (eps
// 1e-6, |analytic - numeric| <= 1e-6·(1 + |numeric|)), the layers and modes
// TestLayerGradients leaves out: BatchNorm in evaluation mode, Dropout (a
// fixed mask: a fresh generator with the same seed on every call), GELU and
// Tanh alone, LayerNorm with a non-trivial affine transform, attention with
// an explicit mask and distinct queries, and an Embedding feeding a Linear.
func TestLayerGradientsMore(t *testing.T) {
	ln := NewLayerNorm([]int{5}, f64)
	ln.Weight.SetValue(randn(5))
	ln.Bias.SetValue(randn(5))
	mha := NewMultiHeadAttention(gen(), 4, 2, false, f64)
	pad := tensor.FromSlice([]bool{false, false, true, false, false, false, false, true}, 2, 1, 1, 4)
	cases := []struct {
		name string
		m    Module
		x    *tensor.Tensor
	}{
		{"BatchNorm1d/eval", evalBatchNorm(NewBatchNorm1d(3, f64), 6, 3), randn(5, 3)},
		{"BatchNorm2d/eval", evalBatchNorm(NewBatchNorm2d(2, f64), 3, 2, 3, 3), randn(2, 2, 3, 3)},
		{"Dropout/fixed-mask", &Func{Base: Base{training: true}, F: func(x *autograd.Var) *autograd.Var {
			return NewDropout(tensor.NewGenerator(77), 0.4).Forward(x)
		}}, randn(4, 6)},
		{"GELU", NewGELU(), randn(3, 4)},
		{"GELU/tanh", NewGELU("tanh"), randn(3, 4)},
		{"Tanh", NewTanh(), randn(3, 4)},
		{"LayerNorm/affine", ln, randn(2, 3, 5)},
		{"MultiHeadAttention/mask-cross", &crossAttention{mha, pad}, randn(2, 4, 4)},
		{"Embedding+Linear", NewSequential(NewEmbedding(gen(), 6, 4, f64), NewLinear(gen(), 4, 3, true, f64)),
			tensor.FromSlice([]int64{5, 0, 2, 2, 1, 3}, 2, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkModuleGrad(t, c.m, c.x, 1e-6, 1e-6) })
	}
}

// TestDropoutMaskIsNotIdentity makes sure the Dropout case above checks a
// real mask: some elements are dropped and the rest scaled by 1/(1-p).
func TestDropoutMaskIsNotIdentity(t *testing.T) {
	x := autograd.Constant(tensor.Full(1, tensor.Float64, 4, 6))
	y := NewDropout(tensor.NewGenerator(77), 0.4).Forward(x).Value().Float64s()
	zeros := 0
	for _, v := range y {
		if v == 0 {
			zeros++
		} else {
			require.InDelta(t, 1/0.6, v, 1e-12)
		}
	}
	require.Greater(t, zeros, 0)
	require.Less(t, zeros, len(y))
}

// TestLossGradientsMore checks the loss reductions and options
// TestLossGradients leaves out, with gradients for every differentiable
// input (targets of MSE and BCE too), by central differences in float64.
func TestLossGradientsMore(t *testing.T) {
	targets := tensor.FromSlice([]int64{0, 4, 3, 2, 1, 1}, 6)
	probs := func(shape ...int) *tensor.Tensor {
		seed++
		return tensor.NewGenerator(seed).Uniform(0.05, 0.95, tensor.Float64, shape...)
	}
	cases := []struct {
		name string
		f    func(xs []*autograd.Var) *autograd.Var
		in   []*tensor.Tensor
	}{
		{"MSELoss/sum", func(xs []*autograd.Var) *autograd.Var { return MSELoss(xs[0], xs[1], WithReduction(Sum)) },
			[]*tensor.Tensor{randn(4, 3), randn(4, 3)}},
		{"MSELoss/none", func(xs []*autograd.Var) *autograd.Var { return MSELoss(xs[0], xs[1], WithReduction(None)) },
			[]*tensor.Tensor{randn(2, 3, 2), randn(2, 3, 2)}},
		{"BCEWithLogits/target-grad", func(xs []*autograd.Var) *autograd.Var { return BCEWithLogits(xs[0], xs[1]) },
			[]*tensor.Tensor{randn(4, 3), probs(4, 3)}},
		{"BCEWithLogits/sum", func(xs []*autograd.Var) *autograd.Var {
			return BCEWithLogits(xs[0], xs[1], WithReduction(Sum))
		}, []*tensor.Tensor{tensor.MulScalar(randn(5), 4), probs(5)}},
		{"BCEWithLogits/none", func(xs []*autograd.Var) *autograd.Var {
			return BCEWithLogits(xs[0], xs[1], WithReduction(None))
		}, []*tensor.Tensor{randn(2, 3), probs(2, 3)}},
		{"NLLLoss/sum-ignore", func(xs []*autograd.Var) *autograd.Var {
			return NLLLoss(autograd.LogSoftmax(xs[0], -1), targets, WithReduction(Sum), IgnoreIndex(2))
		}, []*tensor.Tensor{randn(6, 5)}},
		{"NLLLoss/none", func(xs []*autograd.Var) *autograd.Var {
			return NLLLoss(autograd.LogSoftmax(xs[0], -1), targets, WithReduction(None))
		}, []*tensor.Tensor{randn(6, 5)}},
		{"NLLLoss/raw-input", func(xs []*autograd.Var) *autograd.Var { return NLLLoss(xs[0], targets) }, []*tensor.Tensor{randn(6, 5)}},
		{"CrossEntropy/mean-ignore-smoothing", func(xs []*autograd.Var) *autograd.Var {
			return CrossEntropy(xs[0], targets, IgnoreIndex(1), LabelSmoothing(0.2))
		}, []*tensor.Tensor{randn(6, 5)}},
		{"CrossEntropy/sum-large-logits", func(xs []*autograd.Var) *autograd.Var {
			return CrossEntropy(xs[0], targets, WithReduction(Sum))
		}, []*tensor.Tensor{tensor.AddScalar(tensor.MulScalar(randn(6, 5), 3), 40)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, autograd.GradCheck(c.f, c.in, 1e-6, 1e-6))
		})
	}
}

// TestHessianVectorProductNN compares a Hessian-vector product of a network's
// loss with respect to all its parameters, computed by double backward
// (CreateGraph), with central differences of the gradient along the same
// direction: H·v ≈ (∇L(θ+εv) - ∇L(θ-εv)) / 2ε in float64 with ε = 1e-5
// (truncation O(ε²)), within 1e-6·(1 + |numeric|) per element. The network
// goes through Linear, GELU, LayerNorm, Tanh, Softmax attention-free layers
// and the fused cross-entropy, so their second-order rules are exercised
// together.
func TestHessianVectorProductNN(t *testing.T) {
	m := NewSequential(NewLinear(gen(), 4, 6, true, f64), NewGELU(), NewLayerNorm([]int{6}, f64),
		NewLinear(gen(), 6, 5, true, f64), NewTanh(), NewLinear(gen(), 5, 3, true, f64))
	x := autograd.Constant(randn(7, 4))
	y := tensor.FromSlice([]int64{0, 2, 1, 1, 0, 2, 2}, 7)
	params := Params(m)
	dir := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		dir[i] = randn(p.Shape()...)
	}
	grads := func() []*tensor.Tensor {
		loss := CrossEntropy(m.Forward(x), y, LabelSmoothing(0.1))
		gs, err := autograd.Grad([]*autograd.Var{loss}, params, nil, autograd.BackwardOpts{})
		require.NoError(t, err)
		out := make([]*tensor.Tensor, len(gs))
		for i, g := range gs {
			out[i] = g.Value().Clone()
		}
		return out
	}
	// analytic: d/dθ (∇L · v)
	loss := CrossEntropy(m.Forward(x), y, LabelSmoothing(0.1))
	gs, err := autograd.Grad([]*autograd.Var{loss}, params, nil, autograd.BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	var gv *autograd.Var
	for i, g := range gs {
		require.True(t, g.RequiresGrad(), "gradient %d must be differentiable", i)
		term := autograd.Sum(autograd.Mul(g, autograd.Constant(dir[i])), false)
		if gv == nil {
			gv = term
		} else {
			gv = autograd.Add(gv, term)
		}
	}
	hv, err := autograd.Grad([]*autograd.Var{gv}, params, nil, autograd.BackwardOpts{})
	require.NoError(t, err)

	const eps = 1e-5
	orig := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		orig[i] = p.Value().Clone()
	}
	shift := func(s float64) {
		for i, p := range params {
			p.SetValue(tensor.Add(orig[i], tensor.MulScalar(dir[i], s)))
		}
	}
	shift(eps)
	gp := grads()
	shift(-eps)
	gm := grads()
	shift(0)
	nonzero := 0
	for i := range params {
		a := hv[i].Value().Float64s()
		p, q := gp[i].Float64s(), gm[i].Float64s()
		for j := range a {
			num := (p[j] - q[j]) / (2 * eps)
			if math.Abs(num) > 1e-3 {
				nonzero++
			}
			require.LessOrEqual(t, math.Abs(a[j]-num), 1e-6*(1+math.Abs(num)), "param %d element %d: analytic %g numeric %g", i, j, a[j], num)
		}
	}
	require.Greater(t, nonzero, 20, "the Hessian-vector product must not be trivially zero")
}

// TestGELUForms: NewGELU() and NewGELU("none") are the exact form
// 0.5·x·(1 + erf(x/√2)) and NewGELU("tanh") the tanh approximation, as
// PyTorch's nn.GELU; float64 formulas to 1e-15, and the two forms differ
// (by more than 1e-4 somewhere on [-3, 3]).
func TestGELUForms(t *testing.T) {
	x := tensor.NewGenerator(9).Uniform(-3, 3, tensor.Float64, 200)
	exact := func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }
	approx := func(v float64) float64 {
		return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
	}
	xs := x.Float64s()
	maxDiff := 0.0
	for _, c := range []struct {
		m   Module
		ref func(float64) float64
	}{{NewGELU(), exact}, {NewGELU("none"), exact}, {NewGELU("tanh"), approx}} {
		got := c.m.Forward(autograd.Constant(x)).Value().Float64s()
		for i, v := range xs {
			require.InDelta(t, c.ref(v), got[i], 1e-15, "x = %v", v)
			maxDiff = math.Max(maxDiff, math.Abs(exact(v)-approx(v)))
		}
	}
	require.Greater(t, maxDiff, 1e-4)
}
