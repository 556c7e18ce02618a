package autograd

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// within fails the test if f does not return in time (instead of hanging
// the whole test binary on a deadlock).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case r := <-done:
		if r != nil {
			panic(r)
		}
	case <-time.After(d):
		t.Fatal("deadlock: did not finish in time")
	}
}

// TestConcurrentCrossedLeaves runs many concurrent passes over two leaves
// that swap roles: U is the input and V the weight of Linear in half of the
// graphs, and the other way round in the rest. Each pass claims the zeroed
// buffer of its weight (Ctx.GradBuffer) while it must also store into its
// input's gradient, which another pass may hold: the engine must neither
// deadlock nor lose a contribution. The gradients are compared with a
// float64 sum of every graph's gradient.
func TestConcurrentCrossedLeaves(t *testing.T) {
	const n, graphs = 6, 16
	g := tensor.NewGenerator(77)
	u := Param(g.Normal(0, 1, tensor.Float32, n, n))
	v := Param(g.Normal(0, 1, tensor.Float32, n, n))
	ps := make([]*tensor.Tensor, graphs)
	for i := range ps {
		ps[i] = g.Normal(0, 1, tensor.Float32, n, n)
	}
	// loss = Σ P ⊙ (X Wᵀ): dX = P W, dW = Pᵀ X.
	u64, v64 := u.Value().Float64s(), v.Value().Float64s()
	wantU, wantV := make([]float64, n*n), make([]float64, n*n)
	for i, p := range ps {
		p64 := p.Float64s()
		x, w, gx, gw := u64, v64, wantU, wantV
		if i%2 == 1 {
			x, w, gx, gw = v64, u64, wantV, wantU
		}
		for r := range n {
			for c := range n {
				for k := range n {
					gx[r*n+c] += p64[r*n+k] * w[k*n+c]
					gw[r*n+c] += p64[k*n+r] * x[k*n+c]
				}
			}
		}
	}
	for round := range 20 {
		if round > 0 {
			u.ZeroGrad()
			v.ZeroGrad()
		}
		within(t, 30*time.Second, func() {
			var wg sync.WaitGroup
			errs := make([]error, graphs)
			for i := range graphs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					x, w := u, v
					if i%2 == 1 {
						x, w = v, u
					}
					errs[i] = Sum(Mul(Linear(x, w, nil), Constant(ps[i])), false).Backward()
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		})
		for name, c := range map[string]struct {
			got  *tensor.Tensor
			want []float64
		}{"U": {u.Grad(), wantU}, "V": {v.Grad(), wantV}} {
			got := c.got.Float64s()
			for j, w := range c.want {
				require.LessOrEqual(t, math.Abs(got[j]-w), 1e-4*(1+math.Abs(w)), "round %d %s[%d]", round, name, j)
			}
		}
	}
}

// TestHookReadsClaimedSibling: a hook on the weight reads the bias's
// gradient, which the same Linear backward wrote into the bias's claimed
// buffer; the pass releases its claims before hooks run, so this neither
// deadlocks nor sees a half-written buffer.
func TestHookReadsClaimedSibling(t *testing.T) {
	g := tensor.NewGenerator(78)
	w := Param(g.Normal(0, 1, tensor.Float32, 3, 4))
	b := Param(g.Normal(0, 1, tensor.Float32, 3))
	x := Constant(g.Normal(0, 1, tensor.Float32, 5, 4))
	loss := func() *Var { return Sum(Linear(x, w, b), false) }
	require.NoError(t, loss().Backward())
	w.ZeroGrad()
	b.ZeroGrad()
	var seen []float64
	w.RegisterHook(func(*tensor.Tensor) { seen = b.Grad().Float64s() })
	within(t, 10*time.Second, func() { require.NoError(t, loss().Backward()) })
	require.Equal(t, []float64{5, 5, 5}, seen)
	require.Equal(t, []float64{5, 5, 5}, b.Grad().Float64s())
}

// TestClaimReleasedWhenRuleFails: a rule that takes a leaf's buffer and
// then panics, or returns no gradient for it, must give the claim up: the
// gradient stays zero and later readers and passes do not wait forever.
func TestClaimReleasedWhenRuleFails(t *testing.T) {
	w := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	require.NoError(t, Sum(w, false).Backward())
	for _, mode := range []string{"panic", "nil"} {
		w.ZeroGrad()
		y := Record("test.claim", tensor.Sum(w.Value(), false), []*Var{w}, func(c *Ctx, g *Var) []*Var {
			buf := c.GradBuffer(0)
			require.NotNil(t, buf)
			buf.CopyFrom(tensor.FromSlice([]float64{7, 7, 7}, 3))
			if mode == "panic" {
				panic("rule failed")
			}
			return []*Var{nil}
		})
		within(t, 10*time.Second, func() {
			if mode == "panic" {
				require.Panics(t, func() { _ = y.Backward() })
			} else {
				require.NoError(t, y.Backward())
			}
			require.Equal(t, []float64{0, 0, 0}, w.Grad().Float64s(), mode)
			require.NoError(t, Sum(MulScalar(w, 2), false).Backward())
			require.Equal(t, []float64{2, 2, 2}, w.Grad().Float64s(), mode)
		})
	}
}

// TestConcurrentPassesIntoGradBuffers: the same as above with the leaves'
// gradients bound to views of one flat buffer (SetGradBuffer, as a
// data-parallel bucket): concurrent passes accumulate the exact sum into the
// flat buffer, and the binding survives.
func TestConcurrentPassesIntoGradBuffers(t *testing.T) {
	const workers, batch, in, out = 8, 6, 5, 7
	g := tensor.NewGenerator(79)
	w := Param(g.Normal(0, 1, tensor.Float64, out, in))
	b := Param(g.Normal(0, 1, tensor.Float64, out))
	flat := tensor.Zeros(tensor.Float64, out*in+out)
	w.SetGradBuffer(flat.Narrow(0, 0, out*in).Reshape(out, in))
	b.SetGradBuffer(flat.Narrow(0, out*in, out))
	xs := make([]*tensor.Tensor, workers)
	wantW, wantB := make([]float64, out*in), make([]float64, out)
	for i := range xs {
		xs[i] = g.Normal(0, 1, tensor.Float64, batch, in)
		x := xs[i].Float64s()
		for r := range batch {
			for o := range out {
				wantB[o]++
				for k := range in {
					wantW[o*in+k] += x[r*in+k]
				}
			}
		}
	}
	for round := range 5 {
		w.ZeroGrad()
		b.ZeroGrad()
		within(t, 30*time.Second, func() {
			var wg sync.WaitGroup
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					require.NoError(t, Sum(Linear(Constant(xs[i]), w, b), false).Backward())
				}()
			}
			wg.Wait()
		})
		require.True(t, w.Grad().SharesStorage(flat), "round %d: binding kept", round)
		got := flat.Float64s()
		for j, v := range wantW {
			require.InDelta(t, v, got[j], 1e-12*(1+math.Abs(v)), "round %d W[%d]", round, j)
		}
		for j, v := range wantB {
			require.InDelta(t, v, got[out*in+j], 1e-12*(1+math.Abs(v)), "round %d b[%d]", round, j)
		}
	}
}
