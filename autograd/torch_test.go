package autograd

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testutil"
	"github.com/tessera-ml/tessera/tensor"
)

// torchOps is this package's side of the PyTorch cross-check: each entry
// computes, from the inputs of the case of the same name in
// internal/testutil/torch_cases.py (table "autograd"), what the PyTorch
// expression there computes. Int64 and Bool inputs arrive as constants.
var torchOps = map[string]func(x []*Var) *Var{
	"Add/broadcast":          func(x []*Var) *Var { return Add(x[0], x[1]) },
	"Sub/broadcast":          func(x []*Var) *Var { return Sub(x[0], x[1]) },
	"Mul/broadcast":          func(x []*Var) *Var { return Mul(x[0], x[1]) },
	"Div/broadcast":          func(x []*Var) *Var { return Div(x[0], x[1]) },
	"Pow":                    func(x []*Var) *Var { return Pow(x[0], x[1]) },
	"Maximum/broadcast":      func(x []*Var) *Var { return Maximum(x[0], x[1]) },
	"Maximum/ties":           func(x []*Var) *Var { return Maximum(x[0], x[1]) },
	"Maximum/ties-broadcast": func(x []*Var) *Var { return Maximum(x[0], x[1]) },
	"Minimum/ties":           func(x []*Var) *Var { return Minimum(x[0], x[1]) },
	"Minimum/ties-broadcast": func(x []*Var) *Var { return Minimum(x[0], x[1]) },
	"Where":                  func(x []*Var) *Var { return Where(x[0].Value(), x[1], x[2]) },
	"MaskedFill":             func(x []*Var) *Var { return MaskedFill(x[0], x[1].Value(), -3) },
	"Neg":                    func(x []*Var) *Var { return Neg(x[0]) },
	"Exp":                    func(x []*Var) *Var { return Exp(x[0]) },
	"Log":                    func(x []*Var) *Var { return Log(x[0]) },
	"Log1p":                  func(x []*Var) *Var { return Log1p(x[0]) },
	"Sqrt":                   func(x []*Var) *Var { return Sqrt(x[0]) },
	"Rsqrt":                  func(x []*Var) *Var { return Rsqrt(x[0]) },
	"Reciprocal":             func(x []*Var) *Var { return Reciprocal(x[0]) },
	"Square":                 func(x []*Var) *Var { return Square(x[0]) },
	"Sin":                    func(x []*Var) *Var { return Sin(x[0]) },
	"Cos":                    func(x []*Var) *Var { return Cos(x[0]) },
	"Tanh":                   func(x []*Var) *Var { return Tanh(x[0]) },
	"Sigmoid":                func(x []*Var) *Var { return Sigmoid(x[0]) },
	"Erf":                    func(x []*Var) *Var { return Erf(x[0]) },
	"ReLU/ties":              func(x []*Var) *Var { return ReLU(x[0]) },
	"LeakyReLU/ties":         func(x []*Var) *Var { return LeakyReLU(x[0], 0.1) },
	"GELU":                   func(x []*Var) *Var { return GELU(x[0]) },
	"GELUTanh":               func(x []*Var) *Var { return GELUTanh(x[0]) },
	"Abs/ties":               func(x []*Var) *Var { return Abs(x[0]) },
	"Clamp/ties":             func(x []*Var) *Var { return Clamp(x[0], -0.5, 0.5) },
	"PowScalar":              func(x []*Var) *Var { return PowScalar(x[0], 2.5) },
	"PowScalar/2":            func(x []*Var) *Var { return PowScalar(x[0], 2) },
	"Affine":                 func(x []*Var) *Var { return Affine(x[0], -1.5, 2) },
	"AddScalar":              func(x []*Var) *Var { return AddScalar(x[0], 3) },
	"SubScalar":              func(x []*Var) *Var { return SubScalar(x[0], 3) },
	"MulScalar":              func(x []*Var) *Var { return MulScalar(x[0], -2) },
	"DivScalar":              func(x []*Var) *Var { return DivScalar(x[0], 4) },
	"RSubScalar":             func(x []*Var) *Var { return RSubScalar(1, x[0]) },
	"MaximumScalar/ties":     func(x []*Var) *Var { return MaximumScalar(x[0], 0.5) },
	"MinimumScalar/ties":     func(x []*Var) *Var { return MinimumScalar(x[0], 0.5) },
	"Cast": func(x []*Var) *Var {
		return Cast(Mul(Cast(x[0], tensor.Float32), Cast(x[0], tensor.Float32)), tensor.Float64)
	},
	"Sum/axes":                 func(x []*Var) *Var { return Sum(x[0], false, 0, 2) },
	"Sum/keepDim":              func(x []*Var) *Var { return Sum(x[0], true, -1) },
	"Sum/all":                  func(x []*Var) *Var { return Sum(x[0], false) },
	"Mean":                     func(x []*Var) *Var { return Mean(x[0], false, 1) },
	"Max/ties":                 func(x []*Var) *Var { return Max(x[0], false, 1) },
	"Max/keepDim":              func(x []*Var) *Var { return Max(x[0], true, 0, 2) },
	"Min/ties":                 func(x []*Var) *Var { return Min(x[0], false, 0, 2) },
	"Prod":                     func(x []*Var) *Var { return Prod(x[0], false, 1) },
	"Prod/zeros":               func(x []*Var) *Var { return Prod(x[0], false, -1) },
	"Variance":                 func(x []*Var) *Var { return Variance(x[0], 1, false, 1) },
	"Std":                      func(x []*Var) *Var { return Std(x[0], 0, true, -1) },
	"LogSumExp":                func(x []*Var) *Var { return LogSumExp(x[0], true, 0, 2) },
	"MatMul/batched-broadcast": func(x []*Var) *Var { return MatMul(x[0], x[1]) },
	"MatMul/vector-matrix":     func(x []*Var) *Var { return MatMul(x[0], x[1]) },
	"MatMul/matrix-vector":     func(x []*Var) *Var { return MatMul(x[0], x[1]) },
	"MatMul/dot":               func(x []*Var) *Var { return MatMul(x[0], x[1]) },
	"Linear":                   func(x []*Var) *Var { return Linear(x[0], x[1], x[2]) },
	"Linear/no-bias":           func(x []*Var) *Var { return Linear(x[0], x[1], nil) },
	"Reshape":                  func(x []*Var) *Var { return Reshape(x[0], 4, -1) },
	"Flatten":                  func(x []*Var) *Var { return Flatten(x[0], 1, 2) },
	"Permute":                  func(x []*Var) *Var { return Permute(x[0], 2, 0, 1) },
	"Transpose":                func(x []*Var) *Var { return Transpose(x[0], 0, 2) },
	"T":                        func(x []*Var) *Var { return T(x[0]) },
	"Slice":                    func(x []*Var) *Var { return Slice(x[0], 1, 1, 7, 2) },
	"Narrow":                   func(x []*Var) *Var { return Narrow(x[0], -1, 1, 2) },
	"Select":                   func(x []*Var) *Var { return Select(x[0], 0, -1) },
	"Expand":                   func(x []*Var) *Var { return Expand(x[0], 2, 3, 4) },
	"Squeeze":                  func(x []*Var) *Var { return Squeeze(x[0]) },
	"Unsqueeze":                func(x []*Var) *Var { return Unsqueeze(x[0], 1) },
	"Contiguous":               func(x []*Var) *Var { return Contiguous(Transpose(x[0], 0, 1)) },
	"Concat":                   func(x []*Var) *Var { return Concat([]*Var{x[0], x[1], x[0]}, 1) },
	"Stack":                    func(x []*Var) *Var { return Stack([]*Var{x[0], x[1]}, -1) },
	"Split": func(x []*Var) *Var {
		p := Split(x[0], []int{1, 3}, 1)
		return Concat([]*Var{MulScalar(p[0], 2), MulScalar(p[1], 2)}, 1)
	},
	"Chunk": func(x []*Var) *Var {
		p := Chunk(x[0], 2, 0)
		return Concat([]*Var{p[0], MulScalar(p[1], 2)}, 1)
	},
	"Pad":         func(x []*Var) *Var { return Pad(x[0], []int{1, 2, 0, 1}, 0.5) },
	"IndexSelect": func(x []*Var) *Var { return IndexSelect(x[0], 1, x[1].Value()) },
	"Gather":      func(x []*Var) *Var { return Gather(x[0], 1, x[1].Value()) },
	"ScatterAdd":  func(x []*Var) *Var { return ScatterAdd(x[0], 1, x[1].Value(), x[2]) },
	"Softmax":     func(x []*Var) *Var { return Softmax(x[0], 0) },
	"LogSoftmax":  func(x []*Var) *Var { return LogSoftmax(x[0], 1) },
	"Sort":        func(x []*Var) *Var { v, _ := Sort(x[0], 1, true); return v },
	"TopK":        func(x []*Var) *Var { v, _ := TopK(x[0], 2, 0, false); return v },
	"KthValue":    func(x []*Var) *Var { v, _ := KthValue(x[0], 2, 1, true); return v },
	"Median":      func(x []*Var) *Var { v, _ := Median(x[0], 0, false); return v },
	"Norm/1":      func(x []*Var) *Var { return Norm(x[0], 1, false, 1) },
	"Norm/2":      func(x []*Var) *Var { return Norm(x[0], 2, true, 0, 1) },
	"Norm/inf-ties": func(x []*Var) *Var {
		return Norm(x[0], math.Inf(1), false, 1)
	},
	"PairwiseSqDist": func(x []*Var) *Var { return PairwiseSqDist(x[0], x[1]) },
	"Checkpoint": func(x []*Var) *Var {
		return Checkpoint(func(xs []*Var) *Var { return Tanh(MatMul(xs[0], Exp(xs[1]))) }, x[0], x[1])
	},
	"Im2Col": func(x []*Var) *Var {
		return Im2Col(x[0], tensor.ConvParams{KH: 2, KW: 3, StrideH: 2, PadH: 1, PadW: 1, DilW: 2})
	},
	"Col2Im": func(x []*Var) *Var {
		return Col2Im(x[0], []int{2, 2, 4, 5}, tensor.ConvParams{KH: 2, KW: 2, PadH: 1})
	},
	"Conv2d": func(x []*Var) *Var {
		return Conv2d(x[0], x[1], x[2], tensor.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2, DilH: 1, DilW: 2}, 1)
	},
	"Conv2d/groups": func(x []*Var) *Var {
		return Conv2d(x[0], x[1], nil, tensor.ConvParams{PadH: 1, PadW: 1}, 2)
	},
	"Conv2dMaxPool2d": func(x []*Var) *Var {
		return Conv2dMaxPool2d(x[0], x[1], x[2], tensor.ConvParams{PadH: 1}, 1, tensor.ConvParams{KH: 2, KW: 2})
	},
	"Conv2dReLUMaxPool2d": func(x []*Var) *Var {
		return Conv2dReLUMaxPool2d(x[0], x[1], x[2], tensor.ConvParams{PadW: 1}, 1,
			tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, CeilMode: true})
	},
	"MaxPool2d": func(x []*Var) *Var { return MaxPool2d(x[0], tensor.ConvParams{KH: 2, KW: 2}) },
	"MaxPool2d/padded-dilated": func(x []*Var) *Var {
		return MaxPool2d(x[0], tensor.ConvParams{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 1, DilW: 2})
	},
	"MaxPool2d/ceil": func(x []*Var) *Var {
		return MaxPool2d(x[0], tensor.ConvParams{KH: 2, KW: 2, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true})
	},
	"MaxPool2d/ties": func(x []*Var) *Var {
		return MaxPool2d(x[0], tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, CeilMode: true})
	},
	"AvgPool2d": func(x []*Var) *Var {
		return AvgPool2d(x[0], tensor.ConvParams{KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadH: 1})
	},
	"AvgPool2d/default-stride": func(x []*Var) *Var { return AvgPool2d(x[0], tensor.ConvParams{KH: 2, KW: 2}) },
	"AvgPool2d/ceil": func(x []*Var) *Var {
		return AvgPool2d(x[0], tensor.ConvParams{KH: 4, KW: 4, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true})
	},
	"AvgPool2d/exclude-pad": func(x []*Var) *Var {
		return AvgPool2d(x[0], tensor.ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, ExcludePad: true})
	},
	"AvgPool2d/ceil-exclude-pad": func(x []*Var) *Var {
		return AvgPool2d(x[0], tensor.ConvParams{KH: 4, KW: 3, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true, ExcludePad: true})
	},
}

