package autograd

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// tempNet is a small network whose first-order backward pass goes through
// every rule that writes into backward temporaries: Linear (input and
// weight products), ReLU, Square, Mul (broadcast), MulScalar/Mean, Sum,
// Sub, Neg and Add (whose identity rule hands one temporary to two
// consumers). The input x is a leaf, so its gradient is a temporary that
// the leaf keeps.
type tempNet struct {
	x, w1, b1, w2, b2, w3, s *Var
}

func newTempNet(g *tensor.Generator, dt tensor.DType, batch int) *tempNet {
	p := func(shape ...int) *Var { return Param(g.Normal(0, 0.5, dt, shape...)) }
	return &tempNet{x: p(batch, 3), w1: p(8, 3), b1: p(8), w2: p(8, 8), b2: p(8), w3: p(2, 8), s: p(1, 2)}
}

func (n *tempNet) params() []*Var { return []*Var{n.x, n.w1, n.b1, n.w2, n.b2, n.w3, n.s} }

// to64 returns the same net in float64 (new leaves).
func (n *tempNet) to64() *tempNet {
	c := func(v *Var) *Var { return Param(v.Value().Cast(tensor.Float64)) }
	return &tempNet{x: c(n.x), w1: c(n.w1), b1: c(n.b1), w2: c(n.w2), b2: c(n.b2), w3: c(n.w3), s: c(n.s)}
}

// loss returns the loss and the hidden activation h (a non-leaf).
func (n *tempNet) loss(y *tensor.Tensor) (*Var, *Var) {
	h := ReLU(Linear(n.x, n.w1, n.b1))
	h2 := ReLU(Add(Linear(h, n.w2, n.b2), h)) // h reaches the loss twice
	out := Mul(Linear(h2, n.w3, nil), n.s)    // s broadcasts over the batch
	d := Sub(out, Constant(y.Cast(out.DType())))
	l := Add(Mean(Square(d), false), MulScalar(Sum(Neg(out), false), 0.1))
	return l, h
}

