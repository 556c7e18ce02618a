package hpo

import (
	"math"
	"slices"
	"sort"
	"strings"
)

// TPEOptions configure the Tree-structured Parzen Estimator sampler.
// Zero values take the defaults of Optuna's TPESampler.
type TPEOptions struct {
	Seed uint64
	// NStartupTrials finished trials are sampled at random first (10).
	NStartupTrials int
	// NEICandidates is the number of candidates drawn from l(x) of which
	// the one maximising l(x)/g(x) is taken (24).
	NEICandidates int
	// Gamma(n) is how many of n observations form the good group l(x)
	// (min(⌈0.1·n⌉, 25)).
	Gamma func(n int) int
	// Weights(n) weighs n observations, oldest first (1 each up to 25,
	// then a ramp from 1/n for the older ones).
	Weights func(n int) []float64
	// PriorWeight is the weight of the prior component (1).
	PriorWeight float64
	// Multivariate samples the parameters that all finished trials share
	// jointly with product kernels (Falkner et al. 2018) instead of one by
	// one.
	Multivariate bool
	// Group (with Multivariate) splits the search space into groups of
	// parameters that always occur together (conditional spaces) and
	// samples each group jointly from the trials that have it.
	Group bool
	// NormalizedKernels scores candidates with properly normalised kernel
	// densities (and log-scaled integers by their grid masses), as Optuna
	// does from 3.5 on; the default reproduces Optuna 3.1, whose kernels
	// leave out the 1/σ factor (see parzen).
	NormalizedKernels bool
}

// DefaultGamma is Optuna's default: min(⌈0.1·n⌉, 25).
func DefaultGamma(n int) int { return min(int(math.Ceil(0.1*float64(n))), 25) }

// DefaultWeights is Optuna's default: all ones below 25 observations, else
// a linear ramp from 1/n to 1 over the n−25 oldest and ones for the rest.
func DefaultWeights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n >= 25 {
		m := n - 25
		for i := range m {
			if m == 1 {
				w[i] = 1 / float64(n)
			} else {
				w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(m-1)
			}
		}
	}
	return w
}

// TPESampler is the Tree-structured Parzen Estimator (Bergstra et al.,
// "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011) as Optuna
// implements it: after NStartupTrials random trials, the finished trials
// are split into the Gamma(n) best (pruned trials ranked by how far they
// got, then by their last value) and the rest; a Parzen estimator l(x) of
// the good ones and g(x) of the others, each with a prior component, are
// built, NEICandidates points are drawn from l, and the one maximising
// l(x)/g(x) — the expected improvement — is taken. Seeded and
// reproducible: with one worker the same seed gives the same trials.
//
// Given the same finished trials, the split, the estimators' weights,
// means, bandwidths and bounds, the scores log l(x) − log g(x) and so the
// chosen candidate are Optuna 3.1's (TestTPEMatchesOptuna31, at 1e-9),
// including two traits of that version: each continuous kernel counts in
// proportion to its bandwidth (its log density leaves out −log σ), and
// log-scaled integers are modelled as continuous in log space. Only the
// random streams differ. NormalizedKernels gives proper densities instead.
type TPESampler struct{ o TPEOptions }

// NewTPESampler returns a TPE sampler; zero options take the defaults.
func NewTPESampler(o TPEOptions) *TPESampler {
	if o.NStartupTrials == 0 {
		o.NStartupTrials = 10
	}
	if o.NEICandidates == 0 {
		o.NEICandidates = 24
	}
	if o.Gamma == nil {
		o.Gamma = DefaultGamma
	}
	if o.Weights == nil {
		o.Weights = DefaultWeights
	}
	if o.PriorWeight == 0 {
		o.PriorWeight = 1
	}
	return &TPESampler{o: o}
}

// finished returns the complete and pruned trials other than t.
func finished(h *History, t *FrozenTrial) []*FrozenTrial {
	var out []*FrozenTrial
	for i := range h.Trials {
		x := &h.Trials[i]
		if x.ID != t.ID && (x.State == Complete && x.HasValue || x.State == Pruned) {
			out = append(out, x)
		}
	}
	return out
}

// rankKey orders trials best first: complete trials by loss, then pruned
// ones by the last step they reached (further is better), then by their
// value there.
type rankKey struct{ step, loss float64 }

func keyOf(t *FrozenTrial, dir Direction) rankKey {
	if t.State == Complete {
		return rankKey{math.Inf(-1), dir.sign() * t.Value}
	}
	last := t.LastStep()
	if last < 0 {
		return rankKey{math.Inf(1), 0}
	}
	return rankKey{-float64(last), dir.sign() * t.Intermediate[last]}
}

// split returns the indices (chronological) of the good and bad trials.
func (s *TPESampler) split(ts []*FrozenTrial, dir Direction) (below, above []int) {
	idx := make([]int, len(ts))
	keys := make([]rankKey, len(ts))
	for i := range ts {
		idx[i], keys[i] = i, keyOf(ts[i], dir)
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if ka.step != kb.step {
			return ka.step < kb.step
		}
		return ka.loss < kb.loss || (math.IsNaN(kb.loss) && !math.IsNaN(ka.loss))
	})
	nb := min(s.o.Gamma(len(ts)), len(ts))
	below, above = slices.Clone(idx[:nb]), slices.Clone(idx[nb:])
	slices.Sort(below)
	slices.Sort(above)
	return below, above
}

