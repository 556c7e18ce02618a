package hpo

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
)

// Pruner decides whether a running trial should stop early. It is asked
// (through Trial.ShouldPrune) after the trial reports an intermediate
// value; t holds the trial's parameters and values so far, h the study's
// trials (t among them, up to date).
type Pruner interface {
	Prune(h *History, t *FrozenTrial) bool
}

// NopPruner never prunes.
type NopPruner struct{}

// Prune implements Pruner.
func (NopPruner) Prune(*History, *FrozenTrial) bool { return false }

// MedianPruner is the median stopping rule (Golovin et al., Google Vizier,
// 2017): a trial stops when its best intermediate value so far is worse
// than the median (Percentile) of the complete trials' values at the same
// step.
type MedianPruner struct {
	NStartupTrials int     // no pruning before this many complete trials (5)
	NWarmupSteps   int     // no pruning before this step (0)
	IntervalSteps  int     // check every this many steps (1)
	Percentile     float64 // 50: the median
	NMinTrials     int     // at least this many complete trials at the step (1)
}

// NewMedianPruner returns a median pruner with Optuna's defaults.
func NewMedianPruner() *MedianPruner {
	return &MedianPruner{NStartupTrials: 5, IntervalSteps: 1, Percentile: 50, NMinTrials: 1}
}

// Prune implements Pruner.
func (p *MedianPruner) Prune(h *History, t *FrozenTrial) bool {
	step := t.LastStep()
	if step < 0 || step < p.NWarmupSteps {
		return false
	}
	if p.IntervalSteps > 1 && (step-p.NWarmupSteps)%p.IntervalSteps != 0 {
		return false
	}
	if math.IsNaN(t.Intermediate[step]) {
		return true
	}
	nComplete := 0
	var others []float64
	for i := range h.Trials {
		x := &h.Trials[i]
		if x.State != Complete {
			continue
		}
		nComplete++
		if v, ok := x.Intermediate[step]; ok && !math.IsNaN(v) {
			others = append(others, v)
		}
	}
	if nComplete < p.NStartupTrials || len(others) < max(p.NMinTrials, 1) {
		return false
	}
	s := h.Direction.sign()
	best := math.Inf(1)
	for _, v := range t.Intermediate {
		if !math.IsNaN(v) {
			best = math.Min(best, s*v)
		}
	}
	q := p.Percentile
	if q == 0 {
		q = 50
	}
	for i := range others {
		others[i] *= s
	}
	return best > percentile(others, q)
}

// percentile with linear interpolation (NumPy's default).
func percentile(v []float64, q float64) float64 {
	slices.Sort(v)
	pos := q / 100 * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	return v[lo] + (pos-float64(lo))*(v[hi]-v[lo])
}

// SuccessiveHalvingPruner is asynchronous successive halving (ASHA; Li et
// al., "A System for Massively Parallel Hyperparameter Tuning", MLSys
// 2020). Rung k sits at resource (step) MinResource·η^(MinEarlyStoppingRate+k).
// When a trial reaches a rung it is promoted — allowed to go on — if its
// value there is among the top 1/η of all the values recorded at that rung
// so far (the best one while fewer than η trials got there); otherwise it
// is pruned. Decisions never wait for other trials, so any number of
// workers stay busy. Call ShouldPrune after every Report.
type SuccessiveHalvingPruner struct {
	MinResource          int // r: the first rung's step (1)
	ReductionFactor      int // η (3)
	MinEarlyStoppingRate int // s: the first rung is at r·η^s (0)
	// bracket, when set, restricts the competitors to the trials of the
	// same Hyperband bracket.
	bracket func(t *FrozenTrial) int
}

// NewASHA returns an asynchronous successive-halving pruner.
func NewASHA(minResource, reductionFactor int) *SuccessiveHalvingPruner {
	return &SuccessiveHalvingPruner{MinResource: minResource, ReductionFactor: reductionFactor}
}

