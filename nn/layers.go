package nn

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Linear is y = x Wᵀ + b over the last axis of x.
type Linear struct {
	Base
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out], nil without bias
}

// NewLinear returns a Linear layer initialised like PyTorch's: weight and
// bias uniform in ±1/√in, drawn from g.
func NewLinear(g *tensor.Generator, in, out int, bias bool, opts ...Option) *Linear {
	if in < 0 || out < 0 {
		panic(tensor.Errorf("nn.NewLinear", "%d input and %d output features; want >= 0", in, out))
	}
	c := configure(opts)
	l := &Linear{}
	l.training = true
	bound := 0.0 // PyTorch's bound for no inputs
	if in > 0 {
		bound = 1 / math.Sqrt(float64(in))
	}
	l.Weight = autograd.Param(g.FillUniform(c.empty(out, in), -bound, bound))
	l.RegisterParam("weight", &l.Weight)
	if bias {
		l.Bias = autograd.Param(g.FillUniform(c.empty(out), -bound, bound))
		l.RegisterParam("bias", &l.Bias)
	}
	return l
}

// Forward returns x Wᵀ + b.
func (l *Linear) Forward(x *autograd.Var) *autograd.Var { return autograd.Linear(x, l.Weight, l.Bias) }

// Conv2d is a 2-D convolution over [N, C, H, W] inputs (im2col + matmul).
type Conv2d struct {
	Base
	Weight *autograd.Var // [out, in/groups, kh, kw]
	Bias   *autograd.Var // [out], nil without bias
	Params tensor.ConvParams
	Groups int
}

// NewConv2d returns a convolution from in to out channels with the window
// p (p.KH and p.KW are the kernel size; zero stride and dilation mean 1)
// and groups (0 means 1), initialised like PyTorch's (uniform in ±1/√fan_in).
func NewConv2d(g *tensor.Generator, in, out int, p tensor.ConvParams, groups int, bias bool, opts ...Option) *Conv2d {
	if groups <= 0 {
		groups = 1
	}
	if in <= 0 || out <= 0 || in%groups != 0 || out%groups != 0 || p.KH <= 0 || p.KW <= 0 {
		panic(tensor.Errorf("nn.NewConv2d", "%d -> %d channels, %d groups, kernel %dx%d", in, out, groups, p.KH, p.KW))
	}
	if p.StrideH < 0 || p.StrideW < 0 || p.PadH < 0 || p.PadW < 0 || p.DilH < 0 || p.DilW < 0 {
		panic(tensor.Errorf("nn.NewConv2d", "stride %dx%d, padding %dx%d, dilation %dx%d; want >= 0",
			p.StrideH, p.StrideW, p.PadH, p.PadW, p.DilH, p.DilW))
	}
	c := configure(opts)
	l := &Conv2d{Params: p, Groups: groups}
	l.training = true
	bound := 1 / math.Sqrt(float64(in/groups*p.KH*p.KW))
	l.Weight = autograd.Param(g.FillUniform(c.empty(out, in/groups, p.KH, p.KW), -bound, bound))
	l.RegisterParam("weight", &l.Weight)
	if bias {
		l.Bias = autograd.Param(g.FillUniform(c.empty(out), -bound, bound))
		l.RegisterParam("bias", &l.Bias)
	}
	return l
}

// Forward convolves x [N, C, H, W].
func (l *Conv2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Conv2d(x, l.Weight, l.Bias, l.Params, l.Groups)
}

// PoolOption sets one of PyTorch's pooling options on MaxPool2d or
// AvgPool2d.
type PoolOption func(*tensor.ConvParams)

// CeilMode rounds the output size up (PyTorch's ceil_mode=True): a last,
// partial window is kept when it starts inside the input or its left
// padding. See tensor.ConvParams.
func CeilMode() PoolOption { return func(p *tensor.ConvParams) { p.CeilMode = true } }

// CountIncludePad says whether AvgPool2d's divisor counts the zero padding
// (PyTorch's count_include_pad; true by default). False divides by the
// number of input elements in each window (tensor.ConvParams.ExcludePad).
func CountIncludePad(include bool) PoolOption {
	return func(p *tensor.ConvParams) { p.ExcludePad = !include }
}

func poolParams(op string, kernel, stride, padding int, opts []PoolOption) tensor.ConvParams {
	if kernel <= 0 || stride < 0 || padding < 0 || padding > kernel/2 {
		panic(tensor.Errorf(op, "kernel %d, stride %d, padding %d; want kernel >= 1, stride >= 0 and 0 <= padding <= kernel/2", kernel, stride, padding))
	}
	if stride == 0 {
		stride = kernel
	}
	p := tensor.ConvParams{KH: kernel, KW: kernel, StrideH: stride, StrideW: stride, PadH: padding, PadW: padding}
	for _, o := range opts {
		o(&p)
	}
	return p
}

// MaxPool2d takes the maximum over windows of [N, C, H, W] inputs.
type MaxPool2d struct {
	Base
	Params tensor.ConvParams
}

// NewMaxPool2d returns a square max pooling, as PyTorch's nn.MaxPool2d
// (stride 0 means the kernel size; the option CeilMode).
func NewMaxPool2d(kernel, stride, padding int, opts ...PoolOption) *MaxPool2d {
	return &MaxPool2d{Base: Base{training: true}, Params: poolParams("nn.NewMaxPool2d", kernel, stride, padding, opts)}
}

// Forward pools x.
func (m *MaxPool2d) Forward(x *autograd.Var) *autograd.Var { return autograd.MaxPool2d(x, m.Params) }

