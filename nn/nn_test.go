package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

var f64 = WithDType(tensor.Float64)

var seed uint64 = 500

func randn(shape ...int) *tensor.Tensor {
	seed++
	return tensor.NewGenerator(seed).Normal(0, 1, tensor.Float64, shape...)
}

func gen() *tensor.Generator { seed++; return tensor.NewGenerator(seed) }

// checkModuleGrad compares the gradients of Σ proj·m(x) with respect to x
// (when x is a float tensor) and to every parameter of m with central
// differences in float64. An element passes when
// |analytic - numeric| <= tol·(1 + |numeric|).
func checkModuleGrad(t *testing.T, m Module, x *tensor.Tensor, eps, tol float64) {
	t.Helper()
	differentiable := x.DType().IsFloat()
	xv := autograd.NewVar(x.Clone(), differentiable)
	out := m.Forward(xv)
	proj := randn(out.Shape()...)
	for _, p := range m.Parameters() {
		p.Param.SetGrad(nil)
	}
	require.NoError(t, autograd.Sum(autograd.Mul(out, autograd.Constant(proj)), false).Backward())
	loss := func() float64 {
		var l float64
		autograd.NoGrad(func() {
			l = autograd.Sum(autograd.Mul(m.Forward(autograd.Constant(xv.Value())), autograd.Constant(proj)), false).Item()
		})
		return l
	}
	check := func(name string, val *tensor.Tensor, grad *tensor.Tensor) {
		require.NotNil(t, grad, name)
		n := val.NumElements()
		flat := val.Reshape(n)
		require.True(t, flat.SharesStorage(val))
		ga := grad.Float64s()
		bad := 0
		for j := range n {
			orig := flat.At(j)
			flat.Set(orig+eps, j)
			fp := loss()
			flat.Set(orig-eps, j)
			fm := loss()
			flat.Set(orig, j)
			num := (fp - fm) / (2 * eps)
			if math.Abs(ga[j]-num) > tol*(1+math.Abs(num)) {
				if bad < 3 {
					t.Errorf("%s element %d: analytic %.8g numeric %.8g", name, j, ga[j], num)
				}
				bad++
			}
		}
	}
	if differentiable {
		check("input", xv.Value(), xv.Grad())
	}
	for _, p := range m.Parameters() {
		check(p.Name, p.Param.Value(), p.Param.Grad())
	}
}

func TestLayerGradients(t *testing.T) {
	cases := []struct {
		name string
		m    Module
		x    *tensor.Tensor
	}{
		{"Linear", NewLinear(gen(), 4, 3, true, f64), randn(2, 5, 4)},
		{"Linear/nobias", NewLinear(gen(), 4, 3, false, f64), randn(5, 4)},
		{"Conv2d", NewConv2d(gen(), 3, 4, tensor.ConvParams{KH: 3, KW: 2, StrideH: 2, PadH: 1, PadW: 1, DilW: 2}, 1, true, f64), randn(2, 3, 6, 5)},
		{"Conv2d/groups", NewConv2d(gen(), 4, 6, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 2, true, f64), randn(2, 4, 4, 4)},
		{"MaxPool2d", NewMaxPool2d(2, 0, 0), randn(2, 2, 4, 6)},
		{"MaxPool2d/overlap", NewMaxPool2d(3, 2, 1), randn(1, 2, 5, 5)},
		{"AvgPool2d", NewAvgPool2d(2, 1, 1), randn(2, 2, 4, 4)},
		{"AvgPool2d/ceil-exclude-pad", NewAvgPool2d(3, 2, 1, CeilMode(), CountIncludePad(false)), randn(1, 2, 6, 6)},
		{"MaxPool2d/ceil", NewMaxPool2d(2, 0, 1, CeilMode()), randn(1, 2, 5, 4)},
		{"BatchNorm1d", NewBatchNorm1d(3, f64), randn(6, 3)},
		{"BatchNorm1d/3d", NewBatchNorm1d(3, f64), randn(4, 3, 5)},
		{"BatchNorm2d", NewBatchNorm2d(2, f64), randn(3, 2, 3, 3)},
		{"LayerNorm", NewLayerNorm([]int{4}, f64), randn(3, 4)},
		{"LayerNorm/2axes", NewLayerNorm([]int{2, 3}, f64), randn(2, 2, 3)},
		{"Embedding", NewEmbedding(gen(), 5, 3, f64), tensor.FromSlice([]int64{0, 3, 3, 1, 4, 0}, 2, 3)},
		{"MultiHeadAttention", NewMultiHeadAttention(gen(), 4, 2, false, f64), randn(2, 3, 4)},
		{"MultiHeadAttention/causal", NewMultiHeadAttention(gen(), 6, 3, true, f64), randn(2, 4, 6)},
		{"Sequential", NewSequential(NewLinear(gen(), 4, 5, true, f64), NewGELU(), NewLinear(gen(), 5, 2, true, f64), NewTanh()), randn(3, 4)},
		{"ReLU", NewReLU(), randn(3, 4)},
		{"Sigmoid", NewSigmoid(), randn(3, 4)},
		{"Flatten", NewSequential(NewFlatten(), NewLinear(gen(), 12, 2, true, f64)), randn(2, 3, 4)},
		{"ConvNet", NewSequential(NewConv2d(gen(), 1, 2, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 1, true, f64),
			NewBatchNorm2d(2, f64), NewReLU(), NewMaxPool2d(2, 0, 0), NewFlatten(), NewLinear(gen(), 8, 3, true, f64)), randn(2, 1, 4, 4)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkModuleGrad(t, c.m, c.x, 1e-6, 1e-6) })
	}
}