// createGraphGrads returns the gradients of the loss on y with respect to
// the net's parameters from a create-graph pass (the autograd ops that the
// first-order rules replace).
func (n *tempNet) createGraphGrads(t *testing.T, y *tensor.Tensor) [][]float64 {
	l, _ := n.loss(y)
	ref, err := Grad([]*Var{l}, n.params(), nil, BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	r := make([][]float64, len(ref))
	for i, v := range ref {
		r[i] = v.Value().Float64s()
	}
	return r
}

func gradsOf(vs []*Var) [][]float64 {
	r := make([][]float64, len(vs))
	for i, v := range vs {
		r[i] = v.Grad().Float64s()
	}
	return r
}

// The first-order pass (backward temporaries, Into forms) gives the same
// gradients as the create-graph pass (the autograd ops they replace), and
// both agree with a float64 run.
func TestBackwardTempsMatchOps(t *testing.T) {
	g := tensor.NewGenerator(11)
	for _, batch := range []int{1, 5, 10} {
		net := newTempNet(g, tensor.Float32, batch)
		y := g.Normal(0, 1, tensor.Float32, batch, 2)
		for step := range 3 { // later steps add into zeroed buffers (Ctx.GradBuffer)
			for _, p := range net.params() {
				p.ZeroGrad()
			}
			l, _ := net.loss(y)
			require.NoError(t, l.Backward())
			got := gradsOf(net.params())
			for i, r := range net.createGraphGrads(t, y) {
				assert.Equal(t, r, got[i], "batch %d step %d param %d", batch, step, i)
			}

			n64 := net.to64()
			l64, _ := n64.loss(y)
			require.NoError(t, l64.Backward())
			for i, w := range gradsOf(n64.params()) {
				for j := range w {
					assert.InDelta(t, w[j], got[i][j], 1e-5*(1+math.Abs(w[j])), "batch %d param %d element %d", batch, i, j)
				}
			}
		}
	}
}

// Gradients handed to the caller are never recycled: a leaf's Grad (made
// from a temporary), and the results of Grad for a non-leaf (whose
// temporary the pass then consumes), stay intact through later passes
// that recycle temporaries of the same sizes.
func TestBackwardTempsKeptGradients(t *testing.T) {
	g := tensor.NewGenerator(12)
	net := newTempNet(g, tensor.Float32, 10)
	y := g.Normal(0, 1, tensor.Float32, 10, 2)
	l, h := net.loss(y)
	hg, err := Grad([]*Var{l}, []*Var{h, net.x}, nil, BackwardOpts{})
	require.NoError(t, err)
	l, _ = net.loss(y)
	require.NoError(t, l.Backward())
	kept := []*tensor.Tensor{hg[0].Value(), hg[1].Value()}
	for _, p := range net.params() {
		kept = append(kept, p.Grad())
		p.SetGrad(nil) // the next passes start afresh, as if the caller took the gradient
	}
	want := make([][]float32, len(kept))
	for i, k := range kept {
		want[i] = k.Clone().Float32s()
	}
	for range 20 {
		y2 := g.Normal(0, 1, tensor.Float32, 10, 2)
		l2, h2 := net.loss(y2)
		_, err := Grad([]*Var{l2}, []*Var{h2}, nil, BackwardOpts{})
		require.NoError(t, err)
		l2, _ = net.loss(y2)
		require.NoError(t, l2.Backward())
		for _, p := range net.params() {
			p.SetGrad(nil)
		}
	}
	for i, k := range kept {
		require.Equal(t, want[i], k.Float32s(), "kept gradient %d", i)
	}
}

// A gradient the caller holds across a second backward pass into the same
// leaves is accumulated into as documented (autograd owns the buffer) but
// never overwritten by a recycled temporary.
func TestBackwardTempsHeldGradAccumulates(t *testing.T) {
	g := tensor.NewGenerator(13)
	net := newTempNet(g, tensor.Float32, 4)
	y := g.Normal(0, 1, tensor.Float32, 4, 2)
	l, _ := net.loss(y)
	require.NoError(t, l.Backward())
	held := net.x.Grad()
	first := held.Clone()
	l, _ = net.loss(y)
	require.NoError(t, l.Backward())
	// the same loss twice: the held buffer now holds twice the gradient
	// (when autograd added into it) or is untouched (when it replaced it)
	now := net.x.Grad()
	f, h, n := first.Float32s(), held.Float32s(), now.Float32s()
	for i := range f {
		require.Equal(t, 2*f[i], n[i])
		if held != now {
			require.Equal(t, f[i], h[i])
		}
	}
}

// Concurrent passes over graphs that share parameters recycle temporaries
// through one cache; every pass must still get its own exact gradients
// (run under -race).
func TestBackwardTempsConcurrent(t *testing.T) {
	g := tensor.NewGenerator(14)
	net := newTempNet(g, tensor.Float32, 10)
	const workers, iters = 4, 25
	ys := make([]*tensor.Tensor, workers)
	want := make([][]*tensor.Tensor, workers)
	for w := range ys {
		ys[w] = g.Normal(0, 1, tensor.Float32, 10, 2)
		l, _ := net.loss(ys[w])
		r, err := Grad([]*Var{l}, net.params(), nil, BackwardOpts{})
		require.NoError(t, err)
		for _, v := range r {
			want[w] = append(want[w], v.Value().Clone())
		}
	}
	var wg sync.WaitGroup
	errs := make([]string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range iters {
				l, _ := net.loss(ys[w])
				r, err := Grad([]*Var{l}, net.params(), nil, BackwardOpts{})
				if err != nil {
					errs[w] = err.Error()
					return
				}
				for i, v := range r {
					a, b := v.Value().Float32s(), want[w][i].Float32s()
					for j := range a {
						if a[j] != b[j] {
							errs[w] = "gradient differs"
							return
						}
					}
				}
			}
		}()
	}
	within(t, 60e9, wg.Wait)
	for _, e := range errs {
		require.Empty(t, e)
	}
}

// Temporaries go back to the cache: a first-order pass over the same graph
// shape takes them again instead of allocating, and a create-graph pass
// makes none.
func TestBackwardTempsRecycled(t *testing.T) {
	g := tensor.NewGenerator(15)
	net := newTempNet(g, tensor.Float32, 10)
	y := g.Normal(0, 1, tensor.Float32, 10, 2)
	step := func() {
		for _, p := range net.params() {
			p.ZeroGrad()
		}
		l, _ := net.loss(y)
		require.NoError(t, l.Backward())
	}
	step()
	step()
	require.Greater(t, tempPool.Cached(), int64(0))
	before := tensor.MemoryStats(tensor.CPU).Cached
	step()
	assert.Equal(t, before, tensor.MemoryStats(tensor.CPU).Cached, "a pass returns what it takes")
}

