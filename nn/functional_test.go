package nn

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// requireTensorError asserts that f panics with a *tensor.Error whose
// message contains want.
func requireTensorError(t *testing.T, want string, f func()) {
	t.Helper()
	err := tensor.Try(f)
	require.Error(t, err)
	var te *tensor.Error
	require.True(t, errors.As(err, &te))
	assert.Contains(t, err.Error(), want)
}

func convNet() *Sequential {
	k3 := tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}
	return NewSequential(
		NewConv2d(gen(), 2, 3, k3, 1, true, f64), NewReLU(), NewMaxPool2d(2, 2, 0),
		NewFlatten(), NewLinear(gen(), 3*2*2, 4, true, f64), NewTanh(), NewLinear(gen(), 4, 2, true, f64))
}

// paramValues returns copies of the values of m's parameters.
func paramValues(m Module) []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, p := range m.Parameters() {
		out = append(out, p.Param.Value().Clone())
	}
	return out
}

func TestFunctionalCallMatchesLoadedModel(t *testing.T) {
	m := convNet()
	x := autograd.Constant(randn(3, 2, 4, 4))
	before := paramValues(m)
	vars := Params(m)

	// New values for every other parameter.
	sub := map[string]*autograd.Var{}
	ref := Clone(m)
	for i, p := range m.Parameters() {
		if i%2 == 1 {
			continue
		}
		nv := autograd.Param(randn(p.Param.Shape()...))
		sub[p.Name] = nv
		ref.Parameters()[i].Param.SetValue(nv.Value())
	}
	got := FunctionalCall(m, sub, x)
	want := ref.Forward(x)
	assert.True(t, tensor.AllClose(got.Value(), want.Value(), 1e-12, 1e-12))

	// m is untouched: same Vars, same values, and its output differs.
	for i, p := range m.Parameters() {
		assert.Same(t, vars[i], p.Param)
		assert.True(t, tensor.Equal(before[i], p.Param.Value()), p.Name)
	}
	assert.False(t, tensor.AllClose(m.Forward(x).Value(), got.Value(), 1e-6, 1e-6))

	// The gradient flows into the substitutes and into the shared originals.
	ZeroGrad(m)
	require.NoError(t, autograd.Sum(got, false).Backward())
	for i, p := range m.Parameters() {
		if i%2 == 0 {
			assert.Nil(t, p.Param.Grad(), p.Name)
			assert.NotNil(t, sub[p.Name].Grad(), p.Name)
		} else {
			require.NotNil(t, p.Param.Grad(), p.Name)
		}
	}
	ZeroGrad(ref)
	require.NoError(t, autograd.Sum(ref.Forward(x), false).Backward())
	for i, p := range ref.Parameters() {
		g := sub[p.Name]
		if i%2 == 1 {
			g = m.Parameters()[i].Param
		}
		assert.True(t, tensor.AllClose(g.Grad(), p.Param.Grad(), 1e-12, 1e-12), p.Name)
	}
}

func TestWithParamList(t *testing.T) {
	m := NewSequential(NewLinear(gen(), 3, 2, true, f64))
	w, b := autograd.Param(randn(2, 3)), autograd.Param(randn(2))
	v := WithParamList(m, []*autograd.Var{w, b})
	assert.Same(t, w, v.Parameters()[0].Param)
	assert.Same(t, b, v.Parameters()[1].Param)
	x := autograd.Constant(randn(4, 3))
	want := tensor.Add(tensor.MatMul(x.Value(), w.Value().T()), b.Value())
	assert.True(t, tensor.AllClose(v.Forward(x).Value(), want, 1e-12, 1e-12))
	requireTensorError(t, "1 Vars for 2 parameters", func() { WithParamList(m, []*autograd.Var{w}) })
}

func TestWithParamsErrors(t *testing.T) {
	m := NewSequential(NewLinear(gen(), 2, 3, true))
	requireTensorError(t, "0.weight", func() {
		WithParams(m, map[string]*autograd.Var{"0.weight": autograd.Param(tensor.Zeros(tensor.Float32, 2, 2))})
	})
	requireTensorError(t, "0.nope", func() {
		WithParams(m, map[string]*autograd.Var{"0.nope": autograd.Param(tensor.Zeros(tensor.Float32, 3))})
	})
	requireTensorError(t, "does not embed nn.Base", func() { Clone[Module](NewSequential(bare{})) })
}