func TestDropout(t *testing.T) {
	d := NewDropout(tensor.NewGenerator(1), 0.25)
	x := autograd.Param(tensor.Full(2, tensor.Float64, 4000))
	y := d.Forward(x)
	vals := y.Value().Float64s()
	zeros := 0
	for _, v := range vals {
		if v == 0 {
			zeros++
		} else {
			require.InDelta(t, 2/0.75, v, 1e-12)
		}
	}
	assert.InDelta(t, 0.25, float64(zeros)/4000, 0.03)
	require.NoError(t, autograd.Sum(y, false).Backward())
	// The gradient is the mask scaled by 1/(1-p): y / x.
	assert.Equal(t, tensor.MulScalar(y.Value(), 0.5).Float64s(), x.Grad().Float64s())

	// Reproducible from the seed, and the identity in evaluation mode.
	y2 := NewDropout(tensor.NewGenerator(1), 0.25).Forward(x)
	assert.Equal(t, vals, y2.Value().Float64s())
	d.Train(false)
	assert.Same(t, x, d.Forward(x))
}

// TestBatchNormRunningStats compares the running estimates and both modes'
// outputs with a float64 reference computed element by element (tol 1e-12).
func TestBatchNormRunningStats(t *testing.T) {
	bn := NewBatchNorm2d(2, f64)
	bn.Momentum = 0.3
	n, c, hw := 3, 2, 4
	rm := []float64{0, 0}
	rv := []float64{1, 1}
	var last []float64
	for step := range 3 {
		x := randn(n, c, 2, 2)
		y := bn.Forward(autograd.Constant(x)).Value().Float64s()
		xs := x.Float64s()
		for ch := range c {
			var vals []float64
			for i := range n {
				for k := range hw {
					vals = append(vals, xs[(i*c+ch)*hw+k])
				}
			}
			mean, ss := 0.0, 0.0
			for _, v := range vals {
				mean += v
			}
			mean /= float64(len(vals))
			for _, v := range vals {
				ss += (v - mean) * (v - mean)
			}
			biased := ss / float64(len(vals))
			unbiased := ss / float64(len(vals)-1)
			rm[ch] = 0.7*rm[ch] + 0.3*mean
			rv[ch] = 0.7*rv[ch] + 0.3*unbiased
			for i := range n {
				for k := range hw {
					j := (i*c+ch)*hw + k
					require.InDelta(t, (xs[j]-mean)/math.Sqrt(biased+1e-5), y[j], 1e-12, "step %d", step)
				}
			}
		}
		last = xs
	}
	assert.InDeltaSlice(t, rm, bn.RunningMean.Float64s(), 1e-12)
	assert.InDeltaSlice(t, rv, bn.RunningVar.Float64s(), 1e-12)
	assert.Equal(t, 3.0, bn.NumBatches.Item())

	bn.Train(false)
	x := tensor.FromSlice(last, n, c, 2, 2)
	y := bn.Forward(autograd.Constant(x)).Value().Float64s()
	for j, v := range last {
		ch := (j / hw) % c
		require.InDelta(t, (v-rm[ch])/math.Sqrt(rv[ch]+1e-5), y[j], 1e-12)
	}
	assert.Equal(t, 3.0, bn.NumBatches.Item(), "evaluation does not update the statistics")
}

