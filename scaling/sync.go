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
// factor by which the slowest of p ranks arrives later than a typical one,
// over a rank's compute. Straggler holds the ranks' arrival times at the
// end of a compute phase, each measured from the barrier release that
// started it and divided by the mean compute time of one rank (so it
// carries both the spread of the compute and the ranks' late starts, e.g.
// a rank not yet scheduled when the barrier released). A synchronous step
// ends when the last rank arrives, and a rank measures its step from its
// own start, so the expected step is the mean compute plus the expected
// maximum arrival less the mean arrival:
//
//	SyncFactor(p) = 1 + E[max of p arrivals] − E[arrival]   (ExpectedMax)
//
// It is 1 for p = 1 or no Straggler samples, and grows with p like the
// expected maximum of p draws of the measured per-rank distribution.
func (m CostModel) SyncFactor(p int) float64 {
	if p <= 1 || len(m.Straggler) == 0 {
		return 1
	}
	return 1 + ExpectedMax(m.Straggler, p) - ExpectedMax(m.Straggler, 1)
}

// Arrivals turns one synchronisation calibration into Straggler samples.
// start[s][r] and end[s][r] are rank r's wall-clock times (seconds, one
// clock for all ranks) at which step s's compute began (it left the
// barrier) and ended. Each step's release is its earliest start; a sample
// is (end − release)/mean(end − start), one per rank and step. It panics
// on ragged or empty input.
func Arrivals(start, end [][]float64) []float64 {
	if len(start) == 0 || len(start) != len(end) {
		panic(tensor.Errorf("scaling.Arrivals", "%d start and %d end steps", len(start), len(end)))
	}
	var comp float64
	k := 0
	for s := range start {
		if len(start[s]) == 0 || len(start[s]) != len(end[s]) {
			panic(tensor.Errorf("scaling.Arrivals", "step %d: %d starts, %d ends", s, len(start[s]), len(end[s])))
		}
		for r := range start[s] {
			comp += end[s][r] - start[s][r]
			k++
		}
	}
	comp /= float64(k)
	var out []float64
	for s := range start {
		rel := slices.Min(start[s])
		for r := range end[s] {
			out = append(out, (end[s][r]-rel)/comp)
		}
	}
	return out
}

// WithinStep is the straggle the same calibration shows directly, without
// the independence that SyncFactor assumes: the mean over steps of (the
// latest arrival − the mean arrival)/mean compute, with start and end as
// for Arrivals. SyncFactor(p) − 1 estimates it for p ranks.
func WithinStep(start, end [][]float64) float64 {
	a := Arrivals(start, end)
	t, i := 0.0, 0
	for s := range end {
		n := len(end[s])
		step := a[i : i+n]
		mean := 0.0
		for _, x := range step {
			mean += x
		}
		t += slices.Max(step) - mean/float64(n)
		i += n
	}
	return t / float64(len(end))
}
