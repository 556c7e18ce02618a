package hpo

import (
	"math"
	"math/rand/v2"
	"slices"
)

// parzen is a Parzen (kernel density) estimator over a product space: a
// mixture of components, each a product of one kernel per dimension (a
// truncated normal in the dimension's transformed space — log space for
// Log dimensions — or a categorical distribution), as in Bergstra et al.
// (2011) and Optuna's TPE. The last component is the prior: the whole
// range (normal with sigma = the range's width; uniform over choices).
//
// Two ways of scoring numeric kernels exist, chosen by normalized:
//
//   - normalized = false reproduces Optuna 3.1 (the anchor of the
//     benchmarks): a continuous kernel's log density is that of the
//     standard truncated normal at (x−μ)/σ, without the −log σ term
//     (Optuna's _truncnorm.logpdf ignored its scale until optuna/optuna#5110,
//     Optuna 3.5), so each component counts in proportion to its bandwidth,
//     and log-scaled integers are continuous in log space (sampled there,
//     then rounded; scored by the density at log x).
//   - normalized = true scores proper densities (each kernel divided by σ)
//     and log-scaled integers by their mass on the grid, as later Optuna
//     releases do (#5110; #6258 for the log integers).
//
// Stepped floats and linear integers are masses on their grid either way.
type parzen struct {
	logw []float64 // normalised log weights of the components
	dims []pdim
}

type pdim struct {
	d         Distribution
	grid      bool      // scored by masses on d's grid
	lo, hi    float64   // transformed bounds (numeric dimensions)
	mu, sigma []float64 // per component
	logZ      []float64 // per component: log of the truncation mass
	logNorm   []float64 // per component: logZ + log √(2π) (+ log σ when normalized)
	logp      [][]float64
}

// transformed bounds of a numeric dimension: a discrete one is widened by
// half a step on each side so that every grid point has equal mass under
// the prior.
func bounds(d Distribution) (lo, hi float64) {
	lo, hi = d.Low, d.High
	if d.Step > 0 {
		top := d.Low + math.Floor((d.High-d.Low)/d.Step+1e-9)*d.Step
		lo, hi = d.Low-d.Step/2, top+d.Step/2
	}
	if d.Log {
		lo, hi = math.Log(math.Max(lo, d.Low/2)), math.Log(hi)
	}
	return lo, hi
}

func transform(d Distribution, x float64) float64 {
	if d.Log {
		return math.Log(x)
	}
	return x
}

// newParzen builds the estimator from observations obs[i][j] (observation
// i, dimension j, internal values) with weights w[i] (before the prior's).
// Univariate (one dimension, multivariate false) uses the neighbour-gap
// bandwidths of Optuna's independent TPE; multivariate uses Scott-like
// bandwidths 0.2·n^(−1/(D+4))·range. normalized: see parzen.
func newParzen(obs [][]float64, w []float64, dists []Distribution, priorWeight float64, multivariate, normalized bool) *parzen {
	n := len(obs)
	p := &parzen{logw: make([]float64, n+1)}
	total := priorWeight
	for _, x := range w {
		total += x
	}
	for i := range n {
		p.logw[i] = math.Log(w[i] / total)
	}
	p.logw[n] = math.Log(priorWeight / total)
	for j, d := range dists {
		pd := pdim{d: d}
		if d.Kind == Categorical {
			c := len(d.Choices)
			pd.logp = make([][]float64, n+1)
			// As Optuna: every cell starts at priorWeight/(n+1) (a
			// smoothing that fades as observations accumulate), the
			// observed choice gets +1, each row is normalised; the prior's
			// row is uniform.
			fill := priorWeight / float64(n+1)
			for i := range n + 1 {
				row := make([]float64, c)
				sum := fill * float64(c)
				for k := range row {
					row[k] = fill
				}
				if i < n {
					row[int(obs[i][j])]++
					sum++
				}
				for k := range row {
					row[k] = math.Log(row[k] / sum)
				}
				pd.logp[i] = row
			}
			p.dims = append(p.dims, pd)
			continue
		}
		pd.grid = d.Step > 0 && (normalized || !d.Log)
		pd.lo, pd.hi = bounds(d)
		width := pd.hi - pd.lo
		pd.mu = make([]float64, n+1)
		pd.sigma = make([]float64, n+1)
		for i := range n {
			pd.mu[i] = transform(d, obs[i][j])
		}
		pd.mu[n] = (pd.lo + pd.hi) / 2
		if multivariate {
			s := 0.2 * math.Pow(float64(max(n, 1)), -1/float64(len(dists)+4)) * width
			for i := range n {
				pd.sigma[i] = s
			}
		} else {
			// Sort the means (the prior's included); each kernel's sigma
			// is the larger gap to its neighbours, the bounds acting as
			// neighbours of the extremes... except that, as in Optuna
			// (consider_endpoints=False), the extremes use their inner gap.
			idx := make([]int, n+1)
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				switch {
				case pd.mu[a] < pd.mu[b]:
					return -1
				case pd.mu[a] > pd.mu[b]:
					return 1
				}
				return 0
			})
			m := len(idx)
			ext := make([]float64, m+2)
			ext[0], ext[m+1] = pd.lo, pd.hi
			for k, i := range idx {
				ext[k+1] = pd.mu[i]
			}
			for k, i := range idx {
				pd.sigma[i] = math.Max(ext[k+1]-ext[k], ext[k+2]-ext[k+1])
			}
			if m >= 2 {
				pd.sigma[idx[0]] = ext[2] - ext[1]
				pd.sigma[idx[m-1]] = ext[m] - ext[m-1]
			}
		}
		pd.sigma[n] = width
		minS := width / math.Min(100, 1+float64(n+1))
		pd.logZ = make([]float64, n+1)
		pd.logNorm = make([]float64, n+1)
		for i := range pd.sigma {
			pd.sigma[i] = math.Max(minS, math.Min(pd.sigma[i], width))
			pd.logZ[i] = logMass((pd.lo-pd.mu[i])/pd.sigma[i], (pd.hi-pd.mu[i])/pd.sigma[i])
			pd.logNorm[i] = pd.logZ[i] + math.Log(math.Sqrt(2*math.Pi))
			if normalized {
				pd.logNorm[i] += math.Log(pd.sigma[i])
			}
		}
		p.dims = append(p.dims, pd)
	}
	return p
}

