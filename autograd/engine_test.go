package autograd

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

func TestBackwardSimple(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	y := Sum(Mul(x, x), false)
	require.NoError(t, y.Backward())
	assert.Equal(t, []float64{2, 4, 6}, x.Grad().Float64s())
}

func TestBackwardExplicitGrad(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	y := MulScalar(x, 3)
	require.Error(t, y.Backward(), "non-scalar output needs an output gradient")
	require.NoError(t, y.Backward(tensor.FromSlice([]float64{1, 0, 2}, 3)))
	assert.Equal(t, []float64{3, 0, 6}, x.Grad().Float64s())
}

func TestBackwardErrors(t *testing.T) {
	c := Constant(tensor.FromSlice([]float64{1}, 1))
	require.Error(t, c.Backward())
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	y := Sum(x, false)
	require.Error(t, y.Backward(tensor.FromSlice([]float64{1, 2}, 2)), "wrong output-gradient shape")
	require.Panics(t, func() { Param(tensor.FromSlice([]int64{1}, 1)) })
}

func TestGradientAccumulation(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	for range 2 {
		y := Sum(Square(x), false)
		require.NoError(t, y.Backward())
	}
	assert.Equal(t, []float64{4, 8}, x.Grad().Float64s())
	x.ZeroGrad()
	assert.Equal(t, []float64{0, 0}, x.Grad().Float64s())
	require.NoError(t, Sum(x, false).Backward())
	assert.Equal(t, []float64{1, 1}, x.Grad().Float64s())
	x.SetGrad(nil)
	assert.Nil(t, x.Grad())
}

func TestSharedInputAndLeafGradsDoNotAlias(t *testing.T) {
	a := Param(tensor.FromSlice([]float64{1, 2}, 2))
	b := Param(tensor.FromSlice([]float64{3, 4}, 2))
	y := Add(a, b) // both gradients are the same upstream tensor
	seed := tensor.FromSlice([]float64{1, 1}, 2)
	require.NoError(t, y.Backward(seed))
	require.False(t, a.Grad().SharesStorage(b.Grad()))
	require.False(t, a.Grad().SharesStorage(seed))
	require.False(t, b.Grad().SharesStorage(seed))
	tensor.AddInto(a.Grad(), a.Grad(), a.Grad())
	assert.Equal(t, []float64{2, 2}, a.Grad().Float64s())
	assert.Equal(t, []float64{1, 1}, b.Grad().Float64s())
	assert.Equal(t, []float64{1, 1}, seed.Float64s())

	// An expanded (stride-0) gradient is made contiguous before it is stored.
	c := Param(tensor.FromSlice([]float64{1, 2}, 2, 1))
	require.NoError(t, Sum(Expand(c, 2, 3), false).Backward())
	require.True(t, c.Grad().IsContiguous())
	assert.Equal(t, []float64{3, 3}, c.Grad().Float64s())

	// The same input used twice gets the sum of both contributions.
	d := Param(tensor.FromSlice([]float64{2}, 1))
	require.NoError(t, Sum(Mul(d, d), false).Backward())
	assert.Equal(t, []float64{4}, d.Grad().Float64s())
}

func TestNoGradRecordsNothing(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	var y *Var
	NoGrad(func() {
		assert.False(t, IsGradEnabled())
		y = Sum(Mul(x, x), false)
	})
	assert.True(t, IsGradEnabled())
	assert.False(t, y.RequiresGrad())
	assert.True(t, y.IsLeaf())
	require.Error(t, y.Backward())
	assert.Nil(t, x.Grad())

	restore := DisableGrad()
	z := Exp(x)
	restore()
	restore() // idempotent
	assert.False(t, z.RequiresGrad())
	assert.True(t, IsGradEnabled())

	d := Detach(Mul(x, x))
	assert.False(t, d.RequiresGrad())
	assert.True(t, d.IsLeaf())
}

func TestRetainGraph(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	y := Sum(Exp(x), false)
	require.NoError(t, y.BackwardWith(BackwardOpts{RetainGraph: true}))
	g1 := x.Grad().Float64s()
	require.NoError(t, y.Backward())
	g2 := x.Grad().Float64s()
	assert.InDeltaSlice(t, []float64{2 * g1[0], 2 * g1[1]}, g2, 1e-12)
	err := y.Backward()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrGraphFreed))
}

