package autograd

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
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
	// and tensor.Try gives it back as an error instead of re-panicking
	err := tensor.Try(f)
	require.ErrorAs(t, err, &te)
}

// TestMisuseIsTensorError covers every misuse panic of the package: each
// is a *tensor.Error naming the op (issue 11, item 7).
func TestMisuseIsTensorError(t *testing.T) {
	x := Param(randn(2, 3, 4))
	f32 := func(shape ...int) *Var { return Constant(tensor.Zeros(tensor.Float32, shape...)) }
	cases := []struct {
		want string
		f    func()
	}{
		{"autograd.Prod: axis 3 out of range for shape [2 3 4]", func() { Prod(x, false, 3) }},
		{"autograd.Sum: axis 2 repeated in [2 -1] for shape [2 3 4]", func() { Sum(x, false, 2, -1) }},
		{"autograd.Mean: axis -4 out of range", func() { Mean(x, false, -4) }},
		{"autograd.Var: axis 5 out of range", func() { Variance(x, 1, false, 5) }},
		{"autograd.LogSumExp: axis 7 out of range", func() { LogSumExp(x, false, 7) }},
		{"autograd.Linear: input shape [2 3] and weight shape [4 5] do not match", func() { Linear(f32(2, 3), f32(4, 5), nil) }},
		{"autograd.Conv2d: input shape [1 2 5 5], weight shape [4 3 3 3] and 1 groups do not match", func() {
			Conv2d(f32(1, 2, 5, 5), f32(4, 3, 3, 3), nil, tensor.ConvParams{}, 1)
		}},
		{"autograd.Conv2d: bias shape [3] for weight shape [4 2 3 3]", func() {
			Conv2d(f32(1, 2, 5, 5), f32(4, 2, 3, 3), f32(3), tensor.ConvParams{}, 1)
		}},
		{"autograd.T: needs at least 2 dimensions, have shape [3]", func() { T(f32(3)) }},
		{"autograd.Concat: no inputs", func() { Concat(nil, 0) }},
		{"autograd.Stack: no inputs", func() { Stack(nil, 0) }},
		{"autograd.Stack: shapes [2] and [3] differ", func() { Stack([]*Var{f32(2), f32(3)}, 0) }},
		{"autograd.NewVar: nil tensor", func() { NewVar(nil, false) }},
		{"autograd.NewVar: a int64[1] tensor cannot require a gradient", func() { Param(tensor.FromSlice([]int64{1}, 1)) }},
		{"autograd.Var.SetGrad: gradient shape [3] for value shape [2 3 4]", func() { x.SetGrad(tensor.Zeros(tensor.Float64, 3)) }},
		{"autograd.Var.SetValue: shape [3] for value shape [2 3 4]", func() { x.SetValue(tensor.Zeros(tensor.Float64, 3)) }},
		{"autograd.Var.RegisterHook: hooks are for leaves", func() { Exp(x).RegisterHook(func(*tensor.Tensor) {}) }},
		{"autograd.Var.SetGradBuffer: gradient buffers are for leaves", func() { Exp(x).SetGradBuffer(tensor.Zeros(tensor.Float64, 2, 3, 4)) }},
		{"autograd.sumTo: cannot sum gradient of shape [3] to shape [2 3]", func() { sumTo(f32(3), tensor.Shape{2, 3}) }},
		{"autograd.Backward: backward of test.bad returned gradient of shape [2] for input 0 of shape [2 3 4]", func() {
			y := Record("test.bad", tensor.Sum(x.value, false), []*Var{x}, func(_ *Ctx, g *Var) []*Var {
				return []*Var{Constant(tensor.Zeros(tensor.Float64, 2))}
			})
			_ = y.Backward()
		}},
		{"autograd.Checkpoint: a CreateGraph pass cannot go through a checkpoint", func() {
			y := Checkpoint(func(xs []*Var) *Var { return Sum(Square(xs[0]), false) }, x)
			_ = y.BackwardWith(BackwardOpts{CreateGraph: true})
		}},
	}
	for _, c := range cases {
		requireMisuse(t, c.want, c.f)
	}
}

// A failure of the recomputed pass inside a checkpoint's backward is a
// *tensor.Error that wraps the pass's error.
func TestCheckpointRecomputeErrorWraps(t *testing.T) {
	w := Param(tensor.FromSlice([]float64{1, 2}, 2))
	used := Sum(Square(w), false)
	require.NoError(t, used.Backward()) // frees used's graph
	y := Checkpoint(func([]*Var) *Var { return used }, Param(tensor.FromSlice([]float64{3}, 1)))
	err := tensor.Try(func() { _ = y.Backward() })
	var te *tensor.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, "autograd.Checkpoint", te.Op)
	require.ErrorIs(t, err, ErrGraphFreed)
}
