package hpo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/tessera-ml/tessera/tensor"
)

// Rung is one round of successive halving: N configurations trained to
// Budget.
type Rung struct {
	N      int
	Budget float64
}

// Bracket is one bracket of Hyperband: S+1 rungs, starting with N
// configurations at budget R·η^−S and keeping the best ⌊n/η⌋ at each rung.
type Bracket struct {
	S     int
	N     int
	R     float64 // the first rung's budget
	Rungs []Rung
}

// SuccessiveHalvingRungs returns the rungs of synchronous successive
// halving (Jamieson & Talwalkar 2016) starting from n configurations at
// budget r: n, ⌊n/η⌋, ... down to one configuration, the budget growing by
// η each rung.
func SuccessiveHalvingRungs(n int, r float64, eta int) []Rung {
	if n < 1 || !(r > 0) || eta < 2 {
		panic(&tensor.Error{Op: "hpo.SuccessiveHalvingRungs", Msg: fmt.Sprintf("need n >= 1, r > 0, eta >= 2; got %d, %v, %d", n, r, eta)})
	}
	var rungs []Rung
	for {
		rungs = append(rungs, Rung{N: n, Budget: r})
		if n <= 1 {
			return rungs
		}
		n /= eta
		r *= float64(eta)
		if n < 1 {
			n = 1
		}
	}
}

// HyperbandBrackets returns Hyperband's brackets for a maximum budget R
// (in units of the minimum budget) and reduction factor η, as in Li et al.
// (JMLR 2018, Algorithm 1): s_max = ⌊log_η R⌋, B = (s_max+1)·R, and bracket
// s (from s_max down to 0) starts n = ⌈B/R · η^s/(s+1)⌉ configurations at
// budget r = R·η^−s; rung i keeps ⌊n·η^−i⌋ of them at budget r·η^i.
// R = 81, η = 3 gives brackets of 81, 34, 15, 8 and 5 configurations.
func HyperbandBrackets(R float64, eta int) []Bracket {
	if !(R >= 1) || eta < 2 {
		panic(&tensor.Error{Op: "hpo.HyperbandBrackets", Msg: fmt.Sprintf("need R >= 1 and eta >= 2; got %v, %d", R, eta)})
	}
	e := float64(eta)
	sMax := int(math.Floor(math.Log(R)/math.Log(e) + 1e-9))
	B := float64(sMax+1) * R
	var out []Bracket
	for s := sMax; s >= 0; s-- {
		n := int(math.Ceil(B / R * math.Pow(e, float64(s)) / float64(s+1)))
		r := R * math.Pow(e, -float64(s))
		b := Bracket{S: s, N: n, R: r}
		for i := 0; i <= s; i++ {
			b.Rungs = append(b.Rungs, Rung{N: int(math.Floor(float64(n) * math.Pow(e, -float64(i)))), Budget: r * math.Pow(e, float64(i))})
		}
		out = append(out, b)
	}
	return out
}

// BudgetObjective evaluates trial t's configuration trained to a total
// budget (epochs, steps, samples). Successive halving calls it with
// growing budgets for the same trial; it may resume from the state it
// reached at the previous budget (keyed by t.Number) or start over.
// Suggestions made at the first call return the same values later.
type BudgetObjective func(t *Trial, budget float64) (float64, error)

// RungResult records who ran at one rung.
type RungResult struct {
	Rung
	Trials []int // trial numbers evaluated at this rung
}

// runRungs runs synchronous successive halving over the given rungs with
// fresh trials from s, on nWorkers goroutines per rung.
func (s *Study) runRungs(ctx context.Context, obj BudgetObjective, rungs []Rung, nWorkers int) ([]RungResult, error) {
	nWorkers = max(nWorkers, 1)
	alive := make([]*Trial, 0, rungs[0].N)
	for range rungs[0].N {
		t, err := s.Ask(ctx)
		if err != nil {
			for _, a := range alive {
				_ = s.Tell(a, 0, err)
			}
			return nil, err
		}
		alive = append(alive, t)
	}
	vals := map[*Trial]float64{}
	var out []RungResult
	for ri, rung := range rungs {
		res := RungResult{Rung: rung}
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			next = make(chan *Trial)
			errs = map[*Trial]error{}
		)
		for range nWorkers {
			wg.Go(func() {
				for t := range next {
					v, err := s.run(func(t *Trial) (float64, error) { return obj(t, rung.Budget) }, t)
					if err == nil {
						err = t.Report(int(math.Round(rung.Budget)), v)
					}
					mu.Lock()
					vals[t], errs[t] = v, err
					mu.Unlock()
				}
			})
		}
		for _, t := range alive {
			res.Trials = append(res.Trials, t.Number())
			next <- t
		}
		close(next)
		wg.Wait()
		out = append(out, res)
		if err := ctx.Err(); err != nil {
			for _, t := range alive {
				_ = s.Tell(t, 0, err)
			}
			return out, err
		}
		var ok []*Trial
		for _, t := range alive {
			if errs[t] != nil || math.IsNaN(vals[t]) {
				e := errs[t]
				if e == nil {
					e = errors.New("the objective returned NaN")
				}
				if err := s.Tell(t, 0, e); err != nil && !errors.Is(err, ErrNotRunning) {
					return out, err
				}
				continue
			}
			ok = append(ok, t)
		}
		sign := s.opts.Direction.sign()
		sort.SliceStable(ok, func(a, b int) bool { return sign*vals[ok[a]] < sign*vals[ok[b]] })
		keep := len(ok)
		if ri+1 < len(rungs) {
			keep = min(rungs[ri+1].N, len(ok))
		}
		for i, t := range ok {
			var err error
			switch {
			case ri+1 == len(rungs):
				err = s.Tell(t, vals[t], nil)
			case i >= keep:
				err = s.Tell(t, 0, ErrPruned)
			}
			if err != nil && !errors.Is(err, ErrNotRunning) {
				return out, err
			}
		}
		alive = ok[:keep]
	}
	return out, nil
}

// SuccessiveHalving runs synchronous successive halving: n new trials at
// budget r, the best ⌊n/η⌋ continue at r·η, and so on down to one, which
// ends Complete; the others end Pruned. Each rung's evaluations run on
// nWorkers goroutines.
func (s *Study) SuccessiveHalving(ctx context.Context, obj BudgetObjective, n int, r float64, eta, nWorkers int) ([]RungResult, error) {
	return s.runRungs(ctx, obj, SuccessiveHalvingRungs(n, r, eta), nWorkers)
}

// Hyperband runs every bracket of HyperbandBrackets(R, η) (budgets in
// units of minBudget) one after the other, each as synchronous successive
// halving, and returns each bracket's rungs.
func (s *Study) Hyperband(ctx context.Context, obj BudgetObjective, minBudget, R float64, eta, nWorkers int) ([][]RungResult, error) {
	var out [][]RungResult
	for _, b := range HyperbandBrackets(R, eta) {
		rungs := make([]Rung, len(b.Rungs))
		for i, r := range b.Rungs {
			rungs[i] = Rung{N: r.N, Budget: r.Budget * minBudget}
		}
		res, err := s.runRungs(ctx, obj, rungs, nWorkers)
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