// torchLeftOut names the differentiable ops with no case in the PyTorch
// table, and why (TestEveryOpHasTorchCase requires one or the other).
var torchLeftOut = map[string]string{}

// TestAgainstTorch runs every case of the "autograd" table of
// internal/testutil/torch_cases.py (PyTorch 1.13+ in float64, through
// /usr/bin/python3, inputs drawn there) through the function of torchOps of
// the same name and requires the output and the vector-Jacobian product
// for PyTorch's random cotangent to agree to 1e-10 relative
// (|got - want| <= 1e-10·(1 + |want|)); float32 cases state their own
// tolerance. Each case runs twice: with contiguous inputs and with every
// input a non-contiguous view (a transposed copy transposed back, or every
// other element of a larger vector). The table covers broadcasting, ties
// (Maximum, Minimum, Max, Min, Clamp, ReLU, Abs, L∞ norm, max pooling:
// values on a grid of halves) and zeros (Prod).
//
// Left out, with the reason: see torchLeftOut (empty at present). The sort
// family (Sort, TopK, KthValue, Median) runs without ties, where PyTorch's
// choice of index among equal values is an implementation detail.
//
// It skips under -short (a Python start with torch takes seconds; the
// finite-difference checks of every op still run) and when torch is
// missing, unless TESSERA_REQUIRE_TORCH=1 (set by make test), when it fails.
func TestAgainstTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED under -short: starts python3 with torch (TestGradCheckOps covers every op by finite differences)")
	}
	cases := testutil.TorchCases(t, "autograd", 12)
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.Name] = true
		f := torchOps[c.Name]
		if f == nil {
			t.Errorf("torch case %s has no Go function in torchOps", c.Name)
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			for _, nc := range []bool{false, true} {
				runTorchCase(t, c, f, nc)
			}
		})
	}
	for name := range torchOps {
		require.True(t, seen[name], "torchOps has %s, the torch table has not", name)
	}
}

