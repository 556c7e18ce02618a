package optim

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// requireMisuse asserts that f panics with a *tensor.Error (so tensor.Try
// turns it into an error) whose text contains want.
func requireMisuse(t *testing.T, want string, f func()) {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	require.NotNil(t, r, "%s: no panic", want)
	e, ok := r.(error)
	require.True(t, ok, "%s: panicked with %T (%v), want *tensor.Error", want, r, r)
	var te *tensor.Error
	require.True(t, errors.As(e, &te), "%s: panicked with %T (%v), want *tensor.Error", want, r, r)
	require.Contains(t, te.Error(), want)
	require.ErrorAs(t, tensor.Try(f), &te)
}

// TestMisuseIsTensorError covers the misuse panics of the package: each is
// a *tensor.Error naming the op (issue 11, item 7).
func TestMisuseIsTensorError(t *testing.T) {
	p := []*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 2))}
	sgd := func() *Optimizer {
		return NewSGD([]*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 2))}, Options{LR: 0.1})
	}
	cases := []struct {
		want string
		f    func()
	}{
		{"optim.SGD: Nesterov momentum requires Momentum > 0 and Dampening 0", func() { NewSGD(p, Options{LR: 0.1, Nesterov: true}) }},
		{"optim.Adam: Beta1 = 1 must be in [0, 1)", func() { NewAdam(p, Options{Beta1: 1}) }},
		{"optim.SGD: LR = -1 must be finite and >= 0", func() { NewSGD(p, Options{LR: -1}) }},
		{"optim.AddGroup: parameter 1 is already in a group", func() { NewSGD(append(p, p[0]), Options{}) }},
		{"optim.AddGroup: parameter 0 is nil", func() { NewSGD([]*autograd.Var{nil}, Options{}) }},
		{"optim.New: unknown kind Kind(99)", func() { New(99, p, Options{}) }},
		{"optim.ClipGradNorm: maxNorm must be >= 0", func() { ClipGradNorm(p, -1) }},
		{"optim.ClipGradValue: clip must be >= 0", func() { ClipGradValue(p, -1) }},
		{"optim.StepDecay: StepSize must be > 0", func() { StepDecay{}.LR(1, 1) }},
		{"optim.Cosine: Steps must be > 0", func() { Cosine{}.LR(1, 1) }},
		{"optim.OneCycle: Steps must be >= 2", func() { OneCycle{Steps: 1}.LR(1, 1) }},
		{"optim.NewScheduler: nil optimizer or schedule", func() { NewScheduler(nil, Constant{}) }},
		{"optim.Scheduler: schedule gave rate -1 for group 0 at step 0", func() {
			NewScheduler(sgd(), Func(func(int, float64) float64 { return -1 }))
		}},
		{"optim.Scheduler.SetStep: negative step", func() { NewScheduler(sgd(), Constant{}).SetStep(-1) }},
	}
	for _, c := range cases {
		requireMisuse(t, c.want, c.f)
	}
}
