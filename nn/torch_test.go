package nn

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testutil"
	"github.com/tessera-ml/tessera/tensor"
)

// setLinear gives l the weight and bias w, b.
func setLinear(l *Linear, w, b *autograd.Var) *Linear {
	l.Weight, l.Bias = w, b
	return l
}

// setMHA gives m the projections of p: q weight, q bias, k, v, out.
func setMHA(m *MultiHeadAttention, p []*autograd.Var) *MultiHeadAttention {
	setLinear(m.Q, p[0], p[1])
	setLinear(m.K, p[2], p[3])
	setLinear(m.V, p[4], p[5])
	setLinear(m.Out, p[6], p[7])
	return m
}

// torchLayers is this package's side of the PyTorch cross-check: each
// entry computes, from the inputs of the case of the same name in
// internal/testutil/torch_cases.py (table "nn"), what the PyTorch
// expression there computes; layers get their parameters from the inputs.
var torchLayers = map[string]func(x []*autograd.Var) *autograd.Var{
	"Linear": func(x []*autograd.Var) *autograd.Var {
		return setLinear(NewLinear(gen(), 4, 5, true, f64), x[1], x[2]).Forward(x[0])
	},
	"Conv2d": func(x []*autograd.Var) *autograd.Var {
		c := NewConv2d(gen(), 3, 4, tensor.ConvParams{KH: 3, KW: 3, StrideH: 1, StrideW: 2, PadH: 1}, 1, true, f64)
		c.Weight, c.Bias = x[1], x[2]
		return c.Forward(x[0])
	},
	"Conv2d/groups-no-bias": func(x []*autograd.Var) *autograd.Var {
		c := NewConv2d(gen(), 4, 6, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 2, false, f64)
		c.Weight = x[1]
		return c.Forward(x[0])
	},
	"MaxPool2d":           func(x []*autograd.Var) *autograd.Var { return NewMaxPool2d(2, 0, 0).Forward(x[0]) },
	"MaxPool2d/ceil-ties": func(x []*autograd.Var) *autograd.Var { return NewMaxPool2d(3, 2, 1, CeilMode()).Forward(x[0]) },
	"AvgPool2d":           func(x []*autograd.Var) *autograd.Var { return NewAvgPool2d(3, 2, 1).Forward(x[0]) },
	"AvgPool2d/ceil-exclude-pad": func(x []*autograd.Var) *autograd.Var {
		return NewAvgPool2d(3, 2, 1, CeilMode(), CountIncludePad(false)).Forward(x[0])
	},
	"Embedding": func(x []*autograd.Var) *autograd.Var {
		e := NewEmbedding(gen(), 6, 4, f64)
		e.Weight = x[1]
		return e.Lookup(x[0].Value())
	},
	"ReLU":      func(x []*autograd.Var) *autograd.Var { return NewReLU().Forward(x[0]) },
	"GELU":      func(x []*autograd.Var) *autograd.Var { return NewGELU().Forward(x[0]) },
	"GELU/tanh": func(x []*autograd.Var) *autograd.Var { return NewGELU("tanh").Forward(x[0]) },
	"Tanh":      func(x []*autograd.Var) *autograd.Var { return NewTanh().Forward(x[0]) },
	"Sigmoid":   func(x []*autograd.Var) *autograd.Var { return NewSigmoid().Forward(x[0]) },
	"Flatten":   func(x []*autograd.Var) *autograd.Var { return NewFlatten().Forward(x[0]) },
	"BatchNorm1d/train": func(x []*autograd.Var) *autograd.Var {
		b := NewBatchNorm1d(3, f64)
		b.Weight, b.Bias = x[1], x[2]
		return b.Forward(x[0])
	},
	"BatchNorm2d/train": func(x []*autograd.Var) *autograd.Var {
		b := NewBatchNorm2d(2, f64)
		b.Weight, b.Bias = x[1], x[2]
		return b.Forward(x[0])
	},
	"BatchNorm2d/eval": func(x []*autograd.Var) *autograd.Var {
		b := NewBatchNorm2d(2, f64)
		b.Weight, b.Bias = x[1], x[2]
		b.RunningMean.CopyFrom(x[3].Value())
		b.RunningVar.CopyFrom(x[4].Value())
		b.Train(false)
		return b.Forward(x[0])
	},
	"LayerNorm": func(x []*autograd.Var) *autograd.Var {
		l := NewLayerNorm([]int{3, 4}, f64)
		l.Weight, l.Bias = x[1], x[2]
		return l.Forward(x[0])
	},
	"MultiHeadAttention": func(x []*autograd.Var) *autograd.Var {
		return setMHA(NewMultiHeadAttention(gen(), 4, 2, false, f64), x[1:]).Forward(x[0])
	},
	"MultiHeadAttention/causal": func(x []*autograd.Var) *autograd.Var {
		return setMHA(NewMultiHeadAttention(gen(), 4, 2, true, f64), x[1:]).Forward(x[0])
	},
	"MLP": func(x []*autograd.Var) *autograd.Var {
		m := NewMLP(gen(), 4, 16, f64)
		setLinear(m.FC1, x[1], x[2])
		setLinear(m.FC2, x[3], x[4])
		return m.Forward(x[0])
	},
	"TransformerBlock/causal": func(x []*autograd.Var) *autograd.Var {
		b := NewTransformerBlock(gen(), 4, 2, true, 0, f64)
		b.LN1.Weight, b.LN1.Bias, b.LN2.Weight, b.LN2.Bias = x[1], x[2], x[3], x[4]
		setMHA(b.Attn, x[5:13])
		setLinear(b.MLP.FC1, x[13], x[14])
		setLinear(b.MLP.FC2, x[15], x[16])
		return b.Forward(x[0])
	},
	"CrossEntropy": func(x []*autograd.Var) *autograd.Var { return CrossEntropy(x[0], x[1].Value()) },
	"CrossEntropy/NCd-weights-ignore-smoothing": func(x []*autograd.Var) *autograd.Var {
		return CrossEntropy(x[0], x[1].Value(), ClassWeights(x[2].Value()), IgnoreIndex(1), LabelSmoothing(0.2))
	},
	"CrossEntropy/NCd-sum": func(x []*autograd.Var) *autograd.Var {
		return CrossEntropy(x[0], x[1].Value(), WithReduction(Sum), IgnoreIndex(0))
	},
	"CrossEntropy/NCd-none-weights": func(x []*autograd.Var) *autograd.Var {
		return CrossEntropy(x[0], x[1].Value(), ClassWeights(x[2].Value()), WithReduction(None), IgnoreIndex(2))
	},
	"CrossEntropy/weights-mean": func(x []*autograd.Var) *autograd.Var {
		return CrossEntropy(x[0], x[1].Value(), ClassWeights(x[2].Value()), IgnoreIndex(3))
	},
	"NLLLoss/NCd-weights": func(x []*autograd.Var) *autograd.Var {
		return NLLLoss(x[0], x[1].Value(), ClassWeights(x[2].Value()), IgnoreIndex(0))
	},
	"NLLLoss/sum":       func(x []*autograd.Var) *autograd.Var { return NLLLoss(x[0], x[1].Value(), WithReduction(Sum)) },
	"MSELoss":           func(x []*autograd.Var) *autograd.Var { return MSELoss(x[0], x[1]) },
	"MSELoss/none":      func(x []*autograd.Var) *autograd.Var { return MSELoss(x[0], x[1], WithReduction(None)) },
	"BCEWithLogits":     func(x []*autograd.Var) *autograd.Var { return BCEWithLogits(x[0], x[1]) },
	"BCEWithLogits/sum": func(x []*autograd.Var) *autograd.Var { return BCEWithLogits(x[0], x[1], WithReduction(Sum)) },
	"GPTLoss":           func(x []*autograd.Var) *autograd.Var { return GPTLoss(x[0], x[1].Value()) },
}

