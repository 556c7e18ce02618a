package autograd

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// twoLayer builds tanh(x·W1ᵀ+b1)·W2ᵀ+b2 summed with weights, from params.
func twoLayerLoss(x *Var, ps []*Var) *Var {
	h := Tanh(Linear(x, ps[0], ps[1]))
	y := Linear(h, ps[2], ps[3])
	return Sum(Mul(y, y), false)
}

func newTwoLayer(g *tensor.Generator) []*Var {
	return []*Var{
		Param(g.Normal(0, 1, tensor.Float64, 5, 4)), Param(g.Normal(0, 1, tensor.Float64, 5)),
		Param(g.Normal(0, 1, tensor.Float64, 3, 5)), Param(g.Normal(0, 1, tensor.Float64, 3)),
	}
}

// bindFlat gives every parameter a gradient buffer that is a view into one
// flat tensor, as a data-parallel bucket does.
func bindFlat(ps []*Var) *tensor.Tensor {
	n := 0
	for _, p := range ps {
		n += p.Value().NumElements()
	}
	flat := tensor.Full(7, tensor.Float64, n) // garbage: must never leak into a gradient
	off := 0
	for _, p := range ps {
		k := p.Value().NumElements()
		p.SetGradBuffer(flat.Narrow(0, off, k).Reshape(p.Shape()...))
		off += k
	}
	return flat
}

func TestSetGradBufferAccumulatesInPlace(t *testing.T) {
	g := tensor.NewGenerator(3)
	ref := newTwoLayer(g)
	ps := make([]*Var, len(ref))
	for i, p := range ref {
		ps[i] = Param(p.Value().Clone())
	}
	x := Constant(g.Normal(0, 1, tensor.Float64, 6, 4))
	flat := bindFlat(ps)
	for _, p := range ps {
		assert.Equal(t, 0.0, tensor.Sum(tensor.Abs(p.Grad()), false).Item(), "a fresh buffer reads as zero")
	}
	flat.CopyFrom(tensor.Full(7, tensor.Float64, flat.NumElements())) // Grad materialised zeros; garbage again
	for _, p := range ps {
		p.ZeroGrad()
	}

	hooked := 0
	for _, p := range ps {
		p.RegisterHook(func(gr *tensor.Tensor) {
			assert.True(t, gr.SharesStorage(flat), "the hook sees the bucket view")
			hooked++
		})
	}
	require.NoError(t, twoLayerLoss(x, ref).Backward())
	require.NoError(t, twoLayerLoss(x, ps).Backward())
	assert.Equal(t, 4, hooked)
	off := 0
	for i, p := range ps {
		gr := p.Grad()
		require.True(t, gr.SharesStorage(flat), "param %d's gradient must stay in the flat buffer", i)
		want := ref[i].Grad().Float64s()
		assert.InDeltaSlice(t, want, gr.Float64s(), 1e-12)
		k := len(want)
		assert.InDeltaSlice(t, want, flat.Narrow(0, off, k).Float64s(), 1e-12)
		off += k
	}

	// A second pass accumulates into the same buffer.
	require.NoError(t, twoLayerLoss(x, ps).Backward())
	for i, p := range ps {
		require.True(t, p.Grad().SharesStorage(flat))
		want := tensor.MulScalar(ref[i].Grad(), 2).Float64s()
		assert.InDeltaSlice(t, want, p.Grad().Float64s(), 1e-12)
	}

	// ZeroGrad keeps the binding; the next pass overwrites the stale sums.
	for _, p := range ps {
		p.ZeroGrad()
	}
	require.NoError(t, twoLayerLoss(x, ps).Backward())
	for i, p := range ps {
		require.True(t, p.Grad().SharesStorage(flat))
		assert.InDeltaSlice(t, ref[i].Grad().Float64s(), p.Grad().Float64s(), 1e-12)
	}
}

func TestSetGradBufferSharedUseAndExistingGrad(t *testing.T) {
	g := tensor.NewGenerator(5)
	w := Param(g.Normal(0, 1, tensor.Float64, 3, 3))
	x := Constant(g.Normal(0, 1, tensor.Float64, 2, 3))
	loss := func() *Var { return Sum(Square(MatMul(MatMul(x, w), w)), false) } // w used twice

	ref := Param(w.Value().Clone())
	require.NoError(t, Sum(Square(MatMul(MatMul(x, ref), ref)), false).Backward())

	// An existing gradient is carried into the buffer.
	require.NoError(t, loss().Backward())
	buf := tensor.Full(-3, tensor.Float64, 3, 3)
	w.SetGradBuffer(buf)
	assert.InDeltaSlice(t, ref.Grad().Float64s(), buf.Float64s(), 1e-12)
	require.NoError(t, loss().Backward())
	assert.Same(t, buf, w.Grad())
	assert.InDeltaSlice(t, tensor.MulScalar(ref.Grad(), 2).Float64s(), buf.Float64s(), 1e-12)

	// SetGrad ends the binding: the buffer is no longer written.
	w.SetGrad(nil)
	before := buf.Clone()
	require.NoError(t, loss().Backward())
	assert.NotSame(t, buf, w.Grad())
	assert.Equal(t, before.Float64s(), buf.Float64s())
	assert.InDeltaSlice(t, ref.Grad().Float64s(), w.Grad().Float64s(), 1e-12)

	// SetGradBuffer(nil) ends it too, keeping the gradient where it is.
	w.SetGradBuffer(buf)
	w.SetGradBuffer(nil)
	w.ZeroGrad()
	require.NoError(t, loss().Backward())
	assert.InDeltaSlice(t, ref.Grad().Float64s(), w.Grad().Float64s(), 1e-12)
}

func TestSetGradBufferCreateGraphEndsBinding(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	buf := tensor.Zeros(tensor.Float64, 3)
	x.SetGradBuffer(buf)
	require.NoError(t, Sum(Mul(Mul(x, x), x), false).BackwardWith(BackwardOpts{CreateGraph: true}))
	assert.Equal(t, []float64{3, 12, 27}, x.Grad().Float64s())
	gv := x.GradVar()
	require.True(t, gv.RequiresGrad(), "the create-graph gradient stays differentiable")
	assert.NotSame(t, buf, x.Grad())
}

func TestSetGradBufferMisuse(t *testing.T) {
	x := Param(tensor.Ones(tensor.Float32, 2, 3))
	var te *tensor.Error
	for name, buf := range map[string]*tensor.Tensor{
		"shape":      tensor.Zeros(tensor.Float32, 3, 2),
		"dtype":      tensor.Zeros(tensor.Float64, 2, 3),
		"contiguous": tensor.Zeros(tensor.Float32, 3, 2).T(),
	} {
		err := tensor.Try(func() { x.SetGradBuffer(buf) })
		require.Error(t, err, name)
		assert.True(t, errors.As(err, &te), name)
	}
	y := MulScalar(x, 2)
	err := tensor.Try(func() { y.SetGradBuffer(tensor.Zeros(tensor.Float32, 2, 3)) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "leaves")
}