const sqrt2 = math.Sqrt2

// normCDF is Φ(x).
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/sqrt2) }

// logMass returns log(Φ(b) − Φ(a)) for a < b, accurate in both tails.
func logMass(a, b float64) float64 {
	var m float64
	if a > 0 {
		m = normCDF(-a) - normCDF(-b)
	} else {
		m = normCDF(b) - normCDF(a)
	}
	return math.Log(math.Max(m, 1e-300))
}

// sampleTruncNorm draws from N(mu, sigma²) truncated to [lo, hi] by the
// inverse CDF (mirrored in the upper tail for accuracy).
func sampleTruncNorm(r *rand.Rand, mu, sigma, lo, hi float64) float64 {
	a, b := (lo-mu)/sigma, (hi-mu)/sigma
	flip := a > 0
	if flip {
		a, b = -b, -a
	}
	pa, pb := normCDF(a), normCDF(b)
	u := pa + r.Float64()*(pb-pa)
	u = math.Min(math.Max(u, 1e-300), 1-1e-16)
	z := -sqrt2 * math.Erfcinv(2*u)
	z = math.Min(math.Max(z, a), b)
	if flip {
		z = -z
	}
	return mu + sigma*z
}

// sample draws one point (internal values per dimension).
func (p *parzen) sample(r *rand.Rand) []float64 {
	u := r.Float64()
	k := len(p.logw) - 1
	acc := 0.0
	for i, lw := range p.logw {
		acc += math.Exp(lw)
		if u < acc {
			k = i
			break
		}
	}
	x := make([]float64, len(p.dims))
	for j, pd := range p.dims {
		if pd.d.Kind == Categorical {
			u := r.Float64()
			acc := 0.0
			x[j] = float64(len(pd.logp[k]) - 1)
			for c, lp := range pd.logp[k] {
				acc += math.Exp(lp)
				if u < acc {
					x[j] = float64(c)
					break
				}
			}
			continue
		}
		t := sampleTruncNorm(r, pd.mu[k], pd.sigma[k], pd.lo, pd.hi)
		if pd.d.Log {
			t = math.Exp(t)
		}
		x[j] = pd.d.snap(t)
	}
	return x
}

// logPDF returns the log density (log mass for discrete dimensions) of x.
func (p *parzen) logPDF(x []float64) float64 {
	terms := make([]float64, len(p.logw))
	copy(terms, p.logw)
	for j, pd := range p.dims {
		if pd.d.Kind == Categorical {
			c := int(x[j])
			for k := range terms {
				terms[k] += pd.logp[k][c]
			}
			continue
		}
		var ta, tb float64
		discrete := pd.grid
		if discrete {
			a := x[j] - pd.d.Step/2
			if pd.d.Log {
				a = math.Max(a, pd.d.Low/2)
			}
			ta = math.Max(pd.lo, transform(pd.d, a))
			tb = math.Min(pd.hi, transform(pd.d, x[j]+pd.d.Step/2))
		}
		t := transform(pd.d, x[j])
		for k := range terms {
			mu, s := pd.mu[k], pd.sigma[k]
			if discrete {
				terms[k] += logMass((ta-mu)/s, (tb-mu)/s) - pd.logZ[k]
			} else {
				e := (t - mu) / s
				terms[k] += -0.5*e*e - pd.logNorm[k]
			}
		}
	}
	return logSumExp(terms)
}

func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
