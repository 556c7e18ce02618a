package nn

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// BatchNorm normalises over every axis but the channel axis 1, for inputs
// [N, C] and [N, C, L] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d). In
// training mode it uses the batch statistics and updates the running
// estimates (running = (1-momentum)·running + momentum·batch, with the
// unbiased variance); in evaluation mode it uses the running estimates.
type BatchNorm struct {
	Base
	Weight, Bias *autograd.Var // [C] (nil when not affine)
	RunningMean  *tensor.Tensor
	RunningVar   *tensor.Tensor
	NumBatches   *tensor.Tensor // Int64 scalar: batches seen in training
	Momentum     float64
	Eps          float64
	ranks        []int
	name         string
}

func newBatchNorm(name string, ranks []int, features int, opts []Option) *BatchNorm {
	if features < 0 {
		panic(tensor.Errorf("nn.New"+name[len("nn."):], "%d features; want >= 0", features))
	}
	c := configure(opts)
	b := &BatchNorm{Momentum: 0.1, Eps: 1e-5, ranks: ranks, name: name}
	b.training = true
	b.Weight = autograd.Param(c.full(1, features))
	b.RegisterParam("weight", &b.Weight)
	b.Bias = autograd.Param(c.full(0, features))
	b.RegisterParam("bias", &b.Bias)
	b.RunningMean = b.RegisterBuffer("running_mean", c.full(0, features))
	b.RunningVar = b.RegisterBuffer("running_var", c.full(1, features))
	b.NumBatches = b.RegisterBuffer("num_batches_tracked", tensor.EmptyOn(c.dev, tensor.Int64))
	return b
}

// NewBatchNorm1d normalises [N, C] or [N, C, L] inputs over C features.
func NewBatchNorm1d(features int, opts ...Option) *BatchNorm {
	return newBatchNorm("nn.BatchNorm1d", []int{2, 3}, features, opts)
}

// NewBatchNorm2d normalises [N, C, H, W] inputs over C channels.
func NewBatchNorm2d(features int, opts ...Option) *BatchNorm {
	return newBatchNorm("nn.BatchNorm2d", []int{4}, features, opts)
}

// Forward normalises x.
func (b *BatchNorm) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.AutocastInputs(b.name, x)[0]
	nd := x.NDim()
	ok := false
	for _, r := range b.ranks {
		ok = ok || r == nd
	}
	c := b.RunningMean.Dim(0)
	if !ok || x.Dim(1) != c {
		panic(tensor.Errorf(b.name, "input shape %v for %d features", x.Shape(), c))
	}
	if !(b.Eps >= 0) || math.IsInf(b.Eps, 0) || !(b.Momentum >= 0 && b.Momentum <= 1) {
		panic(tensor.Errorf(b.name, "Eps = %v and Momentum = %v; want finite Eps >= 0 and Momentum in [0, 1]", b.Eps, b.Momentum))
	}
	axes := []int{0}
	shape := []int{1, c}
	for i := 2; i < nd; i++ {
		axes = append(axes, i)
		shape = append(shape, 1)
	}
	var y *autograd.Var
	if b.training {
		mean := autograd.Mean(x, true, axes...)
		d := autograd.Sub(x, mean)
		v := autograd.Mean(autograd.Square(d), true, axes...)
		y = autograd.Mul(d, autograd.Rsqrt(autograd.AddScalar(v, b.Eps)))
		n := x.Value().NumElements() / c
		m := b.Momentum
		bm := mean.Value().Reshape(c).Cast(b.RunningMean.DType())
		bv := tensor.MulScalar(v.Value().Reshape(c), float64(n)/float64(max(n-1, 1))).Cast(b.RunningVar.DType())
		b.RunningMean.CopyFrom(tensor.Add(tensor.MulScalar(b.RunningMean, 1-m), tensor.MulScalar(bm, m)))
		b.RunningVar.CopyFrom(tensor.Add(tensor.MulScalar(b.RunningVar, 1-m), tensor.MulScalar(bv, m)))
		b.NumBatches.CopyFrom(tensor.AddScalar(b.NumBatches, 1))
	} else {
		mean := autograd.Constant(b.RunningMean.Reshape(shape...))
		inv := autograd.Constant(tensor.Rsqrt(tensor.AddScalar(b.RunningVar, b.Eps)).Reshape(shape...))
		y = autograd.Mul(autograd.Sub(x, mean), inv)
	}
	if b.Weight != nil {
		y = autograd.Add(autograd.Mul(y, autograd.Reshape(b.Weight, shape...)), autograd.Reshape(b.Bias, shape...))
	}
	return y
}

// LayerNorm normalises over the last len(Shape) axes and applies an
// elementwise affine transform.
type LayerNorm struct {
	Base
	Weight, Bias *autograd.Var // normalized shape
	Shape        []int
	Eps          float64
}

// NewLayerNorm normalises over trailing axes of the given shape (eps 1e-5).
func NewLayerNorm(shape []int, opts ...Option) *LayerNorm {
	c := configure(opts)
	l := &LayerNorm{Shape: append([]int(nil), shape...), Eps: 1e-5}
	l.training = true
	l.Weight = autograd.Param(c.full(1, shape...))
	l.RegisterParam("weight", &l.Weight)
	l.Bias = autograd.Param(c.full(0, shape...))
	l.RegisterParam("bias", &l.Bias)
	return l
}

// Forward normalises x.
func (l *LayerNorm) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.AutocastInputs("nn.LayerNorm", x)[0]
	nd, k := x.NDim(), len(l.Shape)
	if nd < k || !x.Shape()[nd-k:].Equal(l.Shape) {
		panic(tensor.Errorf("nn.LayerNorm", "input shape %v does not end with %v", x.Shape(), l.Shape))
	}
	if !(l.Eps >= 0) || math.IsInf(l.Eps, 0) {
		panic(tensor.Errorf("nn.LayerNorm", "Eps = %v; want finite and >= 0", l.Eps))
	}
	axes := make([]int, k)
	for i := range axes {
		axes[i] = nd - k + i
	}
	d := autograd.Sub(x, autograd.Mean(x, true, axes...))
	v := autograd.Mean(autograd.Square(d), true, axes...)
	y := autograd.Mul(d, autograd.Rsqrt(autograd.AddScalar(v, l.Eps)))
	return autograd.Add(autograd.Mul(y, l.Weight), l.Bias)
}
