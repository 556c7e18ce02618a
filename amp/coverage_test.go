package amp

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// classedOps calls every op DefaultClasses names on x [4, 2, 3, 6] (positive
// entries, so Log and Pow are defined) and, where the op needs one, a
// weight w [6, 6].
var classedOps = map[string]func(x, w *autograd.Var) *autograd.Var{
	"autograd.MatMul": func(x, w *autograd.Var) *autograd.Var { return autograd.MatMul(x, w) },
	"autograd.Linear": func(x, w *autograd.Var) *autograd.Var { return autograd.Linear(x, w, nil) },
	"autograd.Conv2d": func(x, w *autograd.Var) *autograd.Var {
		return autograd.Conv2d(x, autograd.Reshape(w, 3, 2, 3, 2), nil, tensor.ConvParams{StrideH: 1, StrideW: 1}, 1)
	},
	"autograd.Conv2dMaxPool2d": func(x, w *autograd.Var) *autograd.Var {
		return autograd.Conv2dMaxPool2d(x, autograd.Reshape(w, 3, 2, 2, 3), nil, tensor.ConvParams{StrideH: 1, StrideW: 1}, 1,
			tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	},
	"autograd.Conv2dReLUMaxPool2d": func(x, w *autograd.Var) *autograd.Var {
		return autograd.Conv2dReLUMaxPool2d(x, autograd.Reshape(w, 3, 2, 2, 3), nil, tensor.ConvParams{StrideH: 1, StrideW: 1}, 1,
			tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	},
	"autograd.Sum":        func(x, _ *autograd.Var) *autograd.Var { return autograd.Sum(x, false, -1) },
	"autograd.Mean":       func(x, _ *autograd.Var) *autograd.Var { return autograd.Mean(x, false, -1) },
	"autograd.Prod":       func(x, _ *autograd.Var) *autograd.Var { return autograd.Prod(x, false, -1) },
	"autograd.Variance":   func(x, _ *autograd.Var) *autograd.Var { return autograd.Variance(x, 1, false, -1) },
	"autograd.Norm":       func(x, _ *autograd.Var) *autograd.Var { return autograd.Norm(x, 2, false, -1) },
	"autograd.LogSumExp":  func(x, _ *autograd.Var) *autograd.Var { return autograd.LogSumExp(x, false, -1) },
	"autograd.Softmax":    func(x, _ *autograd.Var) *autograd.Var { return autograd.Softmax(x, -1) },
	"autograd.LogSoftmax": func(x, _ *autograd.Var) *autograd.Var { return autograd.LogSoftmax(x, -1) },
	"autograd.Exp":        func(x, _ *autograd.Var) *autograd.Var { return autograd.Exp(x) },
	"autograd.Log":        func(x, _ *autograd.Var) *autograd.Var { return autograd.Log(x) },
	"autograd.Log1p":      func(x, _ *autograd.Var) *autograd.Var { return autograd.Log1p(x) },
	"autograd.Rsqrt":      func(x, _ *autograd.Var) *autograd.Var { return autograd.Rsqrt(x) },
	"autograd.Reciprocal": func(x, _ *autograd.Var) *autograd.Var { return autograd.Reciprocal(x) },
	"autograd.Pow": func(x, _ *autograd.Var) *autograd.Var {
		return autograd.Pow(x, autograd.Constant(tensor.Full(1.5, tensor.Float32, x.Shape()...)))
	},
	"nn.CrossEntropy": func(x, _ *autograd.Var) *autograd.Var {
		return nn.CrossEntropy(autograd.Reshape(x, -1, 6), tensor.FromSlice([]int64{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, 24))
	},
	"nn.NLLLoss": func(x, _ *autograd.Var) *autograd.Var {
		return nn.NLLLoss(autograd.Reshape(x, -1, 6), tensor.FromSlice([]int64{5, 4, 3, 2, 1, 0, 5, 4, 3, 2, 1, 0, 5, 4, 3, 2, 1, 0, 5, 4, 3, 2, 1, 0}, 24))
	},
	"nn.MSELoss": func(x, _ *autograd.Var) *autograd.Var {
		return nn.MSELoss(x, autograd.Constant(tensor.OnesLike(x.Value())))
	},
	"nn.BCEWithLogits": func(x, _ *autograd.Var) *autograd.Var {
		return nn.BCEWithLogits(x, autograd.Constant(tensor.FullLike(x.Value(), 0.25)))
	},
	"nn.LayerNorm": func(x, _ *autograd.Var) *autograd.Var { return nn.NewLayerNorm([]int{6}).Forward(x) },
	"nn.BatchNorm1d": func(x, _ *autograd.Var) *autograd.Var {
		return nn.NewBatchNorm1d(6).Forward(autograd.Reshape(x, -1, 6))
	},
	"nn.BatchNorm2d": func(x, _ *autograd.Var) *autograd.Var { return nn.NewBatchNorm2d(2).Forward(x) },
}

// Every op of the policy runs on 16-bit inputs on the CPU device, forward
// and backward, in the dtype of its class; its value matches the same op
// in float64 on the same (16-bit) inputs: to float32 accuracy for the
// Float32 class, to 4u of the magnitude for LowPrecision ops (their
// float32 weight is rounded to the format too).
func TestEveryClassedOpRuns(t *testing.T) {
	names := make([]string, 0, len(classedOps))
	for k := range classedOps {
		names = append(names, k)
	}
	var classed []string
	for k := range DefaultClasses {
		classed = append(classed, k)
	}
	slices.Sort(names)
	slices.Sort(classed)
	require.Equal(t, classed, names, "every op of DefaultClasses has a case here")

	g := tensor.NewGenerator(8)
	xt := tensor.AddScalar(g.Uniform(0, 1, tensor.Float32, 4, 2, 3, 6), 0.5)
	wt := g.Normal(0, 0.5, tensor.Float32, 6, 6)
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		u := unitRoundoff(dt)
		for _, name := range names {
			f := classedOps[name]
			x := autograd.Param(xt.Cast(dt))
			w := autograd.Param(wt)
			var y *autograd.Var
			require.NoError(t, tensor.Try(func() { Autocast(Policy{DType: dt}, func() { y = f(x, w) }) }), "%s %s", name, dt)
			want := tensor.Float32
			if DefaultClasses[name] == LowPrecision {
				want = dt
			}
			assert.Equal(t, want, y.DType(), "%s on %s", name, dt)
			require.NoError(t, tensor.Try(func() { require.NoError(t, autograd.Sum(y, false).Backward()) }), "%s %s backward", name, dt)
			require.NotNil(t, x.Grad(), name)
			assert.Equal(t, dt, x.Grad().DType(), "%s: the gradient has the input's dtype", name)
			assert.True(t, AllFinite(x.Grad()), name)

			// The float64 reference: the same op on the 16-bit values (and,
			// for LowPrecision ops, the weight rounded to the format).
			x64 := autograd.Constant(x.Value().Cast(tensor.Float64))
			w64 := autograd.Constant(wt.Cast(tensor.Float64))
			if DefaultClasses[name] == LowPrecision {
				w64 = autograd.Constant(wt.Cast(dt).Cast(tensor.Float64))
			}
			ref := f(x64, w64).Value().Float64s()
			got := y.Value().Float64s()
			require.Len(t, got, len(ref), name)
			for i := range ref {
				tol := 1e-5 * (math.Abs(ref[i]) + 1)
				if DefaultClasses[name] == LowPrecision {
					tol = 4 * u * (math.Abs(ref[i]) + 1)
				}
				require.InDelta(t, ref[i], got[i], tol, "%s %s [%d]", name, dt, i)
			}
		}
	}
}
