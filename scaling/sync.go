package scaling

import (
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// ExpectedMax is the expected largest of n independent draws from the
// empirical distribution of samples (every sample equally likely). With the
// samples sorted, x₍₁₎ ≤ … ≤ x₍ₘ₎, the largest of n draws is x₍ᵢ₎ with
// probability (i/m)ⁿ − ((i−1)/m)ⁿ, so
//
//	E[max of n] = Σᵢ x₍ᵢ₎ · ((i/m)ⁿ − ((i−1)/m)ⁿ).
//
// n = 1 gives the mean. It panics on n < 1 or no samples.
func ExpectedMax(samples []float64, n int) float64 {
	if n < 1 || len(samples) == 0 {
		panic(tensor.Errorf("scaling.ExpectedMax", "%d samples, n = %d", len(samples), n))
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	m := float64(len(s))
	e, prev := 0.0, 0.0
	for i, x := range s {
		c := math.Pow(float64(i+1)/m, float64(n))
		e += x * (c - prev)
		prev = c
	}
	return e
}

// SyncFactor is the straggler term of a synchronous step on p ranks: the
// factor by which the slowest of p ranks arrives later than the mean rank,
// over a rank's compute. Straggler holds the per-rank distribution of
// arrivals about the mean of their step, in units of a rank's mean compute
// (Arrivals makes it from a calibration): a synchronous step ends when the
// last rank arrives, and a rank that measures its step from its own start
// waits, on average, for the expected maximum of p arrivals less their
// mean:
//
//	SyncFactor(p) = 1 + E[max of p draws] − E[draw]   (ExpectedMax)
//
// It is 1 for p = 1 or no Straggler samples, and grows with p like the
// expected maximum of p draws from the measured distribution.
func (m CostModel) SyncFactor(p int) float64 {
	if p <= 1 || len(m.Straggler) == 0 {
		return 1
	}
	return 1 + ExpectedMax(m.Straggler, p) - ExpectedMax(m.Straggler, 1)
}

// Arrivals turns one synchronisation calibration into Straggler samples.
// start[s][r] and end[s][r] are rank r's times (seconds, one clock for all
// ranks) at which step s's compute began (it left the barrier) and ended;
// every step has k ≥ 2 ranks. A sample is a rank's arrival less the mean
// arrival of its step, over the mean compute time c̄ = mean(end − start),
// scaled by √(k/(k−1)):
//
//	x = (end[s][r] − meanᵣ end[s][·]) / c̄ · √(k/(k−1))
//
// Centring on each step's mean removes what moves all the ranks of a step
// together (the machine's load from step to step, a late release), which
// makes no rank wait for another; the factor undoes the shrinking of the
// spread by centring on k samples' own mean (exact for the variance), so
// the samples estimate one rank's spread about the population mean. It
// panics on ragged input, no steps or steps of fewer than 2 ranks.
func Arrivals(start, end [][]float64) []float64 {
	if len(start) == 0 || len(start) != len(end) {
		panic(tensor.Errorf("scaling.Arrivals", "%d start and %d end steps", len(start), len(end)))
	}
	var comp float64
	k := 0
	for s := range start {
		if len(start[s]) < 2 || len(start[s]) != len(end[s]) {
			panic(tensor.Errorf("scaling.Arrivals", "step %d: %d starts, %d ends (want 2 or more ranks)", s, len(start[s]), len(end[s])))
		}
		for r := range start[s] {
			comp += end[s][r] - start[s][r]
			k++
		}
	}
	comp /= float64(k)
	var out []float64
	for s := range end {
		n := float64(len(end[s]))
		mean := 0.0
		for _, e := range end[s] {
			mean += e
		}
		mean /= n
		f := math.Sqrt(n/(n-1)) / comp
		for _, e := range end[s] {
			out = append(out, (e-mean)*f)
		}
	}
	return out
}

// WithinStep is the straggle the same calibration shows directly, without
// the independence that SyncFactor assumes: the mean over steps of (the
// latest arrival − the mean arrival) over the mean compute, with start and
// end as for Arrivals. SyncFactor(k) − 1 estimates it for the calibration's
// k ranks.
func WithinStep(start, end [][]float64) float64 {
	a := Arrivals(start, end)
	t, i := 0.0, 0
	for s := range end {
		n := len(end[s])
		t += slices.Max(a[i:i+n]) / math.Sqrt(float64(n)/float64(n-1))
		i += n
	}
	return t / float64(len(end))
}
