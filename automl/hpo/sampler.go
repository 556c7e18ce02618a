package hpo

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// History is what a sampler or pruner sees of a study: its trials (as the
// storage held them when the current trial started) and its direction.
type History struct {
	Trials    []FrozenTrial
	Direction Direction
}

// Sampler proposes parameter values.
type Sampler interface {
	// SampleRelative is called once when a trial starts; it may propose
	// values for several parameters jointly (keyed by name, internal form).
	// A proposal is used when the objective suggests that name with the
	// same distribution. It may return nil.
	SampleRelative(h *History, t *FrozenTrial) map[string]Param
	// SampleIndependent returns an internal value of d for parameter name
	// of trial t when no relative proposal applies.
	SampleIndependent(h *History, t *FrozenTrial, name string, d Distribution) float64
}

// HistoryFree is implemented by samplers that never look at other trials
// (random, grid): the study then skips reading the history from its
// storage when a trial starts.
type HistoryFree interface {
	HistoryFree() bool
}

// HistoryFree implements HistoryFree.
func (s *RandomSampler) HistoryFree() bool { return true }

// HistoryFree implements HistoryFree.
func (g *GridSampler) HistoryFree() bool { return true }

// rngFor returns a generator that depends only on the seed, the trial's
// number and the parameter's name, so a seeded sampler is reproducible
// whatever the order in which workers run trials.
func rngFor(seed uint64, number int, name string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	// Mix the three through splitmix64 so that nearby trial numbers give
	// unrelated PCG states.
	a := splitmix64(seed ^ splitmix64(uint64(number)^splitmix64(h.Sum64())))
	return rand.New(rand.NewPCG(a, splitmix64(a)))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sampleUniform draws an internal value of d uniformly (in log space when
// d.Log).
func sampleUniform(r *rand.Rand, d Distribution) float64 {
	switch d.Kind {
	case Categorical:
		return float64(r.IntN(len(d.Choices)))
	}
	lo, hi := d.Low, d.High
	if d.Step > 0 && !d.Log {
		n := int(math.Floor((hi-lo)/d.Step+1e-9)) + 1
		return d.Low + float64(r.IntN(n))*d.Step
	}
	if d.Log {
		if d.Kind == Int {
			lo, hi = lo-0.5, hi+0.5
		}
		return d.snap(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))))
	}
	return d.snap(lo + r.Float64()*(hi-lo))
}

// RandomSampler samples every parameter independently and uniformly (in
// log space for Log parameters).
type RandomSampler struct{ Seed uint64 }

// NewRandomSampler returns a random sampler seeded with seed.
func NewRandomSampler(seed uint64) *RandomSampler { return &RandomSampler{Seed: seed} }

// SampleRelative implements Sampler (no joint proposals).
func (s *RandomSampler) SampleRelative(*History, *FrozenTrial) map[string]Param { return nil }

// SampleIndependent implements Sampler.
func (s *RandomSampler) SampleIndependent(_ *History, t *FrozenTrial, name string, d Distribution) float64 {
	return sampleUniform(rngFor(s.Seed, t.Number, name), d)
}

// GridSampler enumerates the Cartesian product of the values given for
// each parameter: trial number k takes the k-th grid point (parameters in
// name order, the last name varying fastest), wrapping around after
// Size() trials. Set Options.MaxTrials to Size() to run the grid once.
type GridSampler struct {
	names []string
	grid  map[string][]any
}

// NewGridSampler returns a grid sampler over grid (values in the user's
// form: float64, int or string).
func NewGridSampler(grid map[string][]any) *GridSampler {
	names := make([]string, 0, len(grid))
	for k, v := range grid {
		if len(v) == 0 {
			panic(&tensor.Error{Op: "hpo.NewGridSampler", Msg: fmt.Sprintf("parameter %q has no values", k)})
		}
		names = append(names, k)
	}
	slices.Sort(names)
	return &GridSampler{names: names, grid: grid}
}

// Size returns the number of grid points.
func (g *GridSampler) Size() int {
	n := 1
	for _, k := range g.names {
		n *= len(g.grid[k])
	}
	return n
}

// Point returns the values of grid point k.
func (g *GridSampler) Point(k int) map[string]any {
	k %= g.Size()
	p := map[string]any{}
	for i := len(g.names) - 1; i >= 0; i-- {
		vals := g.grid[g.names[i]]
		p[g.names[i]] = vals[k%len(vals)]
		k /= len(vals)
	}
	return p
}

// SampleRelative implements Sampler (the grid is applied per parameter).
func (g *GridSampler) SampleRelative(*History, *FrozenTrial) map[string]Param { return nil }

// SampleIndependent implements Sampler.
func (g *GridSampler) SampleIndependent(_ *History, t *FrozenTrial, name string, d Distribution) float64 {
	if _, ok := g.grid[name]; !ok {
		panic(&tensor.Error{Op: "hpo.GridSampler", Msg: fmt.Sprintf("parameter %q is not in the grid", name)})
	}
	x := g.Point(t.Number)[name]
	v, ok := d.Internal(x)
	if !ok {
		panic(&tensor.Error{Op: "hpo.GridSampler", Msg: fmt.Sprintf("grid value %v of %q is outside %+v", x, name, d)})
	}
	return v
}