func TestLayerNormReference(t *testing.T) {
	ln := NewLayerNorm([]int{5}, f64)
	x := randn(2, 5)
	y := ln.Forward(autograd.Constant(x)).Value().Float64s()
	xs := x.Float64s()
	for r := range 2 {
		row := xs[r*5 : r*5+5]
		m, v := 0.0, 0.0
		for _, a := range row {
			m += a / 5
		}
		for _, a := range row {
			v += (a - m) * (a - m) / 5
		}
		for i, a := range row {
			assert.InDelta(t, (a-m)/math.Sqrt(v+1e-5), y[r*5+i], 1e-12)
		}
	}
}

// TestAttentionCausalMask perturbs the input at position p and checks that
// causal outputs before p are bit-identical while later ones change.
func TestAttentionCausalMask(t *testing.T) {
	m := NewMultiHeadAttention(gen(), 8, 2, true, f64)
	b, tt, e := 2, 5, 8
	x := randn(b, tt, e)
	base := m.Forward(autograd.Constant(x)).Value()
	for p := range tt {
		xp := x.Clone()
		for j := range e {
			xp.Set(xp.At(1, p, j)+0.5, 1, p, j)
		}
		out := m.Forward(autograd.Constant(xp)).Value()
		for q := range tt {
			before := base.Select(0, 1).Select(0, q)
			after := out.Select(0, 1).Select(0, q)
			if q < p {
				assert.True(t, tensor.Equal(before, after), "position %d changed by a perturbation at %d", q, p)
			} else {
				assert.False(t, tensor.AllClose(before, after, 1e-9, 1e-9), "position %d unaffected by a perturbation at %d", q, p)
			}
		}
		// The other batch element never changes.
		assert.True(t, tensor.Equal(base.Select(0, 0), out.Select(0, 0)))
	}
	// Without the mask, earlier positions do see later ones.
	m.Causal = false
	nb := m.Forward(autograd.Constant(x)).Value()
	xp := x.Clone()
	xp.Set(xp.At(0, tt-1, 0)+0.5, 0, tt-1, 0)
	assert.False(t, tensor.AllClose(nb.Select(0, 0).Select(0, 0), m.Forward(autograd.Constant(xp)).Value().Select(0, 0).Select(0, 0), 1e-9, 1e-9))
}

// crossEntropyRef is a float64 reference: per-row smoothed NLL, averaged
// over rows whose target is not ignored.
func crossEntropyRef(logits []float64, targets []int64, c int, eps float64, ignore int64) float64 {
	total, cnt := 0.0, 0
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
		loss := 0.0
		for k, v := range row {
			q := eps / float64(c)
			if int64(k) == tg {
				q += 1 - eps
			}
			loss -= q * (v - lse)
		}
		total += loss
		cnt++
	}
	return total / float64(cnt)
}

func TestCrossEntropyReference(t *testing.T) {
	n, c := 7, 5
	x := randn(n, c)
	targets := tensor.FromSlice([]int64{0, 4, -100, 2, 2, 1, 3}, n)
	for _, eps := range []float64{0, 0.1} {
		got := CrossEntropy(autograd.Constant(x), targets, LabelSmoothing(eps)).Item()
		assert.InDelta(t, crossEntropyRef(x.Float64s(), targets.Int64s(), c, eps, -100), got, 1e-12, "eps %g", eps)
	}
	targets2 := tensor.FromSlice([]int64{0, 4, 3, 2, 2, 3, 3}, n)
	got := CrossEntropy(autograd.Constant(x), targets2, IgnoreIndex(3), LabelSmoothing(0.2)).Item()
	assert.InDelta(t, crossEntropyRef(x.Float64s(), targets2.Int64s(), c, 0.2, 3), got, 1e-12)

	// The class axis is last: [B, T, C] logits with [B, T] targets.
	x3 := randn(2, 3, c)
	t3 := tensor.FromSlice([]int64{1, 0, 4, 2, -100, 3}, 2, 3)
	got = CrossEntropy(autograd.Constant(x3), t3).Item()
	assert.InDelta(t, crossEntropyRef(x3.Float64s(), t3.Int64s(), c, 0, -100), got, 1e-12)

	// Sum and None reductions agree with Mean.
	none := CrossEntropy(autograd.Constant(x), targets, WithReduction(None)).Value()
	require.Equal(t, tensor.Shape{n}, none.Shape())
	assert.Equal(t, 0.0, none.At(2))
	sum := CrossEntropy(autograd.Constant(x), targets, WithReduction(Sum)).Item()
	assert.InDelta(t, tensor.Sum(none, false).Item(), sum, 1e-12)
	assert.InDelta(t, sum/6, CrossEntropy(autograd.Constant(x), targets).Item(), 1e-12)
	// Fused CE equals LogSoftmax + NLLLoss.
	nll := NLLLoss(autograd.LogSoftmax(autograd.Constant(x), -1), targets).Item()
	assert.InDelta(t, nll, CrossEntropy(autograd.Constant(x), targets).Item(), 1e-12)
}