// torchTensor builds a case's array as a tensor; with nc, as a
// non-contiguous view holding the same values.
func torchTensor(a testutil.TorchArray, nc bool) *tensor.Tensor {
	var x *tensor.Tensor
	switch a.Kind {
	case "i":
		v := make([]int64, len(a.Data))
		for i, f := range a.Data {
			v[i] = int64(f)
		}
		x = tensor.FromSlice(v, a.Shape...)
	case "b":
		x = tensor.CompareScalar(tensor.OpGt, tensor.FromSlice(a.Data, a.Shape...), 0.5)
	default:
		x = tensor.FromSlice(append([]float64(nil), a.Data...), a.Shape...)
	}
	if !nc {
		return x
	}
	// Every other element along the first axis longer than 1, of a tensor
	// twice as long there.
	for ax, d := range x.Shape() {
		if d > 1 {
			sh := append([]int(nil), x.Shape()...)
			sh[ax] = 2 * d
			return tensor.Stack([]*tensor.Tensor{x, x}, ax+1).Reshape(sh...).Slice(ax, 0, 2*d, 2)
		}
	}
	return x
}

func requireCloseTorch(t *testing.T, want []float64, got *tensor.Tensor, tol float64, what string) {
	t.Helper()
	g := got.Cast(tensor.Float64).Contiguous().Float64s()
	require.Len(t, g, len(want), what)
	for i, w := range want {
		if math.Abs(g[i]-w) > tol*(1+math.Abs(w)) || math.IsNaN(g[i]) != math.IsNaN(w) {
			require.Failf(t, "differs from PyTorch", "%s [%d]: got %v, PyTorch %v (tolerance %g relative)", what, i, g[i], w, tol)
		}
	}
}