func TestHooksFireOncePerLeafInReverseOrder(t *testing.T) {
	g := tensor.NewGenerator(7)
	w1 := Param(g.Normal(0, 1, tensor.Float64, 5, 4))
	b1 := Param(g.Normal(0, 1, tensor.Float64, 5))
	w2 := Param(g.Normal(0, 1, tensor.Float64, 3, 5))
	b2 := Param(g.Normal(0, 1, tensor.Float64, 3))
	x := Constant(g.Normal(0, 1, tensor.Float64, 8, 4))
	params := map[string]*Var{"w1": w1, "b1": b1, "w2": w2, "b2": b2}

	var order []string
	firstPass := true
	seen := map[string]*tensor.Tensor{}
	for _, name := range []string{"w1", "b1", "w2", "b2"} {
		p := params[name]
		p.RegisterHook(func(gr *tensor.Tensor) {
			order = append(order, name)
			seen[name] = gr.Clone()
			if firstPass && (name == "w2" || name == "b2") {
				// The first layer's gradients are not final yet: hooks
				// fire as each leaf completes, not all at the end.
				assert.Nil(t, w1.Grad())
			}
		})
	}
	loss := Mean(Square(Linear(Tanh(Linear(x, w1, b1)), w2, b2)), false)
	require.NoError(t, loss.Backward())
	require.Len(t, order, 4)
	assert.ElementsMatch(t, []string{"w2", "b2"}, order[:2])
	assert.ElementsMatch(t, []string{"w1", "b1"}, order[2:])
	for name, p := range params {
		assert.Equal(t, p.Grad().Float64s(), seen[name].Float64s(), name)
	}

	// Deterministic: a second identical pass fires in the same order.
	first := append([]string(nil), order...)
	order, firstPass = nil, false
	loss = Mean(Square(Linear(Tanh(Linear(x, w1, b1)), w2, b2)), false)
	require.NoError(t, loss.Backward())
	assert.Equal(t, first, order)

	// Hooks receive the accumulated gradient.
	assert.Equal(t, w1.Grad().Float64s(), seen["w1"].Float64s())
	w1.ClearHooks()
	require.Panics(t, func() { loss.RegisterHook(func(*tensor.Tensor) {}) })
}

func TestGradFunction(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	unused := Param(tensor.FromSlice([]float64{5}, 1))
	h := Mul(x, x)
	y := Sum(Mul(h, x), false) // Σ x³
	gs, err := Grad([]*Var{y}, []*Var{x, h, unused}, nil, BackwardOpts{})
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{3, 12, 27}, gs[0].Value().Float64s(), 1e-12)
	assert.InDeltaSlice(t, []float64{1, 2, 3}, gs[1].Value().Float64s(), 1e-12) // ∂y/∂h = x
	assert.Equal(t, []float64{0}, gs[2].Value().Float64s())
	assert.Nil(t, x.Grad(), "Grad does not accumulate")
}

func TestRetainGradOnNonLeaf(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	h := MulScalar(x, 3)
	h.RetainGrad()
	require.NoError(t, Sum(Square(h), false).Backward())
	assert.InDeltaSlice(t, []float64{6, 12}, h.Grad().Float64s(), 1e-12)
	assert.InDeltaSlice(t, []float64{18, 36}, x.Grad().Float64s(), 1e-12)
}

// TestHessianVectorProduct compares a create-graph Hessian-vector product
// with central differences of the gradient (float64, eps 1e-5, tol 1e-6).
func TestHessianVectorProduct(t *testing.T) {
	g := tensor.NewGenerator(3)
	w := g.Normal(0, 1, tensor.Float64, 4, 5)
	f := func(x *Var) *Var {
		h := Tanh(MatMul(Constant(w), x))
		return Add(Sum(PowScalar(h, 3), false), Sum(Mul(Exp(MulScalar(x, 0.3)), Sin(x)), false))
	}
	x0 := g.Normal(0, 1, tensor.Float64, 5)
	v := g.Normal(0, 1, tensor.Float64, 5)

	grad := func(xt *tensor.Tensor) *tensor.Tensor {
		x := Param(xt)
		gs, err := Grad([]*Var{f(x)}, []*Var{x}, nil, BackwardOpts{})
		require.NoError(t, err)
		return gs[0].Value()
	}
	x := Param(x0)
	gs, err := Grad([]*Var{f(x)}, []*Var{x}, nil, BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	require.True(t, gs[0].RequiresGrad())
	gv := Sum(Mul(gs[0], Constant(v)), false)
	require.NoError(t, gv.Backward())
	hvp := x.Grad().Float64s()

	const eps = 1e-5
	gp := grad(tensor.Add(x0, tensor.MulScalar(v, eps)))
	gm := grad(tensor.Sub(x0, tensor.MulScalar(v, eps)))
	num := tensor.MulScalar(tensor.Sub(gp, gm), 1/(2*eps)).Float64s()
	assert.InDeltaSlice(t, num, hvp, 1e-6)
}

func TestCreateGraphBackwardGradVar(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{2}, 1))
	y := Sum(PowScalar(x, 3), false)
	require.NoError(t, y.BackwardWith(BackwardOpts{CreateGraph: true}))
	gx := x.GradVar() // 3x² = 12
	assert.InDelta(t, 12, gx.Item(), 1e-12)
	require.True(t, gx.RequiresGrad())
	x.SetGrad(nil)
	require.NoError(t, Sum(gx, false).Backward())
	assert.InDelta(t, 12, x.Grad().Item(), 1e-12) // 6x
}

