package hpo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Objective evaluates one trial: it suggests parameters through t, may
// report intermediate values and stop early when t.ShouldPrune() (returning
// ErrPruned), and returns the value to minimise or maximise. A returned
// error (other than ErrPruned) or a panic fails the trial; the error is
// kept in the trial and the study goes on.
type Objective func(t *Trial) (float64, error)

// ErrPruned is returned by an objective that stopped because ShouldPrune
// said so; the trial ends Pruned.
var ErrPruned = errors.New("hpo: trial pruned")

// Options configure a study.
type Options struct {
	Name      string    // the study's name in the storage ("" = "study")
	Direction Direction // Minimize (default) or Maximize
	Sampler   Sampler   // nil: NewTPESampler(TPEOptions{})
	Pruner    Pruner    // nil: never prune
	Storage   Storage   // nil: a new MemoryStorage
	// MaxTrials is a budget for the whole study, shared by every process
	// working on it: no trial is created beyond it. 0: no limit.
	MaxTrials int
	// Heartbeat is how often a running trial tells the storage that its
	// worker is alive (0: 1 s when StaleAfter is set, else never).
	Heartbeat time.Duration
	// StaleAfter > 0 declares a running trial stale when its heartbeat is
	// older than this (its worker died); it is failed and, with
	// RetryStale, re-run with the same parameters by another worker.
	StaleAfter time.Duration
	RetryStale bool
	// Worker names this process's workers in the storage ("" =
	// host:pid:random).
	Worker string
}

// Study is a hyperparameter search: a storage holding its trials, a sampler
// proposing parameters and a pruner stopping unpromising trials.
type Study struct {
	opts Options
	id   int64
	st   Storage
	sam  Sampler
	pr   Pruner
}

// NewStudy creates the study in opts.Storage, or loads it when one of that
// name exists there (so several processes can share a study).
func NewStudy(ctx context.Context, opts Options) (*Study, error) {
	if opts.Name == "" {
		opts.Name = "study"
	}
	if opts.Storage == nil {
		opts.Storage = NewMemoryStorage()
	}
	if opts.Sampler == nil {
		opts.Sampler = NewTPESampler(TPEOptions{})
	}
	if opts.Pruner == nil {
		opts.Pruner = NopPruner{}
	}
	if opts.Heartbeat == 0 && opts.StaleAfter > 0 {
		opts.Heartbeat = min(time.Second, opts.StaleAfter/4)
	}
	if opts.Worker == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Worker = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	id, err := opts.Storage.CreateStudy(ctx, opts.Name, opts.Direction)
	if err != nil {
		return nil, err
	}
	return &Study{opts: opts, id: id, st: opts.Storage, sam: opts.Sampler, pr: opts.Pruner}, nil
}

// ID returns the study's identifier in its storage.
func (s *Study) ID() int64 { return s.id }

// Direction returns the study's direction.
func (s *Study) Direction() Direction { return s.opts.Direction }

// Storage returns the study's storage.
func (s *Study) Storage() Storage { return s.st }

// Trials returns all the study's trials, ordered by number.
func (s *Study) Trials(ctx context.Context) ([]FrozenTrial, error) {
	return s.st.Trials(ctx, s.id)
}

// Best returns the best complete trial; ok is false when there is none.
func (s *Study) Best(ctx context.Context) (best FrozenTrial, ok bool, err error) {
	ts, err := s.Trials(ctx)
	if err != nil {
		return best, false, err
	}
	for _, t := range ts {
		if t.State == Complete && t.HasValue && (!ok || s.opts.Direction.better(t.Value, best.Value)) {
			best, ok = t, true
		}
	}
	return best, ok, nil
}

// Enqueue adds a trial that takes the given parameter values (the user's
// form: float64, int or string) before any sampled trial runs.
func (s *Study) Enqueue(ctx context.Context, params map[string]any) error {
	return s.st.EnqueueTrial(ctx, s.id, params)
}