// bare is a Module that does not embed Base.
type bare struct{}

func (bare) Forward(x *autograd.Var) *autograd.Var         { return x }
func (bare) Parameters() []NamedParam                      { return nil }
func (bare) Buffers() []NamedBuffer                        { return nil }
func (bare) Train(bool)                                    {}
func (bare) Training() bool                                { return false }
func (bare) StateDict() map[string]*tensor.Tensor          { return nil }
func (bare) LoadStateDict(map[string]*tensor.Tensor) error { return nil }

// custom is a module holding its children in unexported fields, a slice
// and a map, with one parameter tied between two children.
type custom struct {
	Base
	enc   *Linear
	heads []Module
	byKey map[string]*Linear
	scale *autograd.Var
}

func newCustom() *custom {
	c := &custom{}
	c.training = true
	c.enc = NewLinear(gen(), 3, 4, true, f64)
	h1, h2 := NewLinear(gen(), 4, 2, false, f64), NewLinear(gen(), 4, 2, false, f64)
	h2.Weight = h1.Weight // tied
	h2.params[0].slot = &h2.Weight
	c.heads = []Module{h1, h2}
	c.byKey = map[string]*Linear{"a": h1}
	c.scale = autograd.Param(randn(1))
	c.RegisterModule("enc", c.enc)
	c.RegisterModule("h1", h1)
	c.RegisterModule("h2", h2)
	c.RegisterParam("scale", &c.scale)
	return c
}

func (c *custom) Forward(x *autograd.Var) *autograd.Var {
	h := autograd.Tanh(c.enc.Forward(x))
	y := autograd.Add(c.heads[0].Forward(h), c.heads[1].Forward(h))
	return autograd.Mul(autograd.Add(y, c.byKey["a"].Forward(h)), c.scale)
}

func TestCloneIsDeepAndIndependent(t *testing.T) {
	m := newCustom()
	x := autograd.Constant(randn(5, 3))
	want := m.Forward(x).Value().Clone()
	c := Clone(m)
	assert.True(t, tensor.AllClose(c.Forward(x).Value(), want, 0, 0))

	// Every internal reference points into the copy.
	assert.NotSame(t, m.enc, c.enc)
	assert.Same(t, c.Children()[0], c.enc)
	assert.Same(t, c.Children()[1], c.heads[0])
	assert.Same(t, c.Children()[1], c.byKey["a"])
	assert.Same(t, c.heads[0].(*Linear).Weight, c.heads[1].(*Linear).Weight, "tied weight stays tied")
	assert.NotSame(t, m.heads[0], c.heads[0])
	assert.Same(t, m.Children()[1], m.heads[0], "original's slice untouched")
	for i, p := range c.Parameters() {
		assert.NotSame(t, m.Parameters()[i].Param, p.Param)
		assert.True(t, p.Param.RequiresGrad())
	}

	// Changing the copy's values leaves the original alone.
	for _, p := range c.Parameters() {
		p.Param.SetValue(randn(p.Param.Shape()...))
	}
	assert.True(t, tensor.AllClose(m.Forward(x).Value(), want, 0, 0))
	assert.False(t, tensor.AllClose(c.Forward(x).Value(), want, 1e-6, 1e-6))
	// Gradients of the copy land on the copy only.
	ZeroGrad(m)
	require.NoError(t, autograd.Sum(c.Forward(x), false).Backward())
	for i, p := range m.Parameters() {
		assert.Nil(t, p.Param.Grad(), p.Name)
		assert.NotNil(t, c.Parameters()[i].Param.Grad())
	}
}

func TestCloneBuffersAndGenerators(t *testing.T) {
	g := gen()
	m := NewSequential(NewLinear(gen(), 3, 4, true, f64), NewBatchNorm1d(4, f64), NewDropout(g, 0.5))
	c := Clone(m)
	x := autograd.Constant(randn(6, 3))
	// Same dropout stream from the same state, drawn independently.
	ym, yc := m.Forward(x), c.Forward(x)
	assert.True(t, tensor.AllClose(ym.Value(), yc.Value(), 0, 0))
	bm, bc := m.Layers[1].(*BatchNorm), c.Layers[1].(*BatchNorm)
	assert.NotSame(t, bm.RunningMean, bc.RunningMean)
	assert.Same(t, bc.RunningMean, c.Buffers()[0].Buffer)
	assert.Same(t, bc.RunningVar, c.Buffers()[1].Buffer)
	assert.NotSame(t, m.Layers[2].(*Dropout).G, c.Layers[2].(*Dropout).G)
	// A further training pass of the copy moves only its statistics.
	before := bm.RunningMean.Clone()
	c.Forward(autograd.Constant(randn(6, 3)))
	assert.True(t, tensor.Equal(before, bm.RunningMean))
	assert.False(t, tensor.Equal(before, bc.RunningMean))
	// Evaluation mode is per copy.
	c.Train(false)
	assert.True(t, m.Training())
	assert.False(t, c.Layers[1].Training())
}