func TestConcurrentGraphs(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := Param(tensor.Full(float64(i), tensor.Float64, 16))
			for range 20 {
				x.SetGrad(nil)
				y := Sum(Mul(Tanh(x), x), false)
				if err := y.Backward(); err != nil {
					errs[i] = err
					return
				}
			}
			want := tensor.Add(tensor.Tanh(x.Value()), tensor.Mul(x.Value(), tensor.Sub(tensor.OnesLike(x.Value()), tensor.Square(tensor.Tanh(x.Value())))))
			if !tensor.AllClose(x.Grad(), want, 1e-12, 1e-12) {
				errs[i] = fmt.Errorf("goroutine %d: wrong gradient", i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestSetValueAndAccessors(t *testing.T) {
	x := Param(tensor.FromSlice([]float32{1, 2}, 2))
	v := x.Value()
	x.SetValue(tensor.FromSlice([]float64{3, 4}, 2))
	assert.Same(t, v, x.Value())
	assert.Equal(t, []float32{3, 4}, x.Value().Float32s())
	require.Panics(t, func() { x.SetValue(tensor.Zeros(tensor.Float32, 3)) })
	require.Panics(t, func() { x.SetGrad(tensor.Zeros(tensor.Float32, 3)) })
	assert.True(t, x.IsLeaf())
	assert.Equal(t, "", x.Op())
	y := Exp(x)
	assert.Equal(t, "autograd.Exp", y.Op())
	assert.Contains(t, y.String(), "autograd.Exp")
}

func TestMixedDTypeGradientIsCastBack(t *testing.T) {
	a := Param(tensor.FromSlice([]float32{1, 2}, 2))
	b := Param(tensor.FromSlice([]float64{3, 4}, 2))
	y := Sum(Mul(a, b), false) // promoted to float64
	require.NoError(t, y.Backward())
	assert.Equal(t, tensor.Float32, a.Grad().DType())
	assert.Equal(t, []float32{3, 4}, a.Grad().Float32s())
}

// TestNoGradIsPerGoroutine: a NoGrad scope in one goroutine does not stop
// another goroutine from recording.
func TestNoGradIsPerGoroutine(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	inScope := make(chan struct{})
	done := make(chan struct{})
	go func() {
		NoGrad(func() {
			close(inScope)
			<-done
		})
	}()
	<-inScope
	y := Mul(x, x)
	assert.True(t, IsGradEnabled())
	assert.True(t, y.RequiresGrad())
	close(done)

	var inner *Var
	var wg sync.WaitGroup
	NoGrad(func() {
		wg.Add(1)
		go func() { // a goroutine started inside a scope records normally
			defer wg.Done()
			inner = Exp(x)
		}()
		wg.Wait()
		assert.False(t, Exp(x).RequiresGrad())
	})
	assert.True(t, inner.RequiresGrad())
}

// A pass that fails on a freed graph changes no gradient.
func TestFreedGraphPassChangesNothing(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2}, 2))
	w := Param(tensor.FromSlice([]float64{3, 4}, 2))
	h := Mul(x, x)
	require.NoError(t, Sum(h, false).Backward()) // frees h's node
	before := x.Grad().Float64s()
	y := Sum(Mul(h, w), false) // new graph on top of the freed one
	require.ErrorIs(t, y.Backward(), ErrGraphFreed)
	assert.Equal(t, before, x.Grad().Float64s())
	assert.Nil(t, w.Grad())
}

func TestBackwardFromLeaf(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{5}, 1))
	require.NoError(t, x.Backward())
	assert.Equal(t, []float64{1}, x.Grad().Float64s())
	seed := tensor.FromSlice([]float64{2}, 1)
	require.NoError(t, x.Backward(seed))
	assert.Equal(t, []float64{3}, x.Grad().Float64s())
	assert.Equal(t, []float64{2}, seed.Float64s())
}

// Hooks may hand the gradient to another goroutine (as a data-parallel
// trainer starts an all-reduce) while the pass goes on: the tensor a hook
// receives is not touched again by the pass (run with -race).
func TestHooksOverlapWithBackward(t *testing.T) {
	g := tensor.NewGenerator(9)
	var layers []*Var
	x := Constant(g.Normal(0, 1, tensor.Float32, 16, 32))
	h := x
	for range 4 {
		w := Param(g.Normal(0, 0.2, tensor.Float32, 32, 32))
		layers = append(layers, w)
		h = Tanh(MatMul(h, w))
	}
	var wg sync.WaitGroup
	sums := make([]float64, len(layers))
	for i, w := range layers {
		w.RegisterHook(func(gr *tensor.Tensor) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tensor.MulInto(gr, gr, tensor.Scalar(1, tensor.Float32)) // an in-place "all-reduce"
				sums[i] = tensor.Sum(gr, false).Item()
			}()
		})
	}
	require.NoError(t, Sum(h, false).Backward())
	wg.Wait()
	for i, w := range layers {
		assert.InDelta(t, tensor.Sum(w.Grad(), false).Item(), sums[i], 1e-3)
	}
}