func TestLossGradients(t *testing.T) {
	targets := tensor.FromSlice([]int64{0, 4, -100, 2, 1, 1}, 6)
	t23 := tensor.FromSlice([]int64{2, 0, 1, 3, 3, -100}, 2, 3)
	y := tensor.NewGenerator(3).Uniform(0, 1, tensor.Float64, 4, 3)
	cases := []struct {
		name string
		f    func(xs []*autograd.Var) *autograd.Var
		in   []*tensor.Tensor
	}{
		{"CrossEntropy", func(xs []*autograd.Var) *autograd.Var { return CrossEntropy(xs[0], targets) }, []*tensor.Tensor{randn(6, 5)}},
		{"CrossEntropy/smoothing", func(xs []*autograd.Var) *autograd.Var {
			return CrossEntropy(xs[0], targets, LabelSmoothing(0.15))
		}, []*tensor.Tensor{randn(6, 5)}},
		{"CrossEntropy/3d-sum", func(xs []*autograd.Var) *autograd.Var {
			return CrossEntropy(xs[0], t23, WithReduction(Sum), LabelSmoothing(0.1))
		}, []*tensor.Tensor{randn(2, 3, 4)}},
		{"CrossEntropy/none", func(xs []*autograd.Var) *autograd.Var {
			return CrossEntropy(xs[0], tensor.FromSlice([]int64{0, 4, 3, 2, 1, 1}, 6), WithReduction(None), IgnoreIndex(1))
		}, []*tensor.Tensor{randn(6, 5)}},
		{"NLLLoss", func(xs []*autograd.Var) *autograd.Var { return NLLLoss(autograd.LogSoftmax(xs[0], -1), targets) }, []*tensor.Tensor{randn(6, 5)}},
		{"MSELoss", func(xs []*autograd.Var) *autograd.Var { return MSELoss(xs[0], xs[1]) }, []*tensor.Tensor{randn(4, 3), randn(4, 3)}},
		{"BCEWithLogits", func(xs []*autograd.Var) *autograd.Var { return BCEWithLogits(xs[0], autograd.Constant(y)) }, []*tensor.Tensor{randn(4, 3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, autograd.GradCheck(c.f, c.in, 1e-6, 1e-6))
		})
	}
	// The fused cross-entropy's backward is differentiable (create-graph).
	t.Run("CrossEntropy/second-order", func(t *testing.T) {
		f := func(xs []*autograd.Var) *autograd.Var {
			l := CrossEntropy(xs[0], targets, LabelSmoothing(0.1))
			g, err := autograd.Grad([]*autograd.Var{l}, xs, nil, autograd.BackwardOpts{CreateGraph: true})
			require.NoError(t, err)
			return g[0]
		}
		require.NoError(t, autograd.GradCheck(f, []*tensor.Tensor{randn(6, 5)}, 1e-5, 1e-5))
	})
}

func TestBCEWithLogitsReference(t *testing.T) {
	x := tensor.FromSlice([]float64{-30, -1, 0.5, 40}, 4)
	y := tensor.FromSlice([]float64{0, 1, 0.3, 1}, 4)
	got := BCEWithLogits(autograd.Constant(x), autograd.Constant(y)).Item()
	want := 0.0
	for i, xv := range x.Float64s() {
		yv := y.Float64s()[i]
		// log σ(x) = -log(1+e^-x), log(1-σ(x)) = -x - log(1+e^-x)
		lp := -math.Log1p(math.Exp(-xv))
		lq := -xv + lp
		if xv < 0 {
			lq = -math.Log1p(math.Exp(xv))
			lp = xv + lq
		}
		want -= yv*lp + (1-yv)*lq
	}
	assert.InDelta(t, want/4, got, 1e-12)
}