// SampleRelative implements Sampler: with Multivariate, a joint proposal
// for the shared (or, with Group, each group's) parameters.
func (s *TPESampler) SampleRelative(h *History, t *FrozenTrial) map[string]Param {
	if !s.o.Multivariate {
		return nil
	}
	ts := finished(h, t)
	if len(ts) < s.o.NStartupTrials {
		return nil
	}
	var groups [][]string
	if s.o.Group {
		groups = groupSpaces(ts)
	} else if sp := intersection(ts); len(sp) > 0 {
		groups = [][]string{sp}
	}
	out := map[string]Param{}
	for _, names := range groups {
		var ref *FrozenTrial
		for _, x := range ts {
			if hasAll(x, names) {
				ref = x
				break
			}
		}
		if ref == nil {
			continue
		}
		dists := make([]Distribution, len(names))
		for j, n := range names {
			dists[j] = ref.Distributions[n]
		}
		x := s.propose(ts, names, dists, h.Direction, rngName(t.Number, "\x00group:"+strings.Join(names, "\x00")), true)
		for j, n := range names {
			out[n] = Param{Value: x[j], Dist: dists[j]}
		}
	}
	return out
}

type numberName struct {
	number int
	name   string
}

func rngName(number int, name string) numberName { return numberName{number, name} }

// SampleIndependent implements Sampler.
func (s *TPESampler) SampleIndependent(h *History, t *FrozenTrial, name string, d Distribution) float64 {
	ts := finished(h, t)
	if len(ts) < s.o.NStartupTrials {
		return sampleUniform(rngFor(s.o.Seed, t.Number, name), d)
	}
	return s.propose(ts, []string{name}, []Distribution{d}, h.Direction, rngName(t.Number, name), false)[0]
}

// estimators splits the finished trials ts into the good and the bad
// group — over all of them, as Optuna does, so that a conditional
// parameter's groups are its trials among the overall best Gamma(len(ts))
// and the rest — keeps in each the trials that have every named parameter
// with the same distribution, and builds l(x) and g(x) from them.
func (s *TPESampler) estimators(ts []*FrozenTrial, names []string, dists []Distribution, dir Direction, multivariate bool) (l, g *parzen, below, above []*FrozenTrial) {
	bi, ai := s.split(ts, dir)
	pick := func(idx []int) []*FrozenTrial {
		var out []*FrozenTrial
		for _, i := range idx {
			ok := true
			for j, n := range names {
				od, has := ts[i].Distributions[n]
				_, hasV := ts[i].Params[n]
				ok = ok && has && hasV && od.Equal(dists[j])
			}
			if ok {
				out = append(out, ts[i])
			}
		}
		return out
	}
	obs := func(xs []*FrozenTrial) [][]float64 {
		out := make([][]float64, len(xs))
		for k, x := range xs {
			row := make([]float64, len(names))
			for j, n := range names {
				row[j] = x.Params[n]
			}
			out[k] = row
		}
		return out
	}
	below, above = pick(bi), pick(ai)
	l = newParzen(obs(below), s.o.Weights(len(below)), dists, s.o.PriorWeight, multivariate, s.o.NormalizedKernels)
	g = newParzen(obs(above), s.o.Weights(len(above)), dists, s.o.PriorWeight, multivariate, s.o.NormalizedKernels)
	return l, g, below, above
}

// propose runs one TPE step over the named dimensions from the finished
// trials ts: NEICandidates draws from l, the first maximising
// log l(x) − log g(x) wins.
func (s *TPESampler) propose(ts []*FrozenTrial, names []string, dists []Distribution, dir Direction, rn numberName, multivariate bool) []float64 {
	r := rngFor(s.o.Seed, rn.number, rn.name)
	l, g, _, _ := s.estimators(ts, names, dists, dir, multivariate)
	var best []float64
	bestScore := math.Inf(-1)
	for range s.o.NEICandidates {
		x := l.sample(r)
		if sc := l.logPDF(x) - g.logPDF(x); best == nil || sc > bestScore {
			best, bestScore = x, sc
		}
	}
	return best
}

func hasAll(t *FrozenTrial, names []string) bool {
	for _, n := range names {
		if _, ok := t.Params[n]; !ok {
			return false
		}
	}
	return true
}

// intersection returns the sorted names of the parameters every trial has
// with the same distribution (single points left out).
func intersection(ts []*FrozenTrial) []string {
	var names []string
	for n, d := range ts[0].Distributions {
		if d.Single() {
			continue
		}
		ok := true
		for _, x := range ts[1:] {
			od, has := x.Distributions[n]
			ok = ok && has && od.Equal(d)
		}
		if ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// groupSpaces splits the parameters seen in ts into groups such that every
// trial's parameter set is a union of groups (Optuna's group decomposed
// search space).
func groupSpaces(ts []*FrozenTrial) [][]string {
	var groups []map[string]bool
	for _, t := range ts {
		p := map[string]bool{}
		for n, d := range t.Distributions {
			if !d.Single() {
				p[n] = true
			}
		}
		var next []map[string]bool
		rest := map[string]bool{}
		for n := range p {
			rest[n] = true
		}
		for _, g := range groups {
			in, out := map[string]bool{}, map[string]bool{}
			for n := range g {
				if p[n] {
					in[n] = true
					delete(rest, n)
				} else {
					out[n] = true
				}
			}
			for _, x := range []map[string]bool{in, out} {
				if len(x) > 0 {
					next = append(next, x)
				}
			}
		}
		if len(rest) > 0 {
			next = append(next, rest)
		}
		groups = next
	}
	out := make([][]string, 0, len(groups))
	for _, g := range groups {
		names := make([]string, 0, len(g))
		for n := range g {
			names = append(names, n)
		}
		slices.Sort(names)
		out = append(out, names)
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}
