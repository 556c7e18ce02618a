package attack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// SplitIID deals the sample indices 0..len(labels)−1 to n workers after a
// shuffle, as evenly as possible (sizes differ by at most one).
func SplitIID(numSamples, n int, rng *rand.Rand) ([][]int, error) {
	if n < 1 || numSamples < n {
		return nil, fmt.Errorf("attack: cannot split %d samples among %d workers", numSamples, n)
	}
	perm := rng.Perm(numSamples)
	out := make([][]int, n)
	for i, p := range perm {
		out[i%n] = append(out[i%n], p)
	}
	return out, nil
}

// SplitDirichlet is the usual non-IID split (Hsu et al. 2019): for each
// class, worker shares are drawn from Dirichlet(α,…,α) and the class's
// samples are dealt in those proportions. Small α gives each worker few
// classes (α = 0.5 is strongly skewed; α → ∞ approaches IID). Draws that
// leave a worker with fewer than minPerWorker samples are redrawn (up to
// 1000 times).
func SplitDirichlet(labels []int64, classes, n int, alpha float64, minPerWorker int, rng *rand.Rand) ([][]int, error) {
	if n < 1 || !(alpha > 0) || len(labels) < n*minPerWorker {
		return nil, fmt.Errorf("attack: bad Dirichlet split (n=%d, alpha=%g, %d samples)", n, alpha, len(labels))
	}
	byClass := make([][]int, classes)
	for i, y := range labels {
		if y < 0 || int(y) >= classes {
			return nil, fmt.Errorf("attack: label %d outside [0, %d)", y, classes)
		}
		byClass[y] = append(byClass[y], i)
	}
	for range 1000 {
		out := make([][]int, n)
		for _, idx := range byClass {
			idx = append([]int(nil), idx...)
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			p := Dirichlet(alpha, n, rng)
			start, acc := 0, 0.0
			for w := range n {
				acc += p[w]
				end := int(math.Round(acc * float64(len(idx))))
				if w == n-1 {
					end = len(idx)
				}
				end = max(end, start)
				out[w] = append(out[w], idx[start:end]...)
				start = end
			}
		}
		ok := true
		for _, s := range out {
			ok = ok && len(s) >= minPerWorker
		}
		if ok {
			return out, nil
		}
	}
	return nil, errors.New("attack: no Dirichlet split with every worker above the minimum in 1000 draws")
}

// Dirichlet draws a point of the (n−1)-simplex from Dirichlet(α,…,α).
func Dirichlet(alpha float64, n int, rng *rand.Rand) []float64 {
	p := make([]float64, n)
	sum := 0.0
	for i := range p {
		p[i] = gamma(alpha, rng)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// gamma draws from Gamma(a, 1) (Marsaglia and Tsang; a < 1 by boosting).
func gamma(a float64, rng *rand.Rand) float64 {
	if a < 1 {
		u := rng.Float64()
		return gamma(a+1, rng) * math.Pow(u, 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
