package hpo

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

func newStudy(t *testing.T, o Options) *Study {
	t.Helper()
	s, err := NewStudy(context.Background(), o)
	require.NoError(t, err)
	return s
}

func TestSuggestRangesAndKinds(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewRandomSampler(3)})
	var logs []float64
	err := s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		x := tr.SuggestFloat("x", -2, 3)
		assert.True(t, x >= -2 && x <= 3, x)
		lr := tr.SuggestFloat("lr", 1e-4, 1, Log())
		assert.True(t, lr >= 1e-4 && lr <= 1, lr)
		logs = append(logs, math.Log10(lr))
		st := tr.SuggestFloat("st", 0, 1, Step(0.25))
		assert.InDelta(t, 0, math.Abs(st*4-math.Round(st*4)), 1e-12, st)
		n := tr.SuggestInt("n", 2, 9)
		assert.True(t, n >= 2 && n <= 9)
		w := tr.SuggestInt("w", 16, 512, Log())
		assert.True(t, w >= 16 && w <= 512)
		e := tr.SuggestInt("e", 0, 10, Step(5))
		assert.Contains(t, []int{0, 5, 10}, e)
		c := tr.SuggestCategorical("c", []string{"a", "b", "c"})
		assert.Contains(t, []string{"a", "b", "c"}, c)
		// A second suggestion of the same name returns the same value.
		assert.Equal(t, x, tr.SuggestFloat("x", -2, 3))
		assert.Equal(t, c, tr.SuggestCategorical("c", []string{"a", "b", "c"}))
		return x, nil
	}, 300, 1)
	require.NoError(t, err)
	// Log-uniform: about half the draws below the geometric mean 1e-2.
	below := 0
	for _, l := range logs {
		if l < -2 {
			below++
		}
	}
	assert.InDelta(t, 0.5, float64(below)/float64(len(logs)), 0.1)
	ts, err := s.Trials(context.Background())
	require.NoError(t, err)
	require.Len(t, ts, 300)
	assert.Equal(t, Complete, ts[0].State)
	assert.Equal(t, ts[0].Params["x"], ts[0].Value)
}

func TestSuggestMisusePanics(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewRandomSampler(1)})
	tr, err := s.Ask(context.Background())
	require.NoError(t, err)
	tr.SuggestFloat("x", 0, 1)
	var te *tensor.Error
	func() {
		defer func() { te, _ = recover().(*tensor.Error) }()
		tr.SuggestFloat("x", 0, 2)
	}()
	require.NotNil(t, te)
	assert.Contains(t, te.Error(), `"x"`)
	te = nil
	func() {
		defer func() { te, _ = recover().(*tensor.Error) }()
		tr.SuggestFloat("y", 0, 1, Log())
	}()
	require.NotNil(t, te)
	assert.Contains(t, te.Error(), "log")
	require.NoError(t, s.Tell(tr, 0, nil))
}

func TestTrialStates(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewRandomSampler(1), Direction: Maximize})
	boom := errors.New("boom")
	err := s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
		x := tr.SuggestFloat("x", 0, 1)
		switch tr.Number() {
		case 1:
			require.NoError(t, tr.Report(0, 0.25))
			require.NoError(t, tr.Report(1, 0.5))
			return 0, ErrPruned
		case 2:
			return 0, boom
		case 3:
			panic("kaboom")
		case 4:
			return math.NaN(), nil
		}
		return x, nil
	}, 8, 2)
	require.NoError(t, err)
	ts, err := s.Trials(context.Background())
	require.NoError(t, err)
	require.Len(t, ts, 8)
	assert.Equal(t, Pruned, ts[1].State)
	assert.True(t, ts[1].HasValue)
	assert.Equal(t, 0.5, ts[1].Value)
	assert.Equal(t, map[int]float64{0: 0.25, 1: 0.5}, ts[1].Intermediate)
	assert.Equal(t, Failed, ts[2].State)
	assert.Equal(t, "boom", ts[2].Err)
	assert.Equal(t, Failed, ts[3].State)
	assert.Contains(t, ts[3].Err, "kaboom")
	assert.Equal(t, Failed, ts[4].State)
	best, ok, err := s.Best(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
	for _, x := range ts {
		if x.State == Complete {
			assert.GreaterOrEqual(t, best.Value, x.Value)
		}
	}
}

