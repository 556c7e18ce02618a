package autograd

import (
	"sync"
	"sync/atomic"

	"github.com/tessera-ml/tessera/tensor"
)

// CastRule is an autocast policy (package amp makes them): for an op's
// name ("autograd.MatMul", "nn.CrossEntropy", ...) it returns the dtype
// the op's floating-point inputs are converted to before it runs, or
// ok = false to leave them as they are.
type CastRule func(op string) (dt tensor.DType, ok bool)

// Autocast is per goroutine, like grad mode: EnableAutocast installs a
// rule for the calling goroutine only. While no goroutine has one, the
// check in each op is one atomic load.
var (
	autocastActive atomic.Int32 // goroutines with an open scope
	autocastMu     sync.RWMutex
	autocastScopes = map[uint64][]CastRule{} // a stack per goroutine; nil entries suspend autocast
)

// EnableAutocast makes rule the calling goroutine's autocast policy until
// the returned function is called (a guard: defer
// autograd.EnableAutocast(rule)()); scopes nest, the innermost rule
// applies, and a nil rule suspends autocast. Calling the function again
// does nothing. Backward passes run without autocast (their gradients keep
// the dtypes of the forward values), except the recomputation of a
// Checkpoint, which uses the rule of its forward pass.
func EnableAutocast(rule CastRule) (restore func()) {
	id := goid()
	autocastMu.Lock()
	if len(autocastScopes[id]) == 0 {
		autocastActive.Add(1)
	}
	autocastScopes[id] = append(autocastScopes[id], rule)
	autocastMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			autocastMu.Lock()
			defer autocastMu.Unlock()
			s := autocastScopes[id]
			if len(s) == 1 {
				delete(autocastScopes, id)
				autocastActive.Add(-1)
				return
			}
			autocastScopes[id] = s[:len(s)-1]
		})
	}
}

// WithAutocast runs f with rule as the calling goroutine's autocast policy.
func WithAutocast(rule CastRule, f func()) {
	defer EnableAutocast(rule)()
	f()
}

// AutocastRule returns the calling goroutine's current autocast rule (nil
// when none is in effect).
func AutocastRule() CastRule {
	if autocastActive.Load() == 0 {
		return nil
	}
	id := goid()
	autocastMu.RLock()
	defer autocastMu.RUnlock()
	if s := autocastScopes[id]; len(s) > 0 {
		return s[len(s)-1]
	}
	return nil
}

// suspendAutocast turns autocast off for the calling goroutine until the
// returned function is called (backward passes).
func suspendAutocast() func() {
	if autocastActive.Load() == 0 {
		return func() {}
	}
	return EnableAutocast(nil)
}

// AutocastInputs converts the floating-point inputs of op as the calling
// goroutine's autocast rule says (differentiably, with Cast) and returns
// them; without a rule, or when the rule leaves op alone, it returns xs
// itself. Float64 inputs and nil entries are never converted (as in
// torch.autocast). Every op of this package whose class matters under
// autocast calls it first; ops defined elsewhere (nn's losses and norms)
// call it too.
func AutocastInputs(op string, xs ...*Var) []*Var {
	rule := AutocastRule()
	if rule == nil {
		return xs
	}
	dt, ok := rule(op)
	if !ok {
		return xs
	}
	var out []*Var
	for i, x := range xs {
		if x == nil || x.DType() == dt || x.DType() == tensor.Float64 || !x.DType().IsFloat() {
			continue
		}
		if out == nil {
			out = append([]*Var(nil), xs...)
		}
		out[i] = Cast(x, dt)
	}
	if out == nil {
		return xs
	}
	return out
}

// autocast1..3 are AutocastInputs for one to three inputs without a
// slice when autocast is off.
func autocast1(op string, x *Var) *Var {
	if autocastActive.Load() == 0 {
		return x
	}
	return AutocastInputs(op, x)[0]
}

func autocast2(op string, a, b *Var) (*Var, *Var) {
	if autocastActive.Load() == 0 {
		return a, b
	}
	r := AutocastInputs(op, a, b)
	return r[0], r[1]
}

func autocast3(op string, a, b, c *Var) (*Var, *Var, *Var) {
	if autocastActive.Load() == 0 {
		return a, b, c
	}
	r := AutocastInputs(op, a, b, c)
	return r[0], r[1], r[2]
}
