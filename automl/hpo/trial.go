package hpo

import (
	"context"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/tensor"
)

// Trial is one evaluation of the objective, handed to it by the study: the
// objective asks it for parameter values (define-by-run: which parameters
// exist may depend on earlier values), reports intermediate values and
// asks whether to stop. A Trial is used by one goroutine.
type Trial struct {
	study    *Study
	ctx      context.Context
	ft       FrozenTrial
	hist     History
	relative map[string]Param
	err      error // first storage error

	hbStop chan struct{}
	hbDone sync.WaitGroup
}

// Param is a parameter value in internal form with its dimension.
type Param struct {
	Value float64
	Dist  Distribution
}

// Number returns the trial's number in its study (0, 1, ...).
func (t *Trial) Number() int { return t.ft.Number }

// Context returns the context the trial was asked with.
func (t *Trial) Context() context.Context { return t.ctx }

// Params returns the values suggested so far, in the user's form.
func (t *Trial) Params() map[string]any { return t.ft.ParamValues() }

// Frozen returns a snapshot of the trial.
func (t *Trial) Frozen() FrozenTrial { return t.ft.clone() }

// Err returns the first storage error the trial met (nil if none); the
// trial fails with it when it ends.
func (t *Trial) Err() error { return t.err }

func (t *Trial) fail(err error) {
	if t.err == nil && err != nil {
		t.err = err
	}
}

// suggest returns the internal value of parameter name over d.
func (t *Trial) suggest(op, name string, d Distribution) float64 {
	d.validate(op, name)
	if old, ok := t.ft.Distributions[name]; ok {
		if !old.Equal(d) {
			panic(&tensor.Error{Op: op, Msg: fmt.Sprintf("parameter %q was suggested with %+v, now %+v", name, old, d)})
		}
		return t.ft.Params[name]
	}
	var v float64
	fixed, hasFixed := t.ft.Fixed[name]
	var fv float64
	okFixed := false
	if hasFixed {
		fv, okFixed = d.Internal(fixed)
	}
	switch {
	case okFixed:
		v = fv
	case d.Single():
		v = d.Low
		if d.Kind == Categorical {
			v = 0
		}
	default:
		if r, ok := t.relative[name]; ok && r.Dist.Equal(d) {
			v = r.Value
		} else {
			v = t.study.sam.SampleIndependent(&t.hist, &t.ft, name, d)
		}
	}
	t.ft.Params[name], t.ft.Distributions[name] = v, d
	if t.err == nil {
		t.fail(t.study.st.SetParam(t.ctx, t.ft.ID, t.study.opts.Worker, name, v, d))
	}
	return v
}

// SuggestFloat returns a value in [low, high]; Log() samples in log space,
// Step(s) restricts it to low + k·s.
func (t *Trial) SuggestFloat(name string, low, high float64, opts ...SuggestOption) float64 {
	d := Distribution{Kind: Float, Low: low, High: high}
	for _, o := range opts {
		o(&d)
	}
	return t.suggest("hpo.SuggestFloat", name, d)
}

// SuggestInt returns an integer in [low, high]; Log() samples in log space,
// Step(s) restricts it to low + k·s.
func (t *Trial) SuggestInt(name string, low, high int, opts ...SuggestOption) int {
	d := Distribution{Kind: Int, Low: float64(low), High: float64(high), Step: 1}
	for _, o := range opts {
		o(&d)
	}
	if d.Step != math.Trunc(d.Step) || d.Step < 1 || (d.Log && d.Step != 1) {
		panic(&tensor.Error{Op: "hpo.SuggestInt", Msg: fmt.Sprintf("parameter %q: step %v must be a positive integer (1 with Log)", name, d.Step)})
	}
	return int(math.Round(t.suggest("hpo.SuggestInt", name, d)))
}

// SuggestCategorical returns one of choices.
func (t *Trial) SuggestCategorical(name string, choices []string) string {
	d := Distribution{Kind: Categorical, Choices: choices}
	return d.External(t.suggest("hpo.SuggestCategorical", name, d)).(string)
}

// Report records the objective's intermediate value at step (an epoch, a
// budget); pruners decide from these.
func (t *Trial) Report(step int, value float64) error {
	if t.ft.Intermediate == nil {
		t.ft.Intermediate = map[int]float64{}
	}
	t.ft.Intermediate[step] = value
	if t.err != nil {
		return t.err
	}
	err := t.study.st.Report(t.ctx, t.ft.ID, t.study.opts.Worker, step, value)
	t.fail(err)
	return err
}

// SetAttr records a string attribute of the trial (e.g. a checkpoint path).
func (t *Trial) SetAttr(key, value string) error {
	if t.ft.Attrs == nil {
		t.ft.Attrs = map[string]string{}
	}
	t.ft.Attrs[key] = value
	if t.err != nil {
		return t.err
	}
	err := t.study.st.SetAttr(t.ctx, t.ft.ID, t.study.opts.Worker, key, value)
	t.fail(err)
	return err
}

// ShouldPrune asks the study's pruner whether the trial should stop now,
// given its last reported value and the other trials'. It also says true
// when the trial can no longer be written (a storage error, or another
// worker declared it stale).
func (t *Trial) ShouldPrune() bool {
	if t.err != nil {
		return true
	}
	hist, err := t.study.st.Trials(t.ctx, t.study.id)
	if err != nil {
		t.fail(err)
		return true
	}
	h := History{Trials: hist, Direction: t.study.opts.Direction}
	for i := range hist {
		if hist[i].ID == t.ft.ID {
			if hist[i].State != Running {
				t.fail(ErrNotRunning)
				return true
			}
			hist[i].Intermediate = maps.Clone(t.ft.Intermediate)
			hist[i].Attrs = maps.Clone(t.ft.Attrs)
		}
	}
	return t.study.pr.Prune(&h, &t.ft)
}

func (t *Trial) startHeartbeat(every time.Duration) {
	t.hbStop = make(chan struct{})
	t.hbDone.Add(1)
	go func() {
		defer t.hbDone.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.hbStop:
				return
			case now := <-tick.C:
				// A failed heartbeat is retried at the next tick; a trial
				// declared stale learns it at its next write.
				_ = t.study.st.Heartbeat(context.WithoutCancel(t.ctx), t.ft.ID, t.study.opts.Worker, now)
			}
		}
	}()
}

func (t *Trial) stopHeartbeat() {
	if t.hbStop != nil {
		close(t.hbStop)
		t.hbDone.Wait()
		t.hbStop = nil
	}
}
