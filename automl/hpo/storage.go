package hpo

import (
	"context"
	"errors"
	"maps"
	"time"
)

// Direction says whether a study minimises or maximises its objective.
type Direction int

// The directions of a study.
const (
	Minimize Direction = iota
	Maximize
)

func (d Direction) String() string {
	if d == Maximize {
		return "maximize"
	}
	return "minimize"
}

// better reports whether a is strictly better than b.
func (d Direction) better(a, b float64) bool {
	if d == Maximize {
		return a > b
	}
	return a < b
}

// sign is +1 for Minimize and -1 for Maximize: sign·value is a loss.
func (d Direction) sign() float64 {
	if d == Maximize {
		return -1
	}
	return 1
}

// TrialState is the life-cycle state of a trial.
type TrialState int

// Trial states. A trial is Waiting (enqueued, not yet claimed), Running
// (claimed by a worker), then Complete, Pruned or Failed.
const (
	Running TrialState = iota
	Complete
	Pruned
	Failed
	Waiting
)

func (s TrialState) String() string {
	switch s {
	case Running:
		return "running"
	case Complete:
		return "complete"
	case Pruned:
		return "pruned"
	case Failed:
		return "failed"
	case Waiting:
		return "waiting"
	}
	return "unknown"
}

// Finished reports whether s is a final state.
func (s TrialState) Finished() bool { return s == Complete || s == Pruned || s == Failed }

// FrozenTrial is a snapshot of one trial as the storage holds it.
type FrozenTrial struct {
	ID     int64 // storage-wide identifier
	Number int   // 0, 1, ... within the study, in order of creation
	State  TrialState
	// Value is the objective's value (Complete) or, for a pruned trial, its
	// last intermediate value when one was reported; HasValue says whether
	// there is one.
	Value    float64
	HasValue bool
	// Params are internal values (see Distribution) with their dimensions.
	Params        map[string]float64
	Distributions map[string]Distribution
	// Intermediate holds the values reported by step.
	Intermediate map[int]float64
	Attrs        map[string]string
	// Fixed are values a waiting (enqueued or retried) trial must take, in
	// the user's form (float64, int, string); they take the place of the
	// sampler's suggestions.
	Fixed map[string]any
	// RetryOf is the number of the stale trial this one re-runs, or -1.
	RetryOf                      int
	Err                          string // why the trial failed
	Worker                       string // who claimed it
	Started, Finished, Heartbeat time.Time
}

// ParamValues returns the trial's parameters in the user's form.
func (t *FrozenTrial) ParamValues() map[string]any {
	m := make(map[string]any, len(t.Params))
	for k, v := range t.Params {
		m[k] = t.Distributions[k].External(v)
	}
	return m
}

// LastStep returns the largest reported step, or -1.
func (t *FrozenTrial) LastStep() int {
	last := -1
	for s := range t.Intermediate {
		last = max(last, s)
	}
	return last
}

func (t FrozenTrial) clone() FrozenTrial {
	t.Params = maps.Clone(t.Params)
	t.Distributions = maps.Clone(t.Distributions)
	t.Intermediate = maps.Clone(t.Intermediate)
	t.Attrs = maps.Clone(t.Attrs)
	t.Fixed = maps.Clone(t.Fixed)
	return t
}

// Errors of the storage layer.
var (
	// ErrNoMoreTrials is returned by ClaimTrial when the study's trial
	// budget is used up.
	ErrNoMoreTrials = errors.New("hpo: the study's trial budget is used up")
	// ErrNotRunning is returned when a worker writes to a trial that is no
	// longer running or no longer its own (e.g. it was declared stale and
	// failed after its heartbeat stopped); the worker must drop the trial.
	ErrNotRunning = errors.New("hpo: the trial is not running under this worker")
	// ErrStudyMismatch is returned when a study is opened with another
	// direction than it was created with.
	ErrStudyMismatch = errors.New("hpo: the study exists with another direction")
)

// ClaimRequest says how a worker claims its next trial.
type ClaimRequest struct {
	Worker string    // identity written into the trial
	Now    time.Time // the worker's clock (heartbeats and staleness use it)
	// MaxTrials is the study-wide budget: no new trial is created once the
	// study holds this many trials, not counting stale trials that were
	// replaced by a retry. 0: no limit.
	MaxTrials int
	// StaleAfter > 0 fails running trials whose last heartbeat is older
	// than Now − StaleAfter before claiming. With RetryStale each such
	// trial is re-enqueued as a new waiting trial with the same parameters
	// (its RetryOf is the stale trial's number).
	StaleAfter time.Duration
	RetryStale bool
}

// Storage keeps studies and their trials. Implementations must be safe for
// concurrent use by many goroutines and, for durable ones, by many
// processes: ClaimTrial is atomic (a trial is claimed by exactly one
// worker), and writes to a trial (SetParam, Report, SetAttr, Heartbeat,
// FinishTrial) succeed only while it is Running under the same worker,
// returning ErrNotRunning otherwise.
//
// This package has MemoryStorage; package automl/hpo/sqlstore has SQLite
// and PostgreSQL storages.
type Storage interface {
	// CreateStudy creates the study, or returns the existing one's ID when
	// a study of that name exists with the same direction.
	CreateStudy(ctx context.Context, name string, dir Direction) (int64, error)
	// ClaimTrial reaps stale trials (see ClaimRequest), then atomically
	// takes the oldest waiting trial or creates a new running one; it
	// returns ErrNoMoreTrials when the budget is used up.
	ClaimTrial(ctx context.Context, studyID int64, req ClaimRequest) (FrozenTrial, error)
	// EnqueueTrial adds a waiting trial whose parameters named in fixed take
	// those values (the user's form: float64, int or string).
	EnqueueTrial(ctx context.Context, studyID int64, fixed map[string]any) error
	// SetParam records a sampled parameter (internal value).
	SetParam(ctx context.Context, trialID int64, worker, name string, value float64, d Distribution) error
	// Report records an intermediate value (a later report of the same
	// step replaces it).
	Report(ctx context.Context, trialID int64, worker string, step int, value float64) error
	// SetAttr records a string attribute of the trial.
	SetAttr(ctx context.Context, trialID int64, worker, key, value string) error
	// Heartbeat says the worker is alive and still running the trial.
	Heartbeat(ctx context.Context, trialID int64, worker string, now time.Time) error
	// FinishTrial moves a running trial to a final state with its value
	// (hasValue false: none) and error message.
	FinishTrial(ctx context.Context, trialID int64, worker string, state TrialState, value float64, hasValue bool, errMsg string, now time.Time) error
	// Trials returns all the study's trials ordered by number.
	Trials(ctx context.Context, studyID int64) ([]FrozenTrial, error)
	// Close releases the storage's resources.
	Close() error
}
