package autograd

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// Tolerances for float64 central differences with eps = 1e-6: truncation
// error is O(eps²) and rounding O(1e-16/eps), both far below 1e-6.
const (
	gcEps = 1e-6
	gcTol = 1e-6
)

var seedCounter uint64 = 1000

func randn(shape ...int) *tensor.Tensor {
	seedCounter++
	return tensor.NewGenerator(seedCounter).Normal(0, 1, tensor.Float64, shape...)
}

// positive returns values in [0.5, 2).
func positive(shape ...int) *tensor.Tensor {
	seedCounter++
	return tensor.NewGenerator(seedCounter).Uniform(0.5, 2, tensor.Float64, shape...)
}

// withZeros sets the elements of t at the given indices to zero.
func withZeros(t *tensor.Tensor, at ...[]int) *tensor.Tensor {
	for _, i := range at {
		t.Set(0, i...)
	}
	return t
}

func idx(vals ...int64) *tensor.Tensor { return tensor.FromSlice(vals, len(vals)) }

type gcCase struct {
	name   string
	f      func(xs []*Var) *Var
	inputs []*tensor.Tensor
	eps    float64
	tol    float64
	// noSecond skips the second-order check (ops whose gradient is not
	// smooth where finite differences probe it).
	noSecond bool
}

func unaryCase(name string, f func(*Var) *Var, x *tensor.Tensor) gcCase {
	return gcCase{name: name, f: func(xs []*Var) *Var { return f(xs[0]) }, inputs: []*tensor.Tensor{x}}
}