func TestStateDict(t *testing.T) {
	mk := func(s uint64) *Sequential {
		g := tensor.NewGenerator(s)
		return NewSequential(NewLinear(g, 4, 8, true), NewBatchNorm1d(8), NewReLU(), NewLinear(g, 8, 2, true))
	}
	a, b := mk(1), mk(2)
	names := []string{}
	for _, p := range a.Parameters() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"}, names)
	bufs := []string{}
	for _, p := range a.Buffers() {
		bufs = append(bufs, p.Name)
	}
	assert.Equal(t, []string{"1.running_mean", "1.running_var", "1.num_batches_tracked"}, bufs)
	assert.Equal(t, 4*8+8+8+8+8*2+2, NumParams(a))

	x := autograd.Constant(tensor.Randn(3, 4))
	a.Train(false)
	b.Train(false)
	assert.False(t, a.Layers[1].Training())
	require.NoError(t, b.LoadStateDict(a.StateDict()))
	assert.True(t, tensor.Equal(a.Forward(x).Value(), b.Forward(x).Value()))

	sd := a.StateDict()
	sd["0.weight"] = tensor.Zeros(tensor.Float32, 3, 3)
	err := b.LoadStateDict(sd)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0.weight")
	delete(sd, "0.weight")
	sd["extra"] = tensor.Zeros(tensor.Float32, 1)
	err = b.LoadStateDict(sd)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing [0.weight]")
	assert.Contains(t, err.Error(), "unexpected [extra]")

	// Nested modules get dotted names.
	outer := NewSequential(NewSequential(NewLinear(tensor.NewGenerator(1), 2, 2, false)))
	assert.Equal(t, "0.0.weight", outer.Parameters()[0].Name)
	require.Panics(t, func() { outer.RegisterModule("0", NewReLU()) })
	z := autograd.Param(tensor.Zeros(tensor.Float32, 1))
	require.Panics(t, func() { outer.RegisterParam("a.b", &z) })
}

func TestInitialisers(t *testing.T) {
	w := tensor.Empty(tensor.Float64, 256, 128, 3, 3)
	fi, fo := Fans(w.Shape())
	assert.Equal(t, 128*9, fi)
	assert.Equal(t, 256*9, fo)
	std := func(x *tensor.Tensor) float64 { return tensor.Std(x, 0, false).Item() }
	maxAbs := func(x *tensor.Tensor) float64 { return tensor.Max(tensor.Abs(x), false).Item() }

	KaimingUniform(tensor.NewGenerator(1), w, Gain("relu", 0))
	b := math.Sqrt2 * math.Sqrt(3/float64(fi))
	assert.LessOrEqual(t, maxAbs(w), b)
	assert.InDelta(t, b/math.Sqrt(3), std(w), 0.01*b)

	KaimingNormal(tensor.NewGenerator(1), w, 1)
	assert.InDelta(t, 1/math.Sqrt(float64(fi)), std(w), 0.01/math.Sqrt(float64(fi)))

	XavierUniform(tensor.NewGenerator(1), w, 1)
	b = math.Sqrt(6 / float64(fi+fo))
	assert.LessOrEqual(t, maxAbs(w), b)
	assert.InDelta(t, b/math.Sqrt(3), std(w), 0.01*b)

	XavierNormal(tensor.NewGenerator(1), w, Gain("tanh", 0))
	assert.InDelta(t, 5.0/3*math.Sqrt(2/float64(fi+fo)), std(w), 0.01*math.Sqrt(2/float64(fi+fo)))

	// Deterministic by seed.
	a1 := NewLinear(tensor.NewGenerator(9), 10, 5, true).Weight.Value()
	a2 := NewLinear(tensor.NewGenerator(9), 10, 5, true).Weight.Value()
	assert.True(t, tensor.Equal(a1, a2))
	assert.InDelta(t, 1, Gain("leaky_relu", 1), 1e-12)
	require.Panics(t, func() { Gain("nope", 0) })
}