// Recycled temporaries come back dirty: every rule must overwrite its
// whole output. Fill the cached tensors of the net's sizes with NaN and
// check that a pass still gives the create-graph pass's gradients.
func TestBackwardTempsDirty(t *testing.T) {
	g := tensor.NewGenerator(16)
	const batch = 6
	net := newTempNet(g, tensor.Float32, batch)
	y := g.Normal(0, 1, tensor.Float32, batch, 2)
	for _, p := range net.params() {
		p.ZeroGrad()
	}
	l, _ := net.loss(y)
	require.NoError(t, l.Backward())
	for _, n := range []int{1, 2, 8, 16, 24, 64, batch * 2, batch * 3, batch * 8} {
		var ts []*tensor.Tensor
		for range 6 {
			x := tempPool.Get(tensor.Float32, n)
			x.Device().Fill(x.View(), math.NaN())
			ts = append(ts, x)
		}
		for _, x := range ts {
			tempPool.Put(x)
		}
	}
	for _, p := range net.params() {
		p.ZeroGrad()
	}
	l, _ = net.loss(y)
	require.NoError(t, l.Backward())
	got := gradsOf(net.params())
	for i, r := range net.createGraphGrads(t, y) {
		require.Equal(t, r, got[i], "param %d", i)
	}
}

// spy records the storage of the gradient its rule receives and passes a
// copy of it on, in a backward temporary of the pass whose storage it
// records too.
func spy(x *Var, seen *[]tensor.Storage) *Var {
	return Record("spy", x.Value(), []*Var{x}, func(c *Ctx, g *Var) []*Var {
		*seen = append(*seen, g.Value().Storage())
		if c.CreateGraph() {
			return []*Var{g}
		}
		t := c.emptyLike(g.Value())
		t.CopyFrom(g.Value())
		*seen = append(*seen, t.Storage())
		return []*Var{Constant(t)}
	})
}

// A rule of one input writes its result into its output gradient's buffer
// when the pass may donate it (a temporary nobody else views), and the
// gradients stay those of the create-graph pass.
func TestBackwardDonation(t *testing.T) {
	g := tensor.NewGenerator(17)
	x := Param(g.Normal(0, 1, tensor.Float32, 4, 6))
	var seen []tensor.Storage
	loss := func() *Var {
		seen = seen[:0]
		return Sum(Square(spy(Neg(MulScalar(ReLU(spy(x, &seen)), 3)), &seen)), false)
	}
	require.NoError(t, loss().Backward())
	// backward order: the outer spy (received, sent), then Neg, MulScalar
	// and ReLU in the buffer it sent, then the inner spy
	require.Len(t, seen, 4)
	assert.NotSame(t, seen[0], seen[1])
	assert.Same(t, seen[1], seen[2], "Neg, MulScalar and ReLU wrote into the outer spy's temporary")
	ref, err := Grad([]*Var{loss()}, []*Var{x}, nil, BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	assert.Equal(t, ref[0].Value().Float32s(), x.Grad().Float32s())
}

// A gradient that two rules of one input receive (Add hands the same
// temporary to both inputs), or that Grad hands out, is never donated.
func TestBackwardDonationShared(t *testing.T) {
	g := tensor.NewGenerator(18)
	a := Param(g.Normal(0, 1, tensor.Float32, 5, 3))
	b := Param(g.Normal(0, 1, tensor.Float32, 5, 3))
	w := Constant(g.Normal(0, 1, tensor.Float32, 5, 3))
	var seen []tensor.Storage
	var ra *Var
	loss := func() *Var {
		ra = ReLU(a)
		return Sum(Mul(spy(Add(ra, MulScalar(ReLU(b), -2)), &seen), w), false)
	}
	require.NoError(t, loss().Backward())
	l := loss()
	ref, err := Grad([]*Var{l}, []*Var{a, b}, nil, BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	assert.Equal(t, ref[0].Value().Float32s(), a.Grad().Float32s())
	assert.Equal(t, ref[1].Value().Float32s(), b.Grad().Float32s())

	// the gradient of ReLU(a)'s output, handed out by Grad, stays intact
	// while ReLU's rule computes a's gradient from it
	l = loss()
	res, err := Grad([]*Var{l}, []*Var{ra, a}, nil, BackwardOpts{})
	require.NoError(t, err)
	assert.Equal(t, w.Value().Float32s(), res[0].Value().Float32s())
	assert.Equal(t, ref[0].Value().Float32s(), res[1].Value().Float32s())
}