func gradCheckCases() []gcCase {
	cond := tensor.CompareScalar(tensor.OpGt, randn(3, 4), 0)
	mask := tensor.CompareScalar(tensor.OpGt, randn(4), 0.3)
	convPoolInput := tensor.NewGenerator(77).Normal(0, 1, tensor.Float64, 2, 1, 7, 8)
	gatherIdx := tensor.FromSlice([]int64{0, 2, 2, 1, 0, 0, 1, 2}, 2, 4)
	scatterIdx := tensor.FromSlice([]int64{0, 2, 2, 1, 0, 0}, 2, 3)
	w43, w234 := randn(4, 3), randn(2, 3, 4)
	cs := []gcCase{
		{name: "Add/broadcast", f: func(x []*Var) *Var { return Add(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(2, 1, 3), randn(4, 1)}},
		{name: "Sub/broadcast", f: func(x []*Var) *Var { return Sub(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(4)}},
		{name: "Mul/broadcast", f: func(x []*Var) *Var { return Mul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(3, 1)}},
		{name: "Div/broadcast", f: func(x []*Var) *Var { return Div(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), positive(4)}},
		{name: "Pow", f: func(x []*Var) *Var { return Pow(x[0], x[1]) }, inputs: []*tensor.Tensor{positive(3, 4), randn(3, 4)}},
		{name: "Maximum", f: func(x []*Var) *Var { return Maximum(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(4)}},
		{name: "Minimum", f: func(x []*Var) *Var { return Minimum(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(3, 4)}},
		{name: "Where", f: func(x []*Var) *Var { return Where(cond, x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(1, 4)}},
		{name: "MaskedFill", f: func(x []*Var) *Var { return MaskedFill(x[0], mask, -3) }, inputs: []*tensor.Tensor{randn(3, 4)}},
		unaryCase("Neg", Neg, randn(3, 4)),
		unaryCase("Exp", Exp, randn(3, 4)),
		unaryCase("Log", Log, positive(3, 4)),
		unaryCase("Log1p", Log1p, positive(3, 4)),
		unaryCase("Sqrt", Sqrt, positive(3, 4)),
		unaryCase("Rsqrt", Rsqrt, positive(3, 4)),
		unaryCase("Reciprocal", Reciprocal, positive(3, 4)),
		unaryCase("Square", Square, randn(3, 4)),
		unaryCase("Sin", Sin, randn(3, 4)),
		unaryCase("Cos", Cos, randn(3, 4)),
		unaryCase("Tanh", Tanh, randn(3, 4)),
		unaryCase("Sigmoid", Sigmoid, randn(3, 4)),
		unaryCase("Erf", Erf, randn(3, 4)),
		unaryCase("ReLU", ReLU, randn(3, 4)),
		unaryCase("LeakyReLU", func(x *Var) *Var { return LeakyReLU(x, 0.1) }, randn(3, 4)),
		unaryCase("GELU", GELU, randn(3, 4)),
		unaryCase("GELUTanh", GELUTanh, randn(3, 4)),
		unaryCase("Abs", Abs, randn(3, 4)),
		unaryCase("Clamp", func(x *Var) *Var { return Clamp(x, -0.5, 0.5) }, randn(3, 4)),
		unaryCase("PowScalar", func(x *Var) *Var { return PowScalar(x, 2.5) }, positive(3, 4)),
		unaryCase("PowScalar/2", func(x *Var) *Var { return PowScalar(x, 2) }, randn(3, 4)),
		unaryCase("Affine", func(x *Var) *Var { return Affine(x, -1.5, 2) }, randn(3, 4)),
		unaryCase("AddScalar", func(x *Var) *Var { return AddScalar(x, 3) }, randn(3, 4)),
		unaryCase("SubScalar", func(x *Var) *Var { return SubScalar(x, 3) }, randn(3, 4)),
		unaryCase("MulScalar", func(x *Var) *Var { return MulScalar(x, -2) }, randn(3, 4)),
		unaryCase("DivScalar", func(x *Var) *Var { return DivScalar(x, 4) }, randn(3, 4)),
		unaryCase("RSubScalar", func(x *Var) *Var { return RSubScalar(1, x) }, randn(3, 4)),
		unaryCase("MaximumScalar", func(x *Var) *Var { return MaximumScalar(x, 0.2) }, randn(3, 4)),
		unaryCase("MinimumScalar", func(x *Var) *Var { return MinimumScalar(x, 0.2) }, randn(3, 4)),
		{name: "Cast", f: func(x []*Var) *Var { return Mul(Cast(x[0], tensor.Float32), Cast(x[0], tensor.Float32)) }, inputs: []*tensor.Tensor{randn(3, 4)}, eps: 1e-2, tol: 1e-4},
		unaryCase("Sum/all", func(x *Var) *Var { return Sum(x, false) }, randn(3, 4)),
		unaryCase("Sum/axes", func(x *Var) *Var { return Sum(x, false, 0, 2) }, randn(2, 3, 4)),
		unaryCase("Sum/keepDim", func(x *Var) *Var { return Sum(x, true, -1) }, randn(2, 3, 4)),
		unaryCase("Mean", func(x *Var) *Var { return Mean(x, false, 1) }, randn(2, 3, 4)),
		unaryCase("Max", func(x *Var) *Var { return Max(x, false, 1) }, randn(2, 3, 4)),
		unaryCase("Max/keepDim", func(x *Var) *Var { return Max(x, true, 0, 2) }, randn(2, 3, 4)),
		unaryCase("Min", func(x *Var) *Var { return Min(x, false) }, randn(2, 3, 4)),
		unaryCase("Variance", func(x *Var) *Var { return Variance(x, 1, false, 1) }, randn(2, 3, 4)),
		unaryCase("Std", func(x *Var) *Var { return Std(x, 0, true, -1) }, randn(2, 3, 4)),
		unaryCase("LogSumExp", func(x *Var) *Var { return LogSumExp(x, false, 1) }, randn(2, 3, 4)),
		unaryCase("LogSumExp/keepDim", func(x *Var) *Var { return LogSumExp(x, true, 0, 2) }, randn(2, 3, 4)),
		unaryCase("Prod", func(x *Var) *Var { return Prod(x, false, 1) }, randn(2, 3, 4)),
		unaryCase("Prod/keepDim", func(x *Var) *Var { return Prod(x, true, 0, 2) }, randn(2, 3, 4)),
		unaryCase("Prod/all", func(x *Var) *Var { return Prod(x, false) }, randn(3, 4)),
		// Zeros on purpose: the gradient there is the product of the others.
		unaryCase("Prod/one-zero", func(x *Var) *Var { return Prod(x, false, 1) }, withZeros(randn(2, 3, 4), []int{1, 2, 3})),
		unaryCase("Prod/two-zeros", func(x *Var) *Var { return Prod(x, true, 0, 2) }, withZeros(randn(2, 3, 4), []int{0, 1, 1}, []int{1, 1, 3})),
		unaryCase("Prod/two-zeros-apart", func(x *Var) *Var { return Prod(x, false, -1) }, withZeros(randn(2, 3, 4), []int{0, 0, 2}, []int{1, 2, 0})),
		{name: "MatMul", f: func(x []*Var) *Var { return MatMul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(4, 5)}},
		{name: "MatMul/batched-broadcast", f: func(x []*Var) *Var { return MatMul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(2, 3, 4), randn(4, 5)}},
		{name: "MatMul/vector-matrix", f: func(x []*Var) *Var { return MatMul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(4), randn(2, 4, 3)}},
		{name: "MatMul/matrix-vector", f: func(x []*Var) *Var { return MatMul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(3, 4), randn(4)}},
		{name: "MatMul/dot", f: func(x []*Var) *Var { return MatMul(x[0], x[1]) }, inputs: []*tensor.Tensor{randn(4), randn(4)}},
		{name: "MatMul/transposed", f: func(x []*Var) *Var { return MatMul(T(x[0]), T(x[1])) }, inputs: []*tensor.Tensor{randn(4, 3), randn(5, 4)}},
		{name: "Linear", f: func(x []*Var) *Var { return Linear(x[0], x[1], x[2]) }, inputs: []*tensor.Tensor{randn(2, 3, 4), randn(5, 4), randn(5)}},
		unaryCase("Reshape", func(x *Var) *Var { return Mul(Reshape(x, 4, -1), Constant(w43)) }, randn(3, 4)),
		unaryCase("Reshape/strided", func(x *Var) *Var { return Reshape(T(x), 12) }, randn(3, 4)),
		unaryCase("Flatten", func(x *Var) *Var { return Flatten(x, 1, 2) }, randn(2, 3, 4)),
		unaryCase("Permute", func(x *Var) *Var { return Permute(x, 2, 0, 1) }, randn(2, 3, 4)),
		unaryCase("Transpose", func(x *Var) *Var { return Transpose(x, 0, 2) }, randn(2, 3, 4)),
		unaryCase("T", T, randn(3, 4)),
		unaryCase("Slice", func(x *Var) *Var { return Slice(x, 1, 1, 7, 2) }, randn(2, 7)),
		unaryCase("Slice/negative", func(x *Var) *Var { return Slice(x, 0, -3, 100, 1) }, randn(5, 2)),
		unaryCase("Narrow", func(x *Var) *Var { return Narrow(x, -1, 1, 2) }, randn(3, 4)),
		unaryCase("Select", func(x *Var) *Var { return Select(x, 0, -1) }, randn(3, 4)),
		unaryCase("Expand", func(x *Var) *Var { return Mul(Expand(x, 2, 3, 4), Constant(w234)) }, randn(3, 1)),
		unaryCase("Squeeze", func(x *Var) *Var { return Squeeze(x) }, randn(3, 1, 4, 1)),
		unaryCase("Squeeze/axis", func(x *Var) *Var { return Squeeze(x, 1) }, randn(3, 1, 4, 1)),
		unaryCase("Unsqueeze", func(x *Var) *Var { return Unsqueeze(x, 1) }, randn(3, 4)),
		unaryCase("Contiguous", func(x *Var) *Var { return Contiguous(T(x)) }, randn(3, 4)),
		{name: "Concat", f: func(x []*Var) *Var { return Concat([]*Var{x[0], x[1], x[0]}, 1) }, inputs: []*tensor.Tensor{randn(2, 3), randn(2, 2)}},
		{name: "Stack", f: func(x []*Var) *Var { return Stack([]*Var{x[0], x[1]}, -1) }, inputs: []*tensor.Tensor{randn(2, 3), randn(2, 3)}},
		unaryCase("Split", func(x *Var) *Var {
			p := Split(x, []int{1, 3}, 1)
			return Add(Sum(p[0], false), Mul(p[1], p[1]))
		}, randn(2, 4)),
		unaryCase("Chunk", func(x *Var) *Var {
			p := Chunk(x, 2, 0)
			return Mul(p[0], Sum(p[1], false))
		}, randn(4, 3)),
		unaryCase("Pad", func(x *Var) *Var { return Pad(x, []int{1, 2, 0, 1}, 0.5) }, randn(2, 3)),
		unaryCase("IndexSelect", func(x *Var) *Var { return IndexSelect(x, 1, idx(2, 0, 2, 3)) }, randn(3, 4)),
		unaryCase("IndexSelect/axis0", func(x *Var) *Var { return IndexSelect(x, 0, idx(1, 1)) }, randn(3, 4)),
		unaryCase("Gather", func(x *Var) *Var { return Gather(x, 1, gatherIdx) }, randn(2, 3)),
		{name: "ScatterAdd", f: func(x []*Var) *Var { return ScatterAdd(x[0], 1, scatterIdx, x[1]) }, inputs: []*tensor.Tensor{randn(2, 4), randn(2, 3)}},
		{name: "ScatterAdd/larger-src", f: func(x []*Var) *Var { return ScatterAdd(x[0], 1, scatterIdx, x[1]) }, inputs: []*tensor.Tensor{randn(2, 4), randn(3, 5)}},
		unaryCase("Softmax", func(x *Var) *Var { return Softmax(x, -1) }, randn(3, 4)),
		unaryCase("Softmax/axis0", func(x *Var) *Var { return Softmax(x, 0) }, randn(3, 4)),
		unaryCase("LogSoftmax", func(x *Var) *Var { return LogSoftmax(x, 1) }, randn(3, 4)),
		unaryCase("Im2Col", func(x *Var) *Var {
			return Im2Col(x, tensor.ConvParams{KH: 2, KW: 3, StrideH: 2, PadH: 1, PadW: 1, DilW: 2})
		}, randn(2, 2, 5, 6)),
		unaryCase("Col2Im", func(x *Var) *Var {
			return Col2Im(x, []int{2, 2, 4, 5}, tensor.ConvParams{KH: 2, KW: 2, PadH: 1})
		}, randn(8, 2*5*4)),
		{name: "Conv2d", f: func(x []*Var) *Var {
			return Conv2d(x[0], x[1], x[2], tensor.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2, DilH: 1, DilW: 2}, 1)
		}, inputs: []*tensor.Tensor{randn(2, 3, 5, 6), randn(4, 3, 3, 2), randn(4)}},
		{name: "Conv2d/groups", f: func(x []*Var) *Var {
			return Conv2d(x[0], x[1], nil, tensor.ConvParams{PadH: 1, PadW: 1}, 2)
		}, inputs: []*tensor.Tensor{randn(2, 4, 4, 4), randn(6, 2, 3, 3)}},
		{name: "Conv2dMaxPool2d", f: func(x []*Var) *Var {
			return Conv2dMaxPool2d(x[0], x[1], x[2], tensor.ConvParams{PadH: 1}, 1, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
		}, inputs: []*tensor.Tensor{randn(2, 2, 5, 6), randn(3, 2, 3, 3), randn(3)}},
		{name: "Conv2dMaxPool2d/constant-input", f: func(x []*Var) *Var {
			// the first-order weight and bias gradients from the pooled gradient
			return Conv2dMaxPool2d(Constant(convPoolInput), x[0], x[1], tensor.ConvParams{}, 1, tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
		}, inputs: []*tensor.Tensor{randn(4, 1, 3, 3), randn(4)}},
		{name: "Conv2dReLUMaxPool2d", f: func(x []*Var) *Var {
			return Conv2dReLUMaxPool2d(x[0], x[1], x[2], tensor.ConvParams{PadW: 1}, 1, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
		}, inputs: []*tensor.Tensor{randn(2, 2, 6, 5), randn(3, 2, 3, 3), randn(3)}},
		{name: "Conv2dReLUMaxPool2d/constant-input", f: func(x []*Var) *Var {
			return Conv2dReLUMaxPool2d(Constant(convPoolInput), x[0], x[1], tensor.ConvParams{}, 1, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
		}, inputs: []*tensor.Tensor{randn(4, 1, 3, 3), randn(4)}},
		unaryCase("MaxPool2d", func(x *Var) *Var {
			return MaxPool2d(x, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
		}, randn(2, 3, 4, 4)),
		unaryCase("MaxPool2d/padded", func(x *Var) *Var {
			return MaxPool2d(x, tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
		}, randn(1, 2, 5, 5)),
		{name: "Checkpoint", f: func(x []*Var) *Var {
			return Checkpoint(func(xs []*Var) *Var { return Tanh(MatMul(xs[0], Exp(xs[1]))) }, x[0], x[1])
		}, inputs: []*tensor.Tensor{randn(3, 4), randn(4, 2)}, noSecond: true},
		unaryCase("AvgPool2d", func(x *Var) *Var {
			return AvgPool2d(x, tensor.ConvParams{KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadH: 1})
		}, randn(2, 2, 4, 4)),
		unaryCase("AvgPool2d/ceil", func(x *Var) *Var {
			return AvgPool2d(x, tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, CeilMode: true})
		}, randn(1, 2, 6, 5)),
		unaryCase("AvgPool2d/ceil-exclude-pad", func(x *Var) *Var {
			return AvgPool2d(x, tensor.ConvParams{KH: 3, KW: 2, PadH: 1, CeilMode: true, ExcludePad: true})
		}, randn(2, 1, 7, 5)),
		unaryCase("MaxPool2d/ceil", func(x *Var) *Var {
			return MaxPool2d(x, tensor.ConvParams{KH: 2, KW: 3, StrideW: 2, PadW: 1, CeilMode: true})
		}, randn(1, 2, 5, 6)),
	}
	cs = append(cs, sortGradCases()...)
	return cs
}

func TestGradCheckOps(t *testing.T) {
	for _, c := range gradCheckCases() {
		t.Run(c.name, func(t *testing.T) {
			eps, tol := c.eps, c.tol
			if eps == 0 {
				eps, tol = gcEps, gcTol
			}
			require.NoError(t, GradCheck(c.f, c.inputs, eps, tol))
		})
	}
}

// TestGradCheckSecondOrder checks every op's backward rule as a function
// in its own right: the gradient computed with CreateGraph is differentiated
// again and compared with finite differences of the first gradient.
func TestGradCheckSecondOrder(t *testing.T) {
	for _, c := range gradCheckCases() {
		if c.noSecond || c.eps != 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var proj *tensor.Tensor
			first := func(xs []*Var) *Var {
				out := c.f(xs)
				if proj == nil {
					proj = randn(out.Shape()...)
				}
				l := Sum(Mul(out, Constant(proj)), false)
				gs, err := Grad([]*Var{l}, xs, nil, BackwardOpts{CreateGraph: true})
				require.NoError(t, err)
				flat := make([]*Var, len(gs))
				for i, g := range gs {
					flat[i] = Reshape(g, -1)
				}
				return Concat(flat, 0)
			}
			require.NoError(t, GradCheck(first, c.inputs, 1e-5, 1e-5))
		})
	}
}

func TestGradCheckDetectsWrongGradient(t *testing.T) {
	bad := func(xs []*Var) *Var {
		x := xs[0]
		// x² with a backward rule that is off by a factor 2.
		return Record("bad", tensor.Square(x.Value()), []*Var{x}, func(c *Ctx, g *Var) []*Var {
			return []*Var{Mul(g, c.Input(0))}
		})
	}
	err := GradCheck(bad, []*tensor.Tensor{randn(3)}, gcEps, gcTol)
	require.Error(t, err)
	require.Contains(t, err.Error(), "analytic")
}

// TestProdGradAtZeros compares Prod's first and second derivatives with a
// float64 reference computed by hand, on rows with no zero, one zero and two
// zeros (where division by x would give NaN or a wrong zero). Tolerance 1e-12
// relative: both sides are products of the same few float64 numbers.
func TestProdGradAtZeros(t *testing.T) {
	xv := withZeros(randn(3, 4), []int{1, 2}, []int{2, 0}, []int{2, 3})
	wv := randn(3)
	x := Param(xv)
	loss := Sum(Mul(Prod(x, false, 1), Constant(wv)), false)
	gs, err := Grad([]*Var{loss}, []*Var{x}, nil, BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	xs, w := xv.Float64s(), wv.Float64s()
	others := func(i int, skip ...int) float64 {
		p := 1.0
	cols:
		for k := range 4 {
			for _, s := range skip {
				if k == s {
					continue cols
				}
			}
			p *= xs[i*4+k]
		}
		return p
	}
	got := gs[0].Value().Float64s()
	for i := range 3 {
		for j := range 4 {
			want := w[i] * others(i, j)
			require.InDelta(t, want, got[i*4+j], 1e-12*(1+math.Abs(want)), "d/dx[%d][%d]", i, j)
		}
	}
	require.NotZero(t, got[1*4+2], "the zero's own gradient is the product of the others")

	// Second order: d/dx of the gradient at x[2][3] (a zero in a row with
	// two). Only x[2][0], the other zero, gives a nonzero entry.
	h, err := Grad([]*Var{Select(Select(gs[0], 0, 2), 0, 3)}, []*Var{x}, nil, BackwardOpts{})
	require.NoError(t, err)
	hv := h[0].Value().Float64s()
	for i := range 3 {
		for j := range 4 {
			want := 0.0
			if i == 2 && j != 3 {
				want = w[2] * others(2, j, 3)
			}
			require.InDelta(t, want, hv[i*4+j], 1e-12*(1+math.Abs(want)), "d²/dx[2][3]dx[%d][%d]", i, j)
		}
	}
	require.NotZero(t, hv[2*4+0])
}

func ExampleGradCheck() {
	err := GradCheck(func(xs []*Var) *Var { return Tanh(MatMul(xs[0], xs[1])) },
		[]*tensor.Tensor{tensor.Randn(2, 3), tensor.Randn(3, 2)}, 1e-6, 1e-6)
	fmt.Println(err)
	// Output: <nil>
}