func (p *SuccessiveHalvingPruner) params() (r, eta int) {
	r, eta = p.MinResource, p.ReductionFactor
	if r <= 0 {
		r = 1
	}
	if eta <= 1 {
		eta = 3
	}
	return r, eta
}

// rungResource returns the step of rung k.
func (p *SuccessiveHalvingPruner) rungResource(k int) int {
	r, eta := p.params()
	res := r
	for range p.MinEarlyStoppingRate + k {
		res *= eta
	}
	return res
}

// valueAt returns x's value at a rung of resource res: the one reported at
// the first step ≥ res.
func valueAt(x *FrozenTrial, res int) (float64, bool) {
	first, ok := math.MaxInt, false
	for s := range x.Intermediate {
		if s >= res && s < first {
			first, ok = s, true
		}
	}
	if !ok {
		return 0, false
	}
	return x.Intermediate[first], true
}

// Prune implements Pruner.
func (p *SuccessiveHalvingPruner) Prune(h *History, t *FrozenTrial) bool {
	step := t.LastStep()
	if step < 0 {
		return false
	}
	if math.IsNaN(t.Intermediate[step]) {
		return true
	}
	prev := -1
	for s := range t.Intermediate {
		if s < step {
			prev = max(prev, s)
		}
	}
	_, eta := p.params()
	my := -1
	if p.bracket != nil {
		my = p.bracket(t)
	}
	for k := 0; ; k++ {
		res := p.rungResource(k)
		if step < res {
			return false
		}
		if prev >= res {
			continue // this rung was decided at an earlier report
		}
		v, _ := valueAt(t, res)
		var comp []float64
		for i := range h.Trials {
			x := &h.Trials[i]
			if p.bracket != nil && p.bracket(x) != my {
				continue
			}
			if x.ID == t.ID {
				continue
			}
			if w, ok := valueAt(x, res); ok && !math.IsNaN(w) {
				comp = append(comp, h.Direction.sign()*w)
			}
		}
		comp = append(comp, h.Direction.sign()*v)
		slices.Sort(comp)
		idx := len(comp)/eta - 1
		if idx < 0 {
			idx = 0
		}
		if h.Direction.sign()*v > comp[idx] {
			return true
		}
	}
}

// HyperbandPruner runs asynchronous successive halving in the brackets of
// Hyperband (Li et al., JMLR 2018): bracket s stops its trials no earlier
// than MinResource·η^s, so brackets trade the number of configurations
// against the budget each gets. A trial's bracket is drawn from a hash of
// its number, in proportion to the bracket's number of configurations
// (Brackets), and it competes only with trials of its bracket.
type HyperbandPruner struct {
	MinResource, MaxResource, ReductionFactor int
	sh                                        []*SuccessiveHalvingPruner
	weights                                   []int
}

// NewHyperbandPruner returns a Hyperband pruner for resources (steps)
// from minResource to maxResource with reduction factor eta.
func NewHyperbandPruner(minResource, maxResource, eta int) *HyperbandPruner {
	p := &HyperbandPruner{MinResource: minResource, MaxResource: maxResource, ReductionFactor: eta}
	bs := HyperbandBrackets(float64(maxResource)/float64(minResource), eta)
	for _, b := range bs {
		sh := &SuccessiveHalvingPruner{MinResource: minResource, ReductionFactor: eta, MinEarlyStoppingRate: len(bs) - 1 - b.S}
		sh.bracket = p.Bracket
		p.sh = append(p.sh, sh)
		p.weights = append(p.weights, b.N)
	}
	return p
}

// Bracket returns the index of t's bracket (0 = the most aggressive).
func (p *HyperbandPruner) Bracket(t *FrozenTrial) int {
	total := 0
	for _, w := range p.weights {
		total += w
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strconv.Itoa(t.Number)))
	u := int(h.Sum32() % uint32(total))
	for i, w := range p.weights {
		if u < w {
			return i
		}
		u -= w
	}
	return len(p.weights) - 1
}

// Prune implements Pruner.
func (p *HyperbandPruner) Prune(h *History, t *FrozenTrial) bool {
	return p.sh[p.Bracket(t)].Prune(h, t)
}