// TestMLPOverfits trains a 2-layer MLP with plain SGD on 32 random samples
// of 10 classes; the loss must fall below 5% of its start.
func TestMLPOverfits(t *testing.T) {
	g := tensor.NewGenerator(42)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 32, 20))
	y := g.RandInt(0, 10, 32)
	model := NewSequential(NewLinear(g, 20, 64, true), NewReLU(), NewLinear(g, 64, 10, true))
	var first, last float64
	for step := range 300 {
		ZeroGrad(model)
		loss := CrossEntropy(model.Forward(x), y)
		require.NoError(t, loss.Backward())
		for _, p := range Params(model) {
			p.SetValue(tensor.Sub(p.Value(), tensor.MulScalar(p.Grad(), 0.5)))
		}
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	t.Logf("loss %.4f -> %.4f", first, last)
	assert.Less(t, last, 0.05*first)
	pred := tensor.ArgMax(model.Forward(x).Value(), -1, false)
	assert.Equal(t, y.Int64s(), pred.Int64s())
}

func TestCheckpointRoundTrip(t *testing.T) {
	g := tensor.NewGenerator(5)
	a := NewSequential(NewLinear(g, 3, 4, true), NewBatchNorm1d(4, WithDType(tensor.Float64)), NewEmbedding(g, 2, 2, WithDType(tensor.BFloat16)))
	// Update the BatchNorm statistics so buffers are non-trivial.
	a.Layers[1].Forward(autograd.Constant(tensor.NewGenerator(1).Normal(0, 1, tensor.Float64, 6, 4)))
	path := t.TempDir() + "/model.safetensors"
	require.NoError(t, Save(path, a))

	b := NewSequential(NewLinear(tensor.NewGenerator(6), 3, 4, true), NewBatchNorm1d(4, WithDType(tensor.Float64)), NewEmbedding(g, 2, 2, WithDType(tensor.BFloat16)))
	require.NoError(t, Load(path, b))
	sa, sb := a.StateDict(), b.StateDict()
	require.Len(t, sb, len(sa))
	for name, ta := range sa {
		assert.True(t, tensor.Equal(ta, sb[name]), name)
		assert.Equal(t, ta.DType(), sb[name].DType(), name)
	}
	// A checkpoint for another architecture is rejected with the names.
	c := NewSequential(NewLinear(g, 3, 5, true))
	err := Load(path, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0.weight")
	_, _, err = ReadStateDict(t.TempDir() + "/missing")
	require.Error(t, err)
}

// Float32 models stay float32 end to end: outputs, losses and gradients.
func TestFloat32Throughout(t *testing.T) {
	g := tensor.NewGenerator(4)
	conv := NewSequential(NewConv2d(g, 2, 4, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 2, true),
		NewBatchNorm2d(4), NewGELU(), NewAvgPool2d(2, 0, 0), NewMaxPool2d(2, 0, 0), NewFlatten(), NewDropout(g, 0.2), NewLinear(g, 4, 3, true))
	attn := NewSequential(NewMultiHeadAttention(g, 8, 2, true), NewLayerNorm([]int{8}), NewSigmoid(), NewTanh())
	emb := NewEmbedding(g, 10, 8)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 2, 2, 4, 4))
	out := conv.Forward(x)
	require.Equal(t, tensor.Float32, out.DType())
	loss := autograd.Add(CrossEntropy(out, tensor.FromSlice([]int64{1, 2}, 2), LabelSmoothing(0.1)),
		BCEWithLogits(out, autograd.Constant(tensor.Full(0.5, tensor.Float32, 2, 3))))
	seq := attn.Forward(emb.Lookup(tensor.FromSlice([]int64{1, 2, 3, 4, 5, 6}, 2, 3)))
	require.Equal(t, tensor.Float32, seq.DType())
	loss = autograd.Add(loss, MSELoss(seq, autograd.Constant(tensor.Zeros(tensor.Float32, 2, 3, 8))))
	require.Equal(t, tensor.Float32, loss.DType())
	require.NoError(t, loss.Backward())
	for _, m := range []Module{conv, attn, emb} {
		for _, p := range m.Parameters() {
			require.NotNil(t, p.Param.Grad(), p.Name)
			require.Equal(t, tensor.Float32, p.Param.Grad().DType(), p.Name)
		}
	}
}
