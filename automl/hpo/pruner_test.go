package hpo

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ft(id int64, state TrialState, inter map[int]float64) FrozenTrial {
	return FrozenTrial{ID: id, Number: int(id), State: state, Intermediate: inter}
}

func TestMedianPruner(t *testing.T) {
	p := &MedianPruner{NStartupTrials: 3, Percentile: 50, NMinTrials: 1}
	h := &History{Trials: []FrozenTrial{
		ft(1, Complete, map[int]float64{0: 1, 1: 0.9}),
		ft(2, Complete, map[int]float64{0: 2, 1: 1.8}),
		ft(3, Complete, map[int]float64{0: 3, 1: 2.7}),
	}}
	cur := ft(4, Running, map[int]float64{0: 2.5})
	assert.True(t, p.Prune(h, &cur), "2.5 is worse than the median 2 at step 0")
	cur = ft(4, Running, map[int]float64{0: 1.5})
	assert.False(t, p.Prune(h, &cur))
	h.Direction = Maximize
	assert.True(t, p.Prune(h, &cur), "maximising, 1.5 is worse than 2")
	h.Direction = Minimize
	h.Trials = h.Trials[:2]
	cur = ft(4, Running, map[int]float64{0: 9})
	assert.False(t, p.Prune(h, &cur), "fewer complete trials than NStartupTrials")
}

func TestASHAPromotesTopFraction(t *testing.T) {
	p := NewASHA(1, 3)
	assert.Equal(t, 1, p.rungResource(0))
	assert.Equal(t, 9, p.rungResource(2))
	// Six trials reached rung 0 (step 1) with values 1..6.
	var trials []FrozenTrial
	for i := 1; i <= 6; i++ {
		trials = append(trials, ft(int64(i), Running, map[int]float64{1: float64(i)}))
	}
	h := &History{Trials: trials}
	// A newcomer with 1.5 at step 1: 7 values, ⌊7/3⌋ = 2 promoted (1, 1.5).
	cur := ft(7, Running, map[int]float64{1: 1.5})
	assert.False(t, p.Prune(h, &cur))
	cur = ft(7, Running, map[int]float64{1: 2.5})
	assert.True(t, p.Prune(h, &cur))
	// The first trial at a rung is promoted only if it is the best so far.
	h0 := &History{}
	cur = ft(1, Running, map[int]float64{1: 100})
	assert.False(t, p.Prune(h0, &cur))
	// Between rungs nothing is decided; at step 3 (rung 1) alone it passes.
	cur = ft(7, Running, map[int]float64{1: 1.5, 2: 9})
	assert.False(t, p.Prune(h, &cur))
}

// ASHA spends less budget than running every trial to the end and keeps
// the best configurations.
func TestASHAInStudy(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewRandomSampler(2), Pruner: NewASHA(1, 3)})
	var mu sync.Mutex
	steps := 0
	require.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		x := tr.SuggestFloat("x", 0, 1)
		for step := 1; step <= 27; step++ {
			mu.Lock()
			steps++
			mu.Unlock()
			v := x + 1/float64(step) // learning curves keep their order
			require.NoError(t, tr.Report(step, v))
			if tr.ShouldPrune() {
				return 0, ErrPruned
			}
		}
		return x, nil
	}, 60, 2))
	ts, err := s.Trials(context.Background())
	require.NoError(t, err)
	pruned := 0
	for _, x := range ts {
		if x.State == Pruned {
			pruned++
		}
	}
	t.Logf("ASHA: %d of 60 pruned, %d steps of %d", pruned, steps, 60*27)
	assert.Greater(t, pruned, 30)
	assert.Less(t, steps, 60*27/3)
	best, _, err := s.Best(context.Background())
	require.NoError(t, err)
	minX := math.Inf(1)
	for _, x := range ts {
		minX = math.Min(minX, x.Params["x"])
	}
	assert.Less(t, best.Value-minX, 0.1, "the best configuration survives")
}