// torchLeftOut names the layers and losses with no case in the PyTorch
// table, and why (TestEveryLayerHasTorchCase requires one or the other).
var torchLeftOut = map[string]string{
	"Dropout":    "its mask comes from Tessera's Philox stream, not torch's generator; TestDropout checks the mask's rate and scaling, TestLayerGradientsMore the gradient through a fixed mask",
	"Sequential": "a composition with no computation of its own",
	"GPT":        "a composition of Embedding, TransformerBlock, LayerNorm and a Linear tied to the token embedding, each in the table; TestGPTGradientsMatchFiniteDifferences checks the whole by finite differences",
}

// TestAgainstTorch runs every case of the "nn" table of
// internal/testutil/torch_cases.py (PyTorch in float64 through
// /usr/bin/python3, inputs and parameters drawn there) through the
// function of torchLayers of the same name, and requires the output and the
// vector-Jacobian product for PyTorch's random cotangent, with respect to
// the input and every parameter, to agree to 1e-10 relative
// (|got - want| <= 1e-10·(1 + |want|)), with contiguous inputs and with
// every input a non-contiguous view. Left out, with the reason: see
// torchLeftOut. It skips under -short (a Python start with torch takes
// seconds; the finite-difference checks still run) and when torch is
// missing, unless TESSERA_REQUIRE_TORCH=1 (make test), when it fails.
func TestAgainstTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED under -short: starts python3 with torch (TestLayerGradients and TestLossGradients cover the layers and losses by finite differences)")
	}
	cases := testutil.TorchCases(t, "nn", 21)
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.Name] = true
		f := torchLayers[c.Name]
		if f == nil {
			t.Errorf("torch case %s has no Go function in torchLayers", c.Name)
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			for _, nc := range []bool{false, true} {
				runTorchCase(t, c, f, nc)
			}
		})
	}
	for name := range torchLayers {
		require.True(t, seen[name], "torchLayers has %s, the torch table has not", name)
	}
}

