package scaling

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Estimate returns the unbiased estimates of the true gradient's squared norm
// |G|² and of the trace of the per-sample gradient covariance tr(Σ) from the
// squared norms of two mean gradients, gSmallSq over bSmall samples and gBigSq
// over bBig > bSmall samples (McCandlish et al. 2018, appendix A.1):
//
//	|G|²  ≈ (bBig·|G_big|² − bSmall·|G_small|²) / (bBig − bSmall)
//	tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/bSmall − 1/bBig)
//
// Either can be negative for one pair of measurements; average them (the
// NoiseScale's moving averages) before dividing. It panics unless
// 0 < bSmall < bBig.
func Estimate(bSmall int, gSmallSq float64, bBig int, gBigSq float64) (gradSq, traceSigma float64) {
	if bSmall <= 0 || bBig <= bSmall {
		panic(tensor.Errorf("scaling.Estimate", "batch sizes %d, %d: want 0 < small < big", bSmall, bBig))
	}
	bs, bb := float64(bSmall), float64(bBig)
	gradSq = (bb*gBigSq - bs*gSmallSq) / (bb - bs)
	traceSigma = (gSmallSq - gBigSq) / (1/bs - 1/bb)
	return gradSq, traceSigma
}

// NoiseScale tracks the simple noise scale B_simple = tr(Σ)/|G|² during
// training: exponential moving averages (decay Beta, bias-corrected as in
// Adam) of Estimate's |G|² and tr(Σ), divided when read. The zero value is
// not ready; use NewNoiseScale.
type NoiseScale struct {
	Beta float64 // decay of the moving averages, in [0, 1); 0 keeps only the last observation

	gradSq, trace float64 // biased averages
	n             int
}

// NewNoiseScale returns an estimator whose averages decay by beta per
// observation (0.9-0.99 are typical: about 1/(1−beta) observations count).
// It panics unless 0 ≤ beta < 1.
func NewNoiseScale(beta float64) *NoiseScale {
	if !(beta >= 0 && beta < 1) {
		panic(tensor.Errorf("scaling.NewNoiseScale", "beta %g: want 0 <= beta < 1", beta))
	}
	return &NoiseScale{Beta: beta}
}

// Observe adds one pair of measurements: the squared norm of a mean gradient
// over bSmall samples and of one over bBig samples (at the same parameters).
func (s *NoiseScale) Observe(bSmall int, gSmallSq float64, bBig int, gBigSq float64) {
	g, tr := Estimate(bSmall, gSmallSq, bBig, gBigSq)
	s.gradSq = s.Beta*s.gradSq + (1-s.Beta)*g
	s.trace = s.Beta*s.trace + (1-s.Beta)*tr
	s.n++
}

// Count is the number of observations so far.
func (s *NoiseScale) Count() int { return s.n }

func (s *NoiseScale) correction() float64 {
	if s.n == 0 {
		return math.NaN()
	}
	return 1 - math.Pow(s.Beta, float64(s.n))
}

// GradSq is the averaged estimate of |G|² (NaN before any observation).
func (s *NoiseScale) GradSq() float64 { return s.gradSq / s.correction() }

// TraceSigma is the averaged estimate of tr(Σ) (NaN before any observation).
func (s *NoiseScale) TraceSigma() float64 { return s.trace / s.correction() }

// BSimple is tr(Σ)/|G|² from the averages: NaN before any observation, +Inf
// while the averaged |G|² is not positive (the noise swamps the signal).
func (s *NoiseScale) BSimple() float64 {
	g, tr := s.GradSq(), s.TraceSigma()
	if math.IsNaN(g) {
		return math.NaN()
	}
	if g <= 0 {
		return math.Inf(1)
	}
	return tr / g
}

// Reset forgets every observation.
func (s *NoiseScale) Reset() { s.gradSq, s.trace, s.n = 0, 0, 0 }

// Accumulator measures the two gradient norms in one process: the gradients
// of k micro-batches of b samples each, taken at the same parameters, give
// |G_small|² (the mean of their squared norms: k estimates at batch b) and
// |G_big|² (the squared norm of their mean: one at batch k·b). In
// data-parallel training the micro-batches are the ranks' shards and the mean
// is the all-reduced gradient.
type Accumulator struct {
	sum   []float64
	sqSum float64
	k     int
}

// Add reads the current gradients of params (parameters without a gradient
// count as zero) as one micro-batch's mean gradient.
func (a *Accumulator) Add(params []*autograd.Var) {
	var flat []float64
	for _, p := range params {
		n := p.Value().NumElements()
		g := p.Grad()
		if g == nil {
			flat = append(flat, make([]float64, n)...)
			continue
		}
		flat = append(flat, g.Contiguous().Cast(tensor.Float64).Float64s()...)
	}
	a.AddVector(flat)
}

// AddVector adds one micro-batch's mean gradient given as a flat vector. It
// panics when the length differs from the earlier ones.
func (a *Accumulator) AddVector(g []float64) {
	if a.k == 0 {
		a.sum = make([]float64, len(g))
	} else if len(g) != len(a.sum) {
		panic(tensor.Errorf("scaling.Accumulator.Add", "gradient of %d elements after %d", len(g), len(a.sum)))
	}
	sq := 0.0
	for i, v := range g {
		a.sum[i] += v
		sq += v * v
	}
	a.sqSum += sq
	a.k++
}

// Len is the number of micro-batches added since the last Reset.
func (a *Accumulator) Len() int { return a.k }

// Norms returns |G_small|² (the mean squared norm of the micro-batch
// gradients) and |G_big|² (the squared norm of their mean). It panics with
// fewer than two micro-batches.
func (a *Accumulator) Norms() (smallSq, bigSq float64) {
	if a.k < 2 {
		panic(tensor.Errorf("scaling.Accumulator.Norms", "%d micro-batches: want at least 2", a.k))
	}
	k := float64(a.k)
	for _, v := range a.sum {
		m := v / k
		bigSq += m * m
	}
	return a.sqSum / k, bigSq
}

// ObserveInto passes the accumulated norms to s for micro-batches of
// microBatch samples (B_small = microBatch, B_big = k·microBatch) and resets
// the accumulator.
func (a *Accumulator) ObserveInto(s *NoiseScale, microBatch int) {
	small, big := a.Norms()
	s.Observe(microBatch, small, a.k*microBatch, big)
	a.Reset()
}

// Reset forgets the added gradients.
func (a *Accumulator) Reset() { a.sum, a.sqSum, a.k = nil, 0, 0 }
