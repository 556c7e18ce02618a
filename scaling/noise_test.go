package scaling

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// With exact expectations E|G_B|² = |G|² + tr(Σ)/B the estimates are exact.
func TestEstimateExact(t *testing.T) {
	g2, tr := 2.5, 40.0
	for _, bs := range [][2]int{{1, 2}, {8, 64}, {32, 33}} {
		gs, gb := g2+tr/float64(bs[0]), g2+tr/float64(bs[1])
		eg, et := Estimate(bs[0], gs, bs[1], gb)
		assert.InDelta(t, g2, eg, 1e-9)
		assert.InDelta(t, tr, et, 1e-9)
	}
	assert.Panics(t, func() { Estimate(4, 1, 4, 1) })
	assert.Panics(t, func() { Estimate(0, 1, 4, 1) })
}

func TestNoiseScaleAverages(t *testing.T) {
	s := NewNoiseScale(0.5)
	assert.True(t, math.IsNaN(s.BSimple()))
	// Two observations whose |G|² estimates are 3 and 1, tr(Σ) 10 and 30:
	// bias-corrected averages with β = 0.5 weigh them 1/3 and 2/3.
	obs := func(g2, tr float64) { s.Observe(2, g2+tr/2, 4, g2+tr/4) }
	obs(3, 10)
	assert.InDelta(t, 10.0/3, s.BSimple(), 1e-9)
	obs(1, 30)
	assert.InDelta(t, (3.0/3 + 2.0/3), s.GradSq(), 1e-9)
	assert.InDelta(t, (10.0/3 + 60.0/3), s.TraceSigma(), 1e-9)
	assert.Equal(t, 2, s.Count())
	obs(-50, 1)
	assert.True(t, math.IsInf(s.BSimple(), 1), "a non-positive |G|² average gives +Inf")
	s.Reset()
	assert.Equal(t, 0, s.Count())
	assert.Panics(t, func() { NewNoiseScale(1) })
}

func TestAccumulatorNorms(t *testing.T) {
	g := tensor.NewGenerator(3)
	vs := [][]float64{}
	var a Accumulator
	for range 5 {
		v := g.Normal(1, 1, tensor.Float64, 7).Float64s() // mean 1: |G|² > 0
		vs = append(vs, v)
		a.AddVector(v)
	}
	small, big := a.Norms()
	wantSmall, wantBig := 0.0, 0.0
	for i := range 7 {
		m := 0.0
		for _, v := range vs {
			wantSmall += v[i] * v[i] / 5
			m += v[i] / 5
		}
		wantBig += m * m
	}
	assert.InDelta(t, wantSmall, small, 1e-12)
	assert.InDelta(t, wantBig, big, 1e-12)
	assert.Panics(t, func() { a.AddVector(make([]float64, 3)) })
	s := NewNoiseScale(0)
	a.ObserveInto(s, 4)
	assert.Equal(t, 0, a.Len())
	eg, et := Estimate(4, wantSmall, 20, wantBig)
	assert.InDelta(t, et/eg, s.BSimple(), 1e-9)
}

// Linear regression y = x·w* + ε with x ~ N(0, I_D), ε ~ N(0, σ²), loss
// ½(x·w − y)², at a point w = w* + d: the per-sample gradient
// x(x·d − ε) has mean G = d and covariance (|d|² + σ²)I + d dᵀ, so
// tr(Σ) = D(|d|² + σ²) + |d|² and B_simple = tr(Σ)/|d|². The estimator,
// fed gradients computed by autograd on random batches, must recover it
// within 10 %.
func TestNoiseScaleRecoversLinearRegression(t *testing.T) {
	const (
		D     = 8
		sigma = 0.5
		micro = 4
		k     = 16
		obs   = 400
	)
	g := tensor.NewGenerator(11)
	wStar := g.Normal(0, 1, tensor.Float64, D, 1)
	d := g.Normal(0, 1, tensor.Float64, D, 1)
	dn := math.Sqrt(tensor.Sum(tensor.Square(d), false).Item())
	d = tensor.Affine(d, 1/dn, 0) // |d|² = 1
	w := autograd.Param(tensor.Add(wStar, d))
	want := (D*(1+sigma*sigma) + 1) / 1.0

	ns := NewNoiseScale(0.995)
	var acc Accumulator
	for range obs {
		for range k {
			x := g.Normal(0, 1, tensor.Float64, micro, D)
			y := tensor.Add(tensor.MatMul(x, wStar), g.Normal(0, sigma, tensor.Float64, micro, 1))
			r := autograd.Sub(autograd.MatMul(autograd.Constant(x), w), autograd.Constant(y))
			loss := autograd.Affine(autograd.Mean(autograd.Square(r), false), 0.5, 0)
			w.ZeroGrad()
			require.NoError(t, loss.Backward())
			acc.Add([]*autograd.Var{w})
		}
		acc.ObserveInto(ns, micro)
	}
	got := ns.BSimple()
	t.Logf("B_simple: estimated %.3f, exact %.3f (|G|² %.3f vs 1, tr Σ %.3f vs %.3f)", got, want, ns.GradSq(), ns.TraceSigma(), want)
	assert.InEpsilon(t, want, got, 0.10)
	assert.InEpsilon(t, want, ns.TraceSigma(), 0.10)
	assert.InEpsilon(t, 1.0, ns.GradSq(), 0.10)
}
