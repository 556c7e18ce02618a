package sqlstore

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/automl/hpo"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(crashWorker(spec))
	}
	code := m.Run()
	stopPostgres()
	os.Exit(code)
}

// backends opens a fresh store of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) (spec string)
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "study.db") }},
	{"postgres", func(t *testing.T) string { return "postgres:" + postgresDSN(t) }},
}

func openSpec(t testing.TB, spec string) *Store {
	t.Helper()
	s, err := Open(spec)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			spec := b.open(t)
			st := openSpec(t, spec)
			ctx := context.Background()
			s, err := hpo.NewStudy(ctx, hpo.Options{Name: "rt", Storage: st, Direction: hpo.Maximize, Sampler: hpo.NewRandomSampler(1)})
			require.NoError(t, err)
			_, err = hpo.NewStudy(ctx, hpo.Options{Name: "rt", Storage: st, Direction: hpo.Minimize})
			assert.ErrorIs(t, err, hpo.ErrStudyMismatch)
			require.NoError(t, s.Enqueue(ctx, map[string]any{"x": 0.5, "n": 3, "c": "b"}))
			require.NoError(t, s.Optimize(ctx, func(tr *hpo.Trial) (float64, error) {
				x := tr.SuggestFloat("x", 0, 1)
				tr.SuggestFloat("lr", 1e-4, 1, hpo.Log())
				n := tr.SuggestInt("n", 1, 9, hpo.Step(2))
				tr.SuggestCategorical("c", []string{"a", "b"})
				require.NoError(t, tr.Report(0, x/2))
				require.NoError(t, tr.Report(1, math.NaN()))
				require.NoError(t, tr.SetAttr("ckpt", "/tmp/x"))
				switch tr.Number() {
				case 1:
					return 0, hpo.ErrPruned
				case 2:
					return 0, assert.AnError
				}
				return x * float64(n), nil
			}, 4, 2))
			ts, err := st.Trials(ctx, s.ID())
			require.NoError(t, err)
			require.Len(t, ts, 4)
			assert.Equal(t, map[string]any{"x": 0.5, "n": 3, "c": "b"}, map[string]any{"x": ts[0].ParamValues()["x"], "n": ts[0].ParamValues()["n"], "c": ts[0].ParamValues()["c"]})
			assert.Equal(t, hpo.Complete, ts[0].State)
			assert.Equal(t, 1.5, ts[0].Value)
			assert.Equal(t, hpo.Distribution{Kind: hpo.Float, Low: 1e-4, High: 1, Log: true}, ts[0].Distributions["lr"])
			assert.Equal(t, hpo.Distribution{Kind: hpo.Int, Low: 1, High: 9, Step: 2}, ts[0].Distributions["n"])
			assert.Equal(t, []string{"a", "b"}, ts[0].Distributions["c"].Choices)
			assert.Equal(t, 0.25, ts[0].Intermediate[0])
			assert.True(t, math.IsNaN(ts[0].Intermediate[1]))
			assert.Equal(t, "/tmp/x", ts[0].Attrs["ckpt"])
			assert.Equal(t, hpo.Pruned, ts[1].State)
			assert.Equal(t, hpo.Failed, ts[2].State)
			assert.Equal(t, assert.AnError.Error(), ts[2].Err)
			assert.Equal(t, hpo.Complete, ts[3].State)
			// A reopened store sees the same study.
			st2 := openSpec(t, spec)
			s2, err := hpo.NewStudy(ctx, hpo.Options{Name: "rt", Storage: st2, Direction: hpo.Maximize})
			require.NoError(t, err)
			best, ok, err := s2.Best(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			assert.GreaterOrEqual(t, best.Value, ts[3].Value)
		})
	}
}

func TestStaleAndNotRunning(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			spec := b.open(t)
			ctx := context.Background()
			dead, err := hpo.NewStudy(ctx, hpo.Options{Name: "s", Storage: openSpec(t, spec), Worker: "dead", Sampler: hpo.NewRandomSampler(1)})
			require.NoError(t, err)
			tr, err := dead.Ask(ctx)
			require.NoError(t, err)
			x := tr.SuggestFloat("x", 0, 1)
			time.Sleep(60 * time.Millisecond)
			live, err := hpo.NewStudy(ctx, hpo.Options{Name: "s", Storage: openSpec(t, spec), Worker: "live",
				StaleAfter: 50 * time.Millisecond, RetryStale: true, MaxTrials: 2, Sampler: hpo.NewRandomSampler(2)})
			require.NoError(t, err)
			var got []float64
			require.NoError(t, live.Optimize(ctx, func(tr *hpo.Trial) (float64, error) {
				got = append(got, tr.SuggestFloat("x", 0, 1))
				return 0, nil
			}, 0, 1))
			assert.Equal(t, x, got[0], "the retry takes the stale trial's parameters")
			assert.ErrorIs(t, tr.Report(1, 1), hpo.ErrNotRunning)
			assert.ErrorIs(t, dead.Tell(tr, 1, nil), hpo.ErrNotRunning)
			ts, err := live.Trials(ctx)
			require.NoError(t, err)
			require.Len(t, ts, 3)
			assert.Equal(t, hpo.Failed, ts[0].State)
			assert.Contains(t, ts[0].Err, "stale")
			assert.Equal(t, 0, ts[1].RetryOf)
			assert.Equal(t, hpo.Complete, ts[1].State)
			assert.Equal(t, hpo.Complete, ts[2].State)
		})
	}
}

// Many workers with their own connections hammer one study: every claim
// succeeds exactly once and no "database is locked" reaches them.
func TestConcurrentWorkers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			spec := b.open(t)
			ctx := context.Background()
			var mu sync.Mutex
			seen := map[int]int{}
			var wg sync.WaitGroup
			const workers, total = 8, 120
			errs := make([]error, workers)
			for w := range workers {
				wg.Go(func() {
					st := openSpec(t, spec)
					s, err := hpo.NewStudy(ctx, hpo.Options{Name: "c", Storage: st, MaxTrials: total,
						Sampler: hpo.NewTPESampler(hpo.TPEOptions{Seed: uint64(w)}), Pruner: hpo.NewASHA(1, 3)})
					if err != nil {
						errs[w] = err
						return
					}
					errs[w] = s.Optimize(ctx, func(tr *hpo.Trial) (float64, error) {
						mu.Lock()
						seen[tr.Number()]++
						mu.Unlock()
						x := tr.SuggestFloat("x", -1, 1)
						for step := 1; step <= 3; step++ {
							if err := tr.Report(step, x*x+1/float64(step)); err != nil {
								return 0, err
							}
							if tr.ShouldPrune() {
								return 0, hpo.ErrPruned
							}
						}
						return x * x, nil
					}, 0, 2)
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.Len(t, seen, total)
			for n, c := range seen {
				require.Equal(t, 1, c, "trial %d", n)
			}
			// The study's id is not necessarily 1: on PostgreSQL a racing
			// INSERT ... ON CONFLICT DO NOTHING still draws from the id
			// sequence. CreateStudy of an existing name returns its id.
			st := openSpec(t, spec)
			id, err := st.CreateStudy(ctx, "c", hpo.Minimize)
			require.NoError(t, err)
			ts, err := st.Trials(ctx, id)
			require.NoError(t, err)
			require.Len(t, ts, total)
			for _, x := range ts {
				assert.Contains(t, []hpo.TrialState{hpo.Complete, hpo.Pruned}, x.State, "trial %d: %s", x.Number, x.Err)
			}
		})
	}
}