func runTorchCase(t *testing.T, c testutil.TorchCase, f func([]*Var) *Var, nc bool) {
	t.Helper()
	what := c.Name
	if nc {
		what += " (non-contiguous inputs)"
	}
	var xs, params []*Var
	for _, in := range c.Inputs {
		v := torchTensor(in, nc)
		if nc && v.NDim() > 0 && v.NumElements() > 1 {
			require.False(t, v.IsContiguous(), what)
		}
		if in.Kind == "f" && in.Grad {
			p := Param(v)
			xs, params = append(xs, p), append(params, p)
		} else {
			xs = append(xs, Constant(v))
		}
	}
	out := f(xs)
	require.True(t, tensor.Shape(c.Out.Shape).Equal(out.Shape()), "%s: output shape %v, PyTorch's %v", what, out.Shape(), c.Out.Shape)
	requireCloseTorch(t, c.Out.Data, out.Value(), c.Tol, what+": output")
	if len(params) == 0 {
		return
	}
	cot := Constant(torchTensor(c.Cot, false).Cast(out.DType()))
	gs, err := Grad([]*Var{out}, params, []*Var{cot}, BackwardOpts{})
	require.NoError(t, err, what)
	k := 0
	for i, g := range c.Grads {
		if g == nil {
			continue
		}
		got := gs[k]
		k++
		var gt *tensor.Tensor
		if got == nil {
			gt = tensor.Zeros(tensor.Float64, g.Shape...)
		} else {
			gt = got.Value()
		}
		require.True(t, tensor.Shape(g.Shape).Equal(gt.Shape()), "%s: gradient %d shape %v, PyTorch's %v", what, i, gt.Shape(), g.Shape)
		requireCloseTorch(t, g.Data, gt, c.Tol, fmt.Sprintf("%s: gradient of input %d", what, i))
	}
}
