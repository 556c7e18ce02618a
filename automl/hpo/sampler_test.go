package hpo

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// branin is the Branin function (minimum 0.397887).
func branin(x, y float64) float64 {
	a, b, c, r, s, tt := 1.0, 5.1/(4*math.Pi*math.Pi), 5/math.Pi, 6.0, 10.0, 1/(8*math.Pi)
	return a*(y-b*x*x+c*x-r)*(y-b*x*x+c*x-r) + s*(1-tt)*math.Cos(x) + s
}

func braninStudy(t *testing.T, sam Sampler, n int) (float64, []FrozenTrial) {
	s := newStudy(t, Options{Sampler: sam})
	require.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		return branin(tr.SuggestFloat("x", -5, 10), tr.SuggestFloat("y", 0, 15)), nil
	}, n, 1))
	best, _, err := s.Best(context.Background())
	require.NoError(t, err)
	ts, err := s.Trials(context.Background())
	require.NoError(t, err)
	return best.Value, ts
}

func TestTPEBeatsRandomOnBranin(t *testing.T) {
	var tpe, rnd, mv []float64
	for seed := range uint64(7) {
		v, _ := braninStudy(t, NewTPESampler(TPEOptions{Seed: seed}), 60)
		tpe = append(tpe, v-0.397887)
		v, _ = braninStudy(t, NewTPESampler(TPEOptions{Seed: seed, Multivariate: true}), 60)
		mv = append(mv, v-0.397887)
		v, _ = braninStudy(t, NewRandomSampler(seed), 60)
		rnd = append(rnd, v-0.397887)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	t.Logf("median regret after 60 trials: TPE %.4f, multivariate TPE %.4f, random %.4f", med(tpe), med(mv), med(rnd))
	assert.Less(t, med(tpe), 0.5*med(rnd))
	assert.Less(t, med(mv), 0.5*med(rnd))
}

func TestSamplersReproducible(t *testing.T) {
	for _, mk := range []func() Sampler{
		func() Sampler { return NewRandomSampler(5) },
		func() Sampler { return NewTPESampler(TPEOptions{Seed: 5}) },
		func() Sampler { return NewTPESampler(TPEOptions{Seed: 5, Multivariate: true, Group: true}) },
	} {
		_, a := braninStudy(t, mk(), 25)
		_, b := braninStudy(t, mk(), 25)
		for i := range a {
			assert.Equal(t, a[i].Params, b[i].Params, "trial %d", i)
		}
	}
	_, a := braninStudy(t, NewTPESampler(TPEOptions{Seed: 5}), 25)
	_, b := braninStudy(t, NewTPESampler(TPEOptions{Seed: 6}), 25)
	assert.NotEqual(t, a[20].Params, b[20].Params)
}

func TestGridSamplerVisitsEveryPointOnce(t *testing.T) {
	g := NewGridSampler(map[string][]any{"a": {1, 2, 3}, "b": {"x", "y"}, "c": {0.5, 0.25}})
	require.Equal(t, 12, g.Size())
	s := newStudy(t, Options{Sampler: g, MaxTrials: g.Size()})
	seen := map[[3]any]int{}
	var mu sync.Mutex
	require.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		k := [3]any{tr.SuggestInt("a", 1, 3), tr.SuggestCategorical("b", []string{"x", "y"}), tr.SuggestFloat("c", 0, 1)}
		mu.Lock()
		defer mu.Unlock()
		seen[k]++
		return 0, nil
	}, 0, 3))
	assert.Len(t, seen, 12)
	for k, n := range seen {
		assert.Equal(t, 1, n, "%v", k)
	}
}

// The Parzen estimator's density integrates to 1 and its samples follow it.
func TestParzenIsADensity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range []Distribution{
		{Kind: Float, Low: -2, High: 3},
		{Kind: Float, Low: 1e-3, High: 10, Log: true},
	} {
		var obs [][]float64
		for range 12 {
			obs = append(obs, []float64{sampleUniform(r, d)})
		}
		p := newParzen(obs, DefaultWeights(12), []Distribution{d}, 1, false, true)
		// Integrate in the transformed space (the density's own).
		lo, hi := bounds(d)
		const m = 20000
		sum := 0.0
		for i := range m {
			u := lo + (float64(i)+0.5)*(hi-lo)/m
			x := u
			if d.Log {
				x = math.Exp(u)
			}
			sum += math.Exp(p.logPDF([]float64{x})) * (hi - lo) / m
		}
		assert.InDelta(t, 1, sum, 1e-3, "%+v", d)
		// The sample mean (transformed) matches the density's mean.
		want := 0.0
		for i := range m {
			u := lo + (float64(i)+0.5)*(hi-lo)/m
			x := u
			if d.Log {
				x = math.Exp(u)
			}
			want += u * math.Exp(p.logPDF([]float64{x})) * (hi - lo) / m
		}
		got := 0.0
		const ns = 20000
		for range ns {
			got += transform(d, p.sample(r)[0]) / ns
		}
		assert.InDelta(t, want, got, 0.03*(hi-lo), "%+v", d)
	}
	// Discrete and categorical masses sum to 1.
	for _, d := range []Distribution{
		{Kind: Int, Low: 1, High: 64, Log: true, Step: 1},
		{Kind: Int, Low: 0, High: 20, Step: 4},
		{Kind: Categorical, Choices: []string{"a", "b", "c"}},
	} {
		var obs [][]float64
		for range 7 {
			obs = append(obs, []float64{sampleUniform(r, d)})
		}
		var pts []float64
		if d.Kind == Categorical {
			pts = []float64{0, 1, 2}
		} else {
			for v := d.Low; v <= d.High; v += d.Step {
				pts = append(pts, v)
			}
		}
		for _, mv := range []bool{false, true} {
			p := newParzen(obs, DefaultWeights(7), []Distribution{d}, 1, mv, true)
			sum := 0.0
			for _, v := range pts {
				sum += math.Exp(p.logPDF([]float64{v}))
			}
			assert.InDelta(t, 1, sum, 1e-9, "%+v multivariate=%v", d, mv)
			for range 200 {
				assert.True(t, d.Contains(p.sample(r)[0]))
			}
			// As Optuna 3.1 (the default): log integers are continuous in
			// log space but their samples still land on the grid.
			p = newParzen(obs, DefaultWeights(7), []Distribution{d}, 1, mv, false)
			for range 200 {
				assert.True(t, d.Contains(p.sample(r)[0]))
			}
		}
	}
}

func TestDefaultWeightsAndGamma(t *testing.T) {
	assert.Equal(t, 1, DefaultGamma(1))
	assert.Equal(t, 10, DefaultGamma(100))
	assert.Equal(t, 25, DefaultGamma(1000))
	w := DefaultWeights(30)
	assert.InDelta(t, 1.0/30, w[0], 1e-12)
	assert.Equal(t, 1.0, w[4])
	assert.Equal(t, 1.0, w[29])
	assert.True(t, w[1] > w[0] && w[2] > w[1])
}