// TestEveryLayerHasTorchCase requires each layer constructor (New*) and
// each loss (an exported function of *autograd.Var values returning one)
// of this package to have a case in torchLayers, named after the layer or
// loss, or a reason in torchLeftOut. It needs no Python.
func TestEveryLayerHasTorchCase(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		require.NoError(t, err)
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			name := fd.Name.Name
			res := fmt.Sprint(fd.Type.Results.List[0].Type)
			ps := fd.Type.Params.List
			isLoss := res == "&{autograd Var}" && len(ps) > 0 && fmt.Sprint(ps[0].Type) == "&{autograd Var}" && name != "FunctionalCall"
			if strings.HasPrefix(name, "New") && name != "New" {
				names = append(names, strings.TrimPrefix(name, "New"))
			} else if isLoss {
				names = append(names, name)
			}
		}
	}
	require.Greater(t, len(names), 15, "layers and losses found: %v", names)
	have := map[string]bool{}
	for name := range torchLayers {
		have[strings.SplitN(name, "/", 2)[0]] = true
	}
	for _, n := range names {
		if !have[n] && torchLeftOut[n] == "" {
			t.Errorf("%s has no case in torchLayers (internal/testutil/torch_cases.py) and no reason in torchLeftOut", n)
		}
	}
}

// torchTensor builds a case's array as a tensor; with nc, as a
// non-contiguous view holding the same values (every other element along
// the first axis longer than 1 of a tensor twice as long there).
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

func runTorchCase(t *testing.T, c testutil.TorchCase, f func([]*autograd.Var) *autograd.Var, nc bool) {
	t.Helper()
	what := c.Name
	if nc {
		what += " (non-contiguous inputs)"
	}
	var xs, params []*autograd.Var
	for _, in := range c.Inputs {
		v := torchTensor(in, nc)
		if in.Kind == "f" && in.Grad {
			p := autograd.Param(v)
			xs, params = append(xs, p), append(params, p)
		} else {
			xs = append(xs, autograd.Constant(v))
		}
	}
	out := f(xs)
	require.True(t, tensor.Shape(c.Out.Shape).Equal(out.Shape()), "%s: output shape %v, PyTorch's %v", what, out.Shape(), c.Out.Shape)
	requireCloseTorch(t, c.Out.Data, out.Value(), c.Tol, what+": output")
	if len(params) == 0 {
		return
	}
	cot := autograd.Constant(torchTensor(c.Cot, false).Cast(out.DType()))
	gs, err := autograd.Grad([]*autograd.Var{out}, params, []*autograd.Var{cot}, autograd.BackwardOpts{})
	require.NoError(t, err, what)
	k := 0
	for i, g := range c.Grads {
		if g == nil {
			continue
		}
		got := gs[k]
		k++
		gt := tensor.Zeros(tensor.Float64, g.Shape...)
		if got != nil {
			gt = got.Value()
		}
		require.True(t, tensor.Shape(g.Shape).Equal(gt.Shape()), "%s: gradient %d shape %v, PyTorch's %v", what, i, gt.Shape(), g.Shape)
		requireCloseTorch(t, g.Data, gt, c.Tol, fmt.Sprintf("%s: gradient of input %d", what, i))
	}
}