func TestCloneAttention(t *testing.T) {
	m := NewMultiHeadAttention(gen(), 4, 2, true, f64)
	c := Clone(m)
	x := autograd.Constant(randn(2, 3, 4))
	assert.True(t, tensor.AllClose(m.Forward(x).Value(), c.Forward(x).Value(), 0, 0))
	assert.Same(t, c.Children()[0], c.Q)
	assert.Same(t, c.Children()[3], c.Out)
	c.Q.Weight.SetValue(randn(4, 4))
	assert.False(t, tensor.AllClose(m.Forward(x).Value(), c.Forward(x).Value(), 1e-6, 1e-6))
}

func TestSnapshotRestore(t *testing.T) {
	m := NewSequential(NewLinear(gen(), 3, 4, true, f64), NewBatchNorm1d(4, f64))
	vars := Params(m)
	s := TakeSnapshot(m)
	x := autograd.Constant(randn(5, 3))
	m.Train(false)
	want := m.Forward(x).Value().Clone()
	m.Train(true)
	for _, p := range vars {
		p.SetValue(randn(p.Shape()...))
	}
	m.Forward(autograd.Constant(randn(5, 3))) // moves the running statistics
	m.Train(false)
	assert.False(t, tensor.AllClose(m.Forward(x).Value(), want, 1e-6, 1e-6))
	s.Restore(m)
	assert.True(t, tensor.AllClose(m.Forward(x).Value(), want, 0, 0))
	for i, p := range Params(m) {
		assert.Same(t, vars[i], p, "restore keeps the Vars")
	}
	// Capture reuses the snapshot's tensors.
	held := s.Params[0]
	vars[0].SetValue(randn(vars[0].Shape()...))
	s.Capture(m)
	assert.Same(t, held, s.Params[0])
	assert.True(t, tensor.Equal(held, vars[0].Value()))
	requireTensorError(t, "snapshot of", func() { s.Restore(NewLinear(gen(), 3, 4, true, f64)) })
}

// TestFunctionalCallConcurrent runs functional calls of one module from
// several goroutines (under -race in make race) and checks each against a
// sequential reference.
func TestFunctionalCallConcurrent(t *testing.T) {
	m := convNet()
	const n = 4
	xs := make([]*autograd.Var, n)
	subs := make([]map[string]*autograd.Var, n)
	for i := range n {
		xs[i] = autograd.Constant(randn(2, 2, 4, 4))
		subs[i] = map[string]*autograd.Var{}
		for _, p := range m.Parameters() {
			subs[i][p.Name] = autograd.Param(randn(p.Param.Shape()...))
		}
	}
	got := make([]*tensor.Tensor, n)
	grads := make([][]*autograd.Var, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out := FunctionalCall(m, subs[i], xs[i])
			got[i] = out.Value()
			vs := make([]*autograd.Var, 0, len(subs[i]))
			for _, p := range m.Parameters() {
				vs = append(vs, subs[i][p.Name])
			}
			g, err := autograd.Grad([]*autograd.Var{autograd.Sum(out, false)}, vs, nil, autograd.BackwardOpts{})
			if err == nil {
				grads[i] = g
			}
		})
	}
	wg.Wait()
	for i := range n {
		out := FunctionalCall(m, subs[i], xs[i])
		assert.True(t, tensor.AllClose(got[i], out.Value(), 0, 0))
		require.NotNil(t, grads[i])
		vs := make([]*autograd.Var, 0)
		for _, p := range m.Parameters() {
			vs = append(vs, subs[i][p.Name])
		}
		g, err := autograd.Grad([]*autograd.Var{autograd.Sum(out, false)}, vs, nil, autograd.BackwardOpts{})
		require.NoError(t, err)
		for j := range g {
			assert.True(t, tensor.AllClose(grads[i][j].Value(), g[j].Value(), 1e-12, 1e-12))
		}
	}
}