// AvgPool2d averages windows of [N, C, H, W] inputs (padding counts as
// zeros unless CountIncludePad(false)).
type AvgPool2d struct {
	Base
	Params tensor.ConvParams
}

// NewAvgPool2d returns a square average pooling, as PyTorch's
// nn.AvgPool2d (stride 0 means the kernel size; the options CeilMode and
// CountIncludePad).
func NewAvgPool2d(kernel, stride, padding int, opts ...PoolOption) *AvgPool2d {
	return &AvgPool2d{Base: Base{training: true}, Params: poolParams("nn.NewAvgPool2d", kernel, stride, padding, opts)}
}

// Forward pools x.
func (m *AvgPool2d) Forward(x *autograd.Var) *autograd.Var { return autograd.AvgPool2d(x, m.Params) }

// Embedding maps Int64 indices to rows of a [num, dim] table.
type Embedding struct {
	Base
	Weight *autograd.Var // [num, dim]
}

// NewEmbedding returns a table of num embeddings of size dim, drawn from N(0, 1).
func NewEmbedding(g *tensor.Generator, num, dim int, opts ...Option) *Embedding {
	if num < 0 || dim < 0 {
		panic(tensor.Errorf("nn.NewEmbedding", "%d embeddings of size %d; want >= 0", num, dim))
	}
	c := configure(opts)
	e := &Embedding{}
	e.training = true
	e.Weight = autograd.Param(g.FillNormal(c.empty(num, dim), 0, 1))
	e.RegisterParam("weight", &e.Weight)
	return e
}

// Lookup returns the embeddings of the Int64 indices idx, shape idx.Shape()+[dim].
func (e *Embedding) Lookup(idx *tensor.Tensor) *autograd.Var {
	if idx.DType() != tensor.Int64 {
		panic(tensor.Errorf("nn.Embedding", "indices of dtype %v, want int64", idx.DType()))
	}
	shape := append(idx.Shape(), e.Weight.Dim(1))
	return autograd.Reshape(autograd.IndexSelect(e.Weight, 0, idx.Reshape(-1)), shape...)
}

// Forward looks up the indices held by x (an Int64 Var).
func (e *Embedding) Forward(x *autograd.Var) *autograd.Var { return e.Lookup(x.Value()) }

// Dropout zeroes each element with probability P during training and scales
// the rest by 1/(1-P); in evaluation mode it is the identity. The mask comes
// from the Philox generator G, so runs are reproducible.
type Dropout struct {
	Base
	P float64
	G *tensor.Generator
}

// NewDropout returns a Dropout with drop probability p drawing from g.
func NewDropout(g *tensor.Generator, p float64) *Dropout {
	checkDropP("nn.NewDropout", p)
	return &Dropout{Base: Base{training: true}, P: p, G: g}
}

func checkDropP(op string, p float64) {
	if !(p >= 0 && p < 1) {
		panic(tensor.Errorf(op, "probability %g outside [0, 1)", p))
	}
}

// Forward applies dropout in training mode.
func (d *Dropout) Forward(x *autograd.Var) *autograd.Var {
	if !d.training || d.P == 0 {
		return x
	}
	checkDropP("nn.Dropout", d.P)
	mask := d.G.FillBernoulli(tensor.EmptyLike(x.Value()), 1-d.P)
	return autograd.Mul(x, autograd.Constant(tensor.MulScalar(mask, 1/(1-d.P))))
}

// Func wraps a function of one Var as a parameterless Module.
type Func struct {
	Base
	F func(*autograd.Var) *autograd.Var
}

// Forward applies F.
func (f *Func) Forward(x *autograd.Var) *autograd.Var { return f.F(x) }

func fn(f func(*autograd.Var) *autograd.Var) *Func { return &Func{Base: Base{training: true}, F: f} }

// ReLU is the rectified linear unit max(x, 0) as a layer. It is its own type
// (not a Func) so that Sequential can recognise it and fuse it with a
// following max pooling.
type ReLU struct{ Base }

// NewReLU returns a ReLU module.
func NewReLU() *ReLU { return &ReLU{Base: Base{training: true}} }

// Forward applies autograd.ReLU.
func (*ReLU) Forward(x *autograd.Var) *autograd.Var { return autograd.ReLU(x) }

// NewGELU returns a GELU module. Like PyTorch's nn.GELU(approximate=...),
// it is the exact form x·Φ(x) (autograd.GELU) by default or with
// approximate "none", and the tanh approximation (autograd.GELUTanh) with
// approximate "tanh"; any other value panics with a *tensor.Error.
func NewGELU(approximate ...string) *Func {
	if len(approximate) > 1 {
		panic(tensor.Errorf("nn.NewGELU", "%d approximations %q; want at most one", len(approximate), approximate))
	}
	if len(approximate) == 0 || approximate[0] == "none" {
		return fn(autograd.GELU)
	}
	if approximate[0] == "tanh" {
		return fn(autograd.GELUTanh)
	}
	panic(tensor.Errorf("nn.NewGELU", "approximate %q; want \"none\" or \"tanh\"", approximate[0]))
}

// NewTanh returns a Tanh module.
func NewTanh() *Func { return fn(autograd.Tanh) }

// NewSigmoid returns a Sigmoid module.
func NewSigmoid() *Func { return fn(autograd.Sigmoid) }

// NewFlatten returns a module flattening every axis after the first.
func NewFlatten() *Func {
	return fn(func(x *autograd.Var) *autograd.Var { return autograd.Flatten(x, 1, -1) })
}
