package hpo

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// MemoryStorage keeps studies in the process's memory; it is safe for
// concurrent use by many goroutines and is lost when the process exits.
type MemoryStorage struct {
	mu      sync.Mutex
	studies []*memStudy
	byName  map[string]int64
	trials  []*FrozenTrial // by ID-1
}

type memStudy struct {
	name    string
	dir     Direction
	trials  []*FrozenTrial // by number
	retries int            // trials replaced by a retry
}

// NewMemoryStorage returns an empty in-memory storage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{byName: map[string]int64{}} }

// CreateStudy implements Storage.
func (m *MemoryStorage) CreateStudy(_ context.Context, name string, dir Direction) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byName[name]; ok {
		if m.studies[id-1].dir != dir {
			return 0, fmt.Errorf("%w: %q is %v", ErrStudyMismatch, name, m.studies[id-1].dir)
		}
		return id, nil
	}
	m.studies = append(m.studies, &memStudy{name: name, dir: dir})
	id := int64(len(m.studies))
	m.byName[name] = id
	return id, nil
}

func (m *MemoryStorage) study(id int64) (*memStudy, error) {
	if id < 1 || int(id) > len(m.studies) {
		return nil, fmt.Errorf("hpo: no study %d", id)
	}
	return m.studies[id-1], nil
}

func (m *MemoryStorage) newTrial(s *memStudy, state TrialState) *FrozenTrial {
	t := &FrozenTrial{
		ID: int64(len(m.trials) + 1), Number: len(s.trials), State: state, RetryOf: -1,
		Params: map[string]float64{}, Distributions: map[string]Distribution{},
		Intermediate: map[int]float64{}, Attrs: map[string]string{},
	}
	m.trials = append(m.trials, t)
	s.trials = append(s.trials, t)
	return t
}

// ClaimTrial implements Storage.
func (m *MemoryStorage) ClaimTrial(_ context.Context, studyID int64, req ClaimRequest) (FrozenTrial, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.study(studyID)
	if err != nil {
		return FrozenTrial{}, err
	}
	if req.StaleAfter > 0 {
		limit := req.Now.Add(-req.StaleAfter)
		for _, t := range s.trials {
			if t.State != Running || !t.Heartbeat.Before(limit) {
				continue
			}
			t.State, t.Finished = Failed, req.Now
			t.Err = fmt.Sprintf("stale: no heartbeat from %s since %s", t.Worker, t.Heartbeat.Format(time.RFC3339Nano))
			if req.RetryStale {
				r := m.newTrial(s, Waiting)
				r.Fixed, r.RetryOf = t.ParamValues(), t.Number
				s.retries++
			}
		}
	}
	var claimed *FrozenTrial
	for _, t := range s.trials {
		if t.State == Waiting {
			claimed = t
			break
		}
	}
	if claimed == nil {
		if req.MaxTrials > 0 && len(s.trials)-s.retries >= req.MaxTrials {
			return FrozenTrial{}, ErrNoMoreTrials
		}
		claimed = m.newTrial(s, Running)
	}
	claimed.State, claimed.Worker = Running, req.Worker
	claimed.Started, claimed.Heartbeat = req.Now, req.Now
	return claimed.clone(), nil
}

// EnqueueTrial implements Storage.
func (m *MemoryStorage) EnqueueTrial(_ context.Context, studyID int64, fixed map[string]any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.study(studyID)
	if err != nil {
		return err
	}
	m.newTrial(s, Waiting).Fixed = maps.Clone(fixed)
	return nil
}

func (m *MemoryStorage) running(id int64, worker string) (*FrozenTrial, error) {
	if id < 1 || int(id) > len(m.trials) {
		return nil, fmt.Errorf("hpo: no trial %d", id)
	}
	t := m.trials[id-1]
	if t.State != Running || t.Worker != worker {
		return nil, ErrNotRunning
	}
	return t, nil
}

// SetParam implements Storage.
func (m *MemoryStorage) SetParam(_ context.Context, trialID int64, worker, name string, value float64, d Distribution) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.running(trialID, worker)
	if err != nil {
		return err
	}
	t.Params[name], t.Distributions[name] = value, d
	return nil
}

// Report implements Storage.
func (m *MemoryStorage) Report(_ context.Context, trialID int64, worker string, step int, value float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.running(trialID, worker)
	if err != nil {
		return err
	}
	t.Intermediate[step] = value
	return nil
}

// SetAttr implements Storage.
func (m *MemoryStorage) SetAttr(_ context.Context, trialID int64, worker, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.running(trialID, worker)
	if err != nil {
		return err
	}
	t.Attrs[key] = value
	return nil
}

// Heartbeat implements Storage.
func (m *MemoryStorage) Heartbeat(_ context.Context, trialID int64, worker string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.running(trialID, worker)
	if err != nil {
		return err
	}
	t.Heartbeat = now
	return nil
}

// FinishTrial implements Storage.
func (m *MemoryStorage) FinishTrial(_ context.Context, trialID int64, worker string, state TrialState, value float64, hasValue bool, errMsg string, now time.Time) error {
	if !state.Finished() {
		return fmt.Errorf("hpo: FinishTrial with state %v", state)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.running(trialID, worker)
	if err != nil {
		return err
	}
	t.State, t.Value, t.HasValue, t.Err, t.Finished = state, value, hasValue, errMsg, now
	return nil
}

// Trials implements Storage.
func (m *MemoryStorage) Trials(_ context.Context, studyID int64) ([]FrozenTrial, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.study(studyID)
	if err != nil {
		return nil, err
	}
	out := make([]FrozenTrial, len(s.trials))
	for i, t := range s.trials {
		out[i] = t.clone()
	}
	return out, nil
}

// Close implements Storage.
func (m *MemoryStorage) Close() error { return nil }
