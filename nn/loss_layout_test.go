package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// weightedCERef is PyTorch's cross-entropy with class weights w (nil: all
// ones), label smoothing eps and an ignored index, in float64: per row
// (1-eps)·w[y]·(-log p_y) + eps/C·Σ_c w[c]·(-log p_c); Mean divides the sum
// by Σ w[y] over the rows not ignored. It returns the per-row losses (0 for
// ignored rows), their sum and the Mean.
func weightedCERef(logits []float64, targets []int64, c int, w []float64, eps float64, ignore int64) (per []float64, sum, mean float64) {
	wt := func(k int) float64 {
		if w == nil {
			return 1
		}
		return w[k]
	}
	den := 0.0
	per = make([]float64, len(targets))
	for r, tg := range targets {
		if tg == ignore {
			continue
		}
		row := logits[r*c : r*c+c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		lse := mx + math.Log(s)
		l := (1 - eps) * wt(int(tg)) * (lse - row[tg])
		for k, v := range row {
			l += eps / float64(c) * wt(k) * (lse - v)
		}
		per[r] = l
		sum += l
		den += wt(int(tg))
	}
	return per, sum, sum / den
}

// TestCrossEntropyClassWeights compares CrossEntropy and NLLLoss with class
// weights, an ignored target and label smoothing against weightedCERef for
// the three reductions, in float64 to 1e-12 (relative).
func TestCrossEntropyClassWeights(t *testing.T) {
	n, c := 9, 4
	x := randn(n, c)
	targets := tensor.FromSlice([]int64{0, 3, 2, -1, 1, 1, 3, -1, 0}, n)
	w := tensor.NewGenerator(4).Uniform(0.2, 3, tensor.Float64, c)
	for _, eps := range []float64{0, 0.15} {
		per, sum, mean := weightedCERef(x.Float64s(), targets.Int64s(), c, w.Float64s(), eps, -1)
		opts := []LossOption{ClassWeights(w), IgnoreIndex(-1), LabelSmoothing(eps)}
		got := CrossEntropy(autograd.Constant(x), targets, opts...).Item()
		require.InDelta(t, mean, got, 1e-12*(1+math.Abs(mean)), "mean, eps %g", eps)
		got = CrossEntropy(autograd.Constant(x), targets, append(opts, WithReduction(Sum))...).Item()
		require.InDelta(t, sum, got, 1e-12*(1+math.Abs(sum)), "sum, eps %g", eps)
		gotPer := CrossEntropy(autograd.Constant(x), targets, append(opts, WithReduction(None))...).Value().Float64s()
		require.InDeltaSlice(t, per, gotPer, 1e-12, "none, eps %g", eps)
	}
	// NLLLoss of log-probabilities is the unsmoothed weighted loss.
	_, _, mean := weightedCERef(x.Float64s(), targets.Int64s(), c, w.Float64s(), 0, -1)
	got := NLLLoss(autograd.LogSoftmax(autograd.Constant(x), -1), targets, ClassWeights(w), IgnoreIndex(-1)).Item()
	require.InDelta(t, mean, got, 1e-12*(1+math.Abs(mean)))
	// Weights all one are the unweighted loss.
	ones := tensor.Ones(tensor.Float64, c)
	require.InDelta(t, CrossEntropy(autograd.Constant(x), targets, IgnoreIndex(-1)).Item(),
		CrossEntropy(autograd.Constant(x), targets, IgnoreIndex(-1), ClassWeights(ones)).Item(), 1e-14)
}

// TestCrossEntropyPyTorchLayout: logits [N, C, d1, d2] with targets
// [N, d1, d2] (PyTorch's layout) give the loss and gradient of the same
// logits moved to [N, d1, d2, C] (classes last), for every reduction, with
// weights, smoothing and ignored targets; Reduction None has the targets'
// shape. Float64, 1e-13.
func TestCrossEntropyPyTorchLayout(t *testing.T) {
	n, c, d1, d2 := 2, 3, 4, 2
	xv := randn(n, c, d1, d2)
	tg := tensor.NewGenerator(8).Uniform(0, float64(c), tensor.Float64, n, d1, d2).Cast(tensor.Int64)
	tg.Set(-100, 0, 1, 1)
	w := tensor.NewGenerator(5).Uniform(0.5, 2, tensor.Float64, c)
	for _, loss := range []struct {
		name string
		f    func(x *autograd.Var, t *tensor.Tensor, o ...LossOption) *autograd.Var
		opts []LossOption
	}{
		{"CrossEntropy", CrossEntropy, []LossOption{ClassWeights(w), LabelSmoothing(0.1)}},
		{"CrossEntropy/plain", CrossEntropy, nil},
		{"NLLLoss", func(x *autograd.Var, t *tensor.Tensor, o ...LossOption) *autograd.Var {
			return NLLLoss(autograd.LogSoftmax(x, 1), t, o...)
		}, []LossOption{ClassWeights(w)}},
	} {
		for _, red := range []Reduction{Mean, Sum, None} {
			opts := append(append([]LossOption{}, loss.opts...), WithReduction(red))
			a := autograd.Param(xv)
			la := loss.f(a, tg, opts...)
			b := autograd.Param(xv.Permute(0, 2, 3, 1).Contiguous())
			f := loss.f
			if loss.name == "NLLLoss" {
				f = func(x *autograd.Var, t *tensor.Tensor, o ...LossOption) *autograd.Var {
					return NLLLoss(autograd.LogSoftmax(x, -1), t, o...)
				}
			}
			lb := f(b, tg, opts...)
			if red == None {
				require.Equal(t, tg.Shape(), la.Shape(), loss.name)
			}
			require.InDeltaSlice(t, lb.Value().Float64s(), la.Value().Float64s(), 1e-13, "%s %d", loss.name, red)
			gw := randn(la.Shape()...)
			require.NoError(t, autograd.Sum(autograd.Mul(la, autograd.Constant(gw)), false).Backward())
			require.NoError(t, autograd.Sum(autograd.Mul(lb, autograd.Constant(gw)), false).Backward())
			require.InDeltaSlice(t, b.Grad().Permute(0, 3, 1, 2).Contiguous().Float64s(), a.Grad().Float64s(), 1e-13, "%s %d", loss.name, red)
		}
	}
	// [N, C, C] logits with [N, C] targets fit both layouts: ClassAxis
	// decides, and without it the call panics.
	sq := randn(2, 3, 3)
	t2 := tensor.FromSlice([]int64{0, 2, 1, 1, 0, 2}, 2, 3)
	requireMisuse(t, "nn.CrossEntropy: logits [2 3 3] with targets [2 3] fit classes on axis 1 and on the last axis", func() {
		CrossEntropy(autograd.Constant(sq), t2)
	})
	first := CrossEntropy(autograd.Constant(sq), t2, ClassAxis(1)).Item()
	lastAx := CrossEntropy(autograd.Constant(sq), t2, ClassAxis(-1)).Item()
	require.InDelta(t, CrossEntropy(autograd.Constant(sq.Permute(0, 2, 1)), t2, ClassAxis(-1)).Item(), first, 1e-14)
	require.NotEqual(t, first, lastAx)
	requireMisuse(t, "nn.ClassAxis: axis 2", func() { ClassAxis(2) })
	requireMisuse(t, "nn.ClassWeights: weights float64 [2 2]", func() { ClassWeights(randn(2, 2)) })
	requireMisuse(t, "nn.CrossEntropy: class weights [4] for 3 classes", func() {
		CrossEntropy(autograd.Constant(randn(2, 3)), tensor.FromSlice([]int64{0, 1}, 2), ClassWeights(randn(4)))
	})
}

// TestCrossEntropyWeightedGradients checks the weighted, smoothed,
// PyTorch-layout cross-entropy's gradient by central differences (fused
// first-order path) and its second order (the composed path, with
// CreateGraph), eps 1e-6 / 1e-5, tolerance 1e-6 / 1e-5 (GradCheck's
// relative measure), and that both paths give the same first-order
// gradient to 1e-13.
func TestCrossEntropyWeightedGradients(t *testing.T) {
	tg := tensor.FromSlice([]int64{0, 2, -100, 1, 3, 3}, 2, 3)
	w := tensor.NewGenerator(6).Uniform(0.5, 2, tensor.Float64, 4)
	for _, red := range []Reduction{Mean, Sum, None} {
		opts := []LossOption{ClassWeights(w), LabelSmoothing(0.2), WithReduction(red)}
		f := func(xs []*autograd.Var) *autograd.Var { return CrossEntropy(xs[0], tg, opts...) }
		x := randn(2, 4, 3)
		require.NoError(t, autograd.GradCheck(f, []*tensor.Tensor{x}, 1e-6, 1e-6), "reduction %d", red)
		second := func(xs []*autograd.Var) *autograd.Var {
			out := f(xs)
			proj := tensor.NewGenerator(3).Normal(0, 1, tensor.Float64, out.Shape()...)
			l := autograd.Sum(autograd.Mul(out, autograd.Constant(proj)), false)
			g, err := autograd.Grad([]*autograd.Var{l}, xs, nil, autograd.BackwardOpts{CreateGraph: true})
			require.NoError(t, err)
			return g[0]
		}
		require.NoError(t, autograd.GradCheck(second, []*tensor.Tensor{x}, 1e-5, 1e-5), "second order, reduction %d", red)
		p := autograd.Param(x)
		l := autograd.Sum(f([]*autograd.Var{p}), false)
		fused, err := autograd.Grad([]*autograd.Var{l}, []*autograd.Var{p}, nil, autograd.BackwardOpts{RetainGraph: true})
		require.NoError(t, err)
		composed, err := autograd.Grad([]*autograd.Var{l}, []*autograd.Var{p}, nil, autograd.BackwardOpts{CreateGraph: true})
		require.NoError(t, err)
		require.InDeltaSlice(t, fused[0].Value().Float64s(), composed[0].Value().Float64s(), 1e-13)
	}
}