// Ask claims the next trial (a waiting one first). It returns
// ErrNoMoreTrials when the study's budget is used up. The caller must end
// the trial with Tell.
func (s *Study) Ask(ctx context.Context) (*Trial, error) {
	ft, err := s.st.ClaimTrial(ctx, s.id, ClaimRequest{
		Worker: s.opts.Worker, Now: time.Now(), MaxTrials: s.opts.MaxTrials,
		StaleAfter: s.opts.StaleAfter, RetryStale: s.opts.RetryStale,
	})
	if err != nil {
		return nil, err
	}
	t := &Trial{study: s, ctx: ctx, ft: ft}
	t.hist = History{Direction: s.opts.Direction}
	if hl, ok := s.sam.(HistoryFree); !ok || !hl.HistoryFree() {
		hist, err := s.st.Trials(ctx, s.id)
		if err != nil {
			t.fail(err)
			return t, nil
		}
		t.hist.Trials = hist
	}
	t.relative = s.sam.SampleRelative(&t.hist, &t.ft)
	if s.opts.Heartbeat > 0 {
		t.startHeartbeat(s.opts.Heartbeat)
	}
	return t, nil
}

// Tell ends a trial asked for with Ask: err == nil completes it with
// value, ErrPruned (possibly wrapped) prunes it, any other error fails it.
// A trial that had a storage error fails whatever it returned. Telling a
// trial that a stale reaper already failed returns ErrNotRunning.
func (s *Study) Tell(t *Trial, value float64, err error) error {
	t.stopHeartbeat()
	if t.err != nil && err == nil {
		err = t.err
	}
	state, hasValue, msg := Complete, true, ""
	switch {
	case err == nil:
		if math.IsNaN(value) {
			state, hasValue, msg = Failed, false, "the objective returned NaN"
		}
	case errors.Is(err, ErrPruned):
		state = Pruned
		if last := t.ft.LastStep(); last >= 0 {
			value = t.ft.Intermediate[last]
		} else {
			hasValue = false
		}
	default:
		state, hasValue, msg = Failed, false, err.Error()
	}
	ctx := context.WithoutCancel(t.ctx)
	return s.st.FinishTrial(ctx, t.ft.ID, s.opts.Worker, state, value, hasValue, msg, time.Now())
}

// Optimize runs the objective on nTrials trials (0: until the study's
// MaxTrials budget is used up or ctx is done) on nWorkers goroutines
// (0 or less: one). Failed trials do not stop it; it returns ctx's error
// when ctx ends it, or a storage error.
func (s *Study) Optimize(ctx context.Context, obj Objective, nTrials, nWorkers int) error {
	if nTrials <= 0 && s.opts.MaxTrials <= 0 && ctx.Done() == nil {
		return fmt.Errorf("hpo: Optimize needs nTrials > 0, Options.MaxTrials > 0 or a context that ends")
	}
	nWorkers = max(nWorkers, 1)
	var (
		mu      sync.Mutex
		started int
		firstEr error
		wg      sync.WaitGroup
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if firstEr != nil || (nTrials > 0 && started >= nTrials) {
			return false
		}
		started++
		return true
	}
	setErr := func(err error) {
		mu.Lock()
		if firstEr == nil {
			firstEr = err
		}
		mu.Unlock()
	}
	for range nWorkers {
		wg.Go(func() {
			for ctx.Err() == nil && take() {
				t, err := s.Ask(ctx)
				if errors.Is(err, ErrNoMoreTrials) && s.opts.StaleAfter > 0 {
					// Trials still running elsewhere may turn out stale and
					// need a re-run: wait for them before leaving.
					t, err = s.awaitUnfinished(ctx)
				}
				if errors.Is(err, ErrNoMoreTrials) {
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						setErr(err)
					}
					return
				}
				v, oerr := s.run(obj, t)
				if err := s.Tell(t, v, oerr); err != nil && !errors.Is(err, ErrNotRunning) {
					setErr(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstEr != nil {
		return firstEr
	}
	return ctx.Err()
}

// run calls obj, turning a panic into an error.
func (s *Study) run(obj Objective, t *Trial) (v float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	if t.err != nil {
		return 0, t.err
	}
	return obj(t)
}

// awaitUnfinished polls, while the budget is used up but some trial is
// still running or waiting, until a trial can be claimed (a stale one's
// retry) or none is left unfinished.
func (s *Study) awaitUnfinished(ctx context.Context) (*Trial, error) {
	for {
		ts, err := s.st.Trials(ctx, s.id)
		if err != nil {
			return nil, err
		}
		open := false
		for _, t := range ts {
			open = open || t.State == Running || t.State == Waiting
		}
		if !open {
			return nil, ErrNoMoreTrials
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(max(s.opts.StaleAfter/8, 10*time.Millisecond), 500*time.Millisecond)):
		}
		t, err := s.Ask(ctx)
		if !errors.Is(err, ErrNoMoreTrials) {
			return t, err
		}
	}
}