func TestHyperbandBrackets(t *testing.T) {
	bs := HyperbandBrackets(81, 3)
	require.Len(t, bs, 5)
	wantN := []int{81, 34, 15, 8, 5}
	wantR := []float64{1, 3, 9, 27, 81}
	for i, b := range bs {
		assert.Equal(t, 4-i, b.S)
		assert.Equal(t, wantN[i], b.N, "bracket s=%d", b.S)
		assert.InDelta(t, wantR[i], b.R, 1e-9)
		assert.InDelta(t, 81, b.Rungs[len(b.Rungs)-1].Budget, 1e-9, "every bracket ends at R")
	}
	var ns []int
	for _, r := range bs[0].Rungs {
		ns = append(ns, r.N)
	}
	assert.Equal(t, []int{81, 27, 9, 3, 1}, ns)
	ns = nil
	for _, r := range bs[1].Rungs {
		ns = append(ns, r.N)
	}
	assert.Equal(t, []int{34, 11, 3, 1}, ns)
	var got []int
	for _, r := range SuccessiveHalvingRungs(81, 1, 3) {
		got = append(got, r.N)
	}
	assert.Equal(t, []int{81, 27, 9, 3, 1}, got)
}

// Running Hyperband evaluates each bracket's configurations at the paper's
// budgets and keeps the best of each rung.
func TestHyperbandRun(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewRandomSampler(4)})
	var mu sync.Mutex
	evals := map[float64]int{}
	obj := func(tr *Trial, budget float64) (float64, error) {
		x := tr.SuggestFloat("x", 0, 1)
		mu.Lock()
		evals[budget]++
		mu.Unlock()
		return x + 1/budget, nil
	}
	res, err := s.Hyperband(context.Background(), obj, 1, 81, 3, 2)
	require.NoError(t, err)
	require.Len(t, res, 5)
	for i, b := range HyperbandBrackets(81, 3) {
		require.Len(t, res[i], len(b.Rungs))
		for j, r := range b.Rungs {
			assert.Len(t, res[i][j].Trials, r.N, "bracket %d rung %d", i, j)
			assert.Equal(t, r.Budget, res[i][j].Budget)
		}
		// Survivors of a rung are the best of the rung before.
		for j := 1; j < len(res[i]); j++ {
			prev := res[i][j-1].Trials
			assert.Subset(t, prev, res[i][j].Trials)
		}
	}
	// Rung sizes: 81 27 9 3 1 | 34 11 3 1 | 15 5 1 | 8 2 | 5.
	assert.Equal(t, map[float64]int{1: 81, 3: 27 + 34, 9: 9 + 11 + 15, 27: 3 + 3 + 5 + 8, 81: 1 + 1 + 1 + 2 + 5}, evals)
	ts, err := s.Trials(context.Background())
	require.NoError(t, err)
	require.Len(t, ts, 143)
	complete := 0
	for _, x := range ts {
		if x.State == Complete {
			complete++
		}
	}
	assert.Equal(t, 1+1+1+2+5, complete, "the last rung of each bracket completes")
	// The winner of the first bracket is its best x.
	best := math.Inf(1)
	for _, n := range res[0][0].Trials {
		best = math.Min(best, ts[n].Params["x"])
	}
	assert.Equal(t, best, ts[res[0][4].Trials[0]].Params["x"])
}

func TestHyperbandPrunerAssignsBrackets(t *testing.T) {
	p := NewHyperbandPruner(1, 81, 3)
	counts := make([]int, 5)
	for n := range 1430 {
		f := FrozenTrial{Number: n}
		counts[p.Bracket(&f)]++
	}
	// Proportional to 81:34:15:8:5.
	assert.InDelta(t, 81.0/143, float64(counts[0])/1430, 0.05)
	assert.InDelta(t, 5.0/143, float64(counts[4])/1430, 0.03)
	s := newStudy(t, Options{Sampler: NewRandomSampler(3), Pruner: p})
	require.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		x := tr.SuggestFloat("x", 0, 1)
		for step := 1; step <= 81; step *= 3 {
			if err := tr.Report(step, x+1/float64(step)); err != nil {
				return 0, err
			}
			if tr.ShouldPrune() {
				return 0, ErrPruned
			}
		}
		return x, nil
	}, 40, 1))
	ts, _ := s.Trials(context.Background())
	for _, x := range ts {
		if x.State == Pruned {
			b := p.Bracket(&x)
			// Bracket b never stops a trial before r·η^b.
			assert.GreaterOrEqual(t, x.LastStep(), int(math.Pow(3, float64(b))))
		}
	}
}