func TestConditionalParams(t *testing.T) {
	for _, o := range []TPEOptions{{Seed: 1}, {Seed: 1, Multivariate: true}, {Seed: 1, Multivariate: true, Group: true}} {
		s := newStudy(t, Options{Sampler: NewTPESampler(o)})
		require.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
			switch tr.SuggestCategorical("model", []string{"lin", "sq"}) {
			case "lin":
				a := tr.SuggestFloat("a", -3, 3)
				return 1 + math.Abs(a), nil
			default:
				b := tr.SuggestFloat("b", -3, 3)
				k := tr.SuggestInt("k", 1, 5)
				return (b-1)*(b-1) + float64(k-2)*float64(k-2), nil
			}
		}, 80, 1))
		ts, err := s.Trials(context.Background())
		require.NoError(t, err)
		for _, x := range ts {
			_, hasA := x.Params["a"]
			_, hasB := x.Params["b"]
			assert.NotEqual(t, hasA, hasB, "exactly one branch's parameters")
		}
		best, _, err := s.Best(context.Background())
		require.NoError(t, err)
		assert.Less(t, best.Value, 0.3, "%+v finds the sq branch's optimum", o)
	}
}

func TestMaxTrialsAcrossWorkers(t *testing.T) {
	st := NewMemoryStorage()
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			s, err := NewStudy(context.Background(), Options{Name: "shared", Storage: st, MaxTrials: 50, Sampler: NewRandomSampler(uint64(w))})
			require.NoError(t, err)
			assert.NoError(t, s.Optimize(context.Background(), func(tr *Trial) (float64, error) {
				mu.Lock()
				seen[tr.Number()]++
				mu.Unlock()
				return tr.SuggestFloat("x", 0, 1), nil
			}, 0, 2))
		})
	}
	wg.Wait()
	require.Len(t, seen, 50)
	for n, c := range seen {
		assert.Equal(t, 1, c, "trial %d", n)
	}
}

func TestStaleTrialRetried(t *testing.T) {
	st := NewMemoryStorage()
	ctx := context.Background()
	dead := newStudy(t, Options{Name: "s", Storage: st, Worker: "dead", Sampler: NewRandomSampler(1)})
	tr, err := dead.Ask(ctx)
	require.NoError(t, err)
	x := tr.SuggestFloat("x", 0, 1)
	c := tr.SuggestCategorical("c", []string{"u", "v"})
	// The dead worker never heartbeats again.
	time.Sleep(30 * time.Millisecond)
	live := newStudy(t, Options{Name: "s", Storage: st, Worker: "live", StaleAfter: 20 * time.Millisecond, RetryStale: true, MaxTrials: 3, Sampler: NewRandomSampler(2)})
	var got []map[string]any
	require.NoError(t, live.Optimize(ctx, func(tr *Trial) (float64, error) {
		got = append(got, map[string]any{"x": tr.SuggestFloat("x", 0, 1), "c": tr.SuggestCategorical("c", []string{"u", "v"})})
		return 0, nil
	}, 0, 1))
	ts, err := live.Trials(ctx)
	require.NoError(t, err)
	require.Len(t, ts, 4, "3 trials plus the stale one")
	assert.Equal(t, Failed, ts[0].State)
	assert.Contains(t, ts[0].Err, "stale")
	assert.Equal(t, 0, ts[1].RetryOf)
	assert.Equal(t, map[string]any{"x": x, "c": c}, got[0], "the retry re-runs the stale trial's parameters")
	// The dead worker comes back: its writes are refused.
	assert.ErrorIs(t, tr.Report(0, 1), ErrNotRunning)
	assert.ErrorIs(t, dead.Tell(tr, 1, nil), ErrNotRunning)
	n := 0
	for _, x := range ts {
		if x.State == Complete {
			n++
		}
	}
	assert.Equal(t, 3, n)
}

func TestEnqueue(t *testing.T) {
	s := newStudy(t, Options{Sampler: NewTPESampler(TPEOptions{Seed: 1})})
	ctx := context.Background()
	require.NoError(t, s.Enqueue(ctx, map[string]any{"x": 0.125, "n": 3, "c": "b"}))
	require.NoError(t, s.Optimize(ctx, func(tr *Trial) (float64, error) {
		if tr.Number() == 0 {
			assert.Equal(t, 0.125, tr.SuggestFloat("x", 0, 1))
			assert.Equal(t, 3, tr.SuggestInt("n", 0, 5))
			assert.Equal(t, "b", tr.SuggestCategorical("c", []string{"a", "b"}))
		}
		return 0, nil
	}, 2, 1))
}
