package ddp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

const (
	inF, hidF, outF = 8, 16, 4
)

func newMLP(seed uint64, dt tensor.DType) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(
		nn.NewLinear(g, inF, hidF, true, nn.WithDType(dt)), nn.NewTanh(),
		nn.NewLinear(g, hidF, hidF, true, nn.WithDType(dt)), nn.NewTanh(),
		nn.NewLinear(g, hidF, outF, true, nn.WithDType(dt)))
}

type dataset struct{ x, y *tensor.Tensor }

func newData(n int, dt tensor.DType) dataset {
	g := tensor.NewGenerator(99)
	return dataset{g.Normal(0, 1, dt, n, inF), g.RandInt(0, outF, n)}
}

func (d dataset) rows(lo, n int) (*tensor.Tensor, *tensor.Tensor) {
	return d.x.Narrow(0, lo, n), d.y.Narrow(0, lo, n)
}

func newOpt(kind optim.Kind, ps []*autograd.Var) *optim.Optimizer {
	switch kind {
	case optim.KindAdam:
		return optim.NewAdam(ps, optim.Options{LR: 1e-2})
	default:
		return optim.NewSGD(ps, optim.Options{LR: 0.1, Momentum: 0.9})
	}
}

func snapshot(m nn.Module) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range m.Parameters() {
		out[p.Name] = p.Param.Value().Cast(tensor.Float64).Float64s()
	}
	return out
}

// reference trains one replica on the whole global batch of each step.
func reference(t *testing.T, dt tensor.DType, kind optim.Kind, d dataset, steps, global int) map[string][]float64 {
	m := newMLP(1, dt)
	opt := newOpt(kind, nn.Params(m))
	for s := range steps {
		x, y := d.rows(s*global, global)
		opt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward())
		require.NoError(t, opt.Step())
	}
	return snapshot(m)
}

func assertClose(t *testing.T, want, got map[string][]float64, tol float64, msg string) {
	t.Helper()
	require.Equal(t, len(want), len(got), msg)
	for name, w := range want {
		require.Contains(t, got, name, msg)
		assert.InDeltaSlice(t, w, got[name], tol, "%s: %s", msg, name)
	}
}

// countingComm counts the all-reduces issued through it.
type countingComm struct {
	collectives.Comm
	allReduces atomic.Int64
}

func (c *countingComm) count(calls []collectives.Call) {
	for range calls {
		c.allReduces.Add(1) // DDP issues only all-reduces once wrapped
	}
}

func (c *countingComm) Start(ctx context.Context, calls ...collectives.Call) *collectives.Handle {
	c.count(calls)
	return c.Comm.Start(ctx, calls...)
}

func (c *countingComm) AllReduce(ctx context.Context, t *tensor.Tensor, op collectives.RedOp) error {
	c.allReduces.Add(1)
	return c.Comm.AllReduce(ctx, t, op)
}

func TestDDPMatchesOneRankOnTheGlobalBatch(t *testing.T) {
	const steps, b = 4, 5
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		tol := 1e-9
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		for _, kind := range []optim.Kind{optim.KindSGD, optim.KindAdam} {
			for _, n := range []int{2, 3} {
				for _, opts := range []ddp.Options{{}, {BucketCapMiB: 1e-4, FirstBucketMiB: 1e-4}, {NoOverlap: true, BucketCapMiB: 1e-3}} {
					name := fmt.Sprintf("%v/%v/ranks=%d/cap=%g/overlap=%v", dt, kind, n, opts.BucketCapMiB, !opts.NoOverlap)
					d := newData(steps*n*b, dt)
					want := reference(t, dt, kind, d, steps, n*b)
					got := make([]map[string][]float64, n)
					calls := make([]int64, n)
					nb := make([]int, n)
					err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
						r := c.Rank()
						cc := &countingComm{Comm: c}
						m, err := ddp.Wrap(newMLP(uint64(1+7*r), dt), cc, opts) // rank 0's init wins
						if err != nil {
							return err
						}
						cc.allReduces.Store(0)
						opt := newOpt(kind, nn.Params(m))
						for s := range steps {
							x, y := d.rows(s*n*b+r*b, b)
							opt.ZeroGrad()
							if err := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward(); err != nil {
								return err
							}
							if err := m.Step(opt); err != nil {
								return err
							}
						}
						got[r], calls[r], nb[r] = snapshot(m.Module), cc.allReduces.Load(), len(m.Buckets())
						return nil
					})
					require.NoError(t, err, name)
					for r := range n {
						assertClose(t, want, got[r], tol, fmt.Sprintf("%s rank %d", name, r))
						assert.Equal(t, int64(steps*nb[r]), calls[r], "%s: all-reduces per step = buckets (%d)", name, nb[r])
					}
				}
			}
		}
	}
}

func TestBucketsReverseOrderAndCaps(t *testing.T) {
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		// float64 params: 8x16 (1 KiB), 16, 16x16 (2 KiB), 16, 16x4, 4.
		m, err := ddp.Wrap(newMLP(1, tensor.Float64), c, ddp.Options{FirstBucketMiB: 700.0 / (1 << 20), BucketCapMiB: 2200.0 / (1 << 20)})
		if err != nil {
			return err
		}
		bs := m.Buckets()
		names := [][]string{}
		for _, b := range bs {
			names = append(names, b.Params)
		}
		// Reverse order: 4.bias 32 + 4.weight 512 + 2.bias 128 = 672 <= 700;
		// 2.weight 2048 + 0.bias 128 = 2176 <= 2200; 0.weight 1024 alone.
		assert.Equal(t, [][]string{{"4.bias", "4.weight", "2.bias"}, {"2.weight", "0.bias"}, {"0.weight"}}, names)
		assert.Len(t, bs, 3)
		// The gradients are views of the buckets: after a step, a parameter's
		// gradient shares storage with the others of its bucket.
		x := tensor.NewGenerator(3).Normal(0, 1, tensor.Float64, 4, inF)
		loss := autograd.Sum(m.Forward(autograd.Constant(x)), false)
		if err := loss.Backward(); err != nil {
			return err
		}
		if err := m.Wait(); err != nil {
			return err
		}
		ps := map[string]*autograd.Var{}
		for _, p := range m.Parameters() {
			ps[p.Name] = p.Param
		}
		assert.True(t, ps["4.bias"].Grad().SharesStorage(ps["2.bias"].Grad()))
		assert.True(t, ps["2.weight"].Grad().SharesStorage(ps["0.bias"].Grad()))
		assert.False(t, ps["4.bias"].Grad().SharesStorage(ps["2.weight"].Grad()))
		assert.Equal(t, 3, m.Stats().HookLaunches, "with overlap every bucket starts from a hook")
		// A second Wait without a backward pass in between does nothing.
		if err := m.Wait(); err != nil {
			return err
		}
		assert.Equal(t, 3, m.Stats().AllReduceCalls)
		assert.Equal(t, 1, m.Stats().Steps)
		return nil
	})
	require.NoError(t, err)
}

func TestDefaultBuckets(t *testing.T) {
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		// 784-1024-1024-10 float32: 10.3 KB + 4 MiB + 3.1 MiB; the first
		// bucket (1 MiB cap) takes the classifier, the next (25 MiB) the rest.
		g := tensor.NewGenerator(1)
		net := nn.NewSequential(nn.NewLinear(g, 784, 1024, true), nn.NewReLU(), nn.NewLinear(g, 1024, 1024, true), nn.NewReLU(), nn.NewLinear(g, 1024, 10, true))
		m, err := ddp.Wrap(net, c, ddp.Options{})
		if err != nil {
			return err
		}
		bs := m.Buckets()
		require.Len(t, bs, 2)
		assert.Equal(t, []string{"4.bias", "4.weight", "2.bias"}, bs[0].Params)
		assert.Equal(t, []string{"2.weight", "0.bias", "0.weight"}, bs[1].Params)
		assert.Equal(t, (10+10*1024+1024)*4, bs[0].Bytes)
		return nil
	})
	require.NoError(t, err)
}

func TestNoSyncEqualsOneStepOnTheKFoldBatch(t *testing.T) {
	const n, k, b = 2, 3, 4
	for _, kind := range []optim.Kind{optim.KindSGD, optim.KindAdam} {
		d := newData(n*k*b, tensor.Float64)
		want := reference(t, tensor.Float64, kind, d, 1, n*k*b)
		got := make([]map[string][]float64, n)
		var calls [n]int64
		err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
			r := c.Rank()
			cc := &countingComm{Comm: c}
			m, err := ddp.Wrap(newMLP(1, tensor.Float64), cc, ddp.Options{BucketCapMiB: 1e-3})
			if err != nil {
				return err
			}
			cc.allReduces.Store(0)
			opt := newOpt(kind, nn.Params(m))
			opt.ZeroGrad()
			micro := func(i int) error {
				// rank r's share of micro-batch i; the loss is scaled by 1/k so the
				// accumulated gradient is the mean over the k-fold batch.
				x, y := d.rows(i*n*b+r*b, b)
				return autograd.MulScalar(nn.CrossEntropy(m.Forward(autograd.Constant(x)), y), 1.0/k).Backward()
			}
			if err := m.NoSync(func() error {
				for i := range k - 1 {
					if err := micro(i); err != nil {
						return err
					}
					if err := m.Wait(); err != nil { // a no-op inside NoSync
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if cc.allReduces.Load() != 0 {
				return errors.New("NoSync communicated")
			}
			if err := micro(k - 1); err != nil {
				return err
			}
			if err := m.Step(opt); err != nil {
				return err
			}
			got[r], calls[r] = snapshot(m.Module), cc.allReduces.Load()
			return nil
		})
		require.NoError(t, err)
		for r := range n {
			assertClose(t, want, got[r], 1e-9, fmt.Sprintf("%v rank %d", kind, r))
			assert.Positive(t, calls[r])
		}
	}
}

// twoHeads has a parameter that Forward uses only when useB is set, and
// one weight used twice.
type twoHeads struct {
	nn.Base
	W, A, B *autograd.Var
	useB    bool
}

func newTwoHeads(seed uint64, useB bool) *twoHeads {
	g := tensor.NewGenerator(seed)
	m := &twoHeads{useB: useB}
	m.W = autograd.Param(g.Normal(0, 0.5, tensor.Float64, inF, inF))
	m.A = autograd.Param(g.Normal(0, 0.5, tensor.Float64, inF, outF))
	m.B = autograd.Param(g.Normal(0, 0.5, tensor.Float64, inF, outF))
	m.RegisterParam("w", &m.W)
	m.RegisterParam("a", &m.A)
	m.RegisterParam("b", &m.B)
	m.Train(true)
	return m
}

func (m *twoHeads) Forward(x *autograd.Var) *autograd.Var {
	h := autograd.Tanh(autograd.MatMul(autograd.Tanh(autograd.MatMul(x, m.W)), m.W)) // W used twice
	y := autograd.MatMul(h, m.A)
	if m.useB {
		y = autograd.Add(y, autograd.MatMul(h, m.B))
	}
	return y
}

func TestUnusedParameters(t *testing.T) {
	const n, b = 2, 3
	d := newData(n*b, tensor.Float64)
	// Without FindUnusedParameters: every rank fails, naming the parameter.
	errs := make([]error, n)
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newTwoHeads(1, false), c, ddp.Options{BucketCapMiB: 1e-4, FirstBucketMiB: 1e-4, Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		x, y := d.rows(c.Rank()*b, b)
		if err := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward(); err != nil {
			return err
		}
		errs[c.Rank()] = m.Wait()
		return nil
	})
	require.NoError(t, err)
	for r, e := range errs {
		require.Error(t, e, "rank %d", r)
		assert.Contains(t, e.Error(), "parameter b got no gradient", "rank %d", r)
	}

	// With it: the same result as one rank on the global batch, B unchanged.
	ref := newTwoHeads(1, false)
	opt := optim.NewSGD(nn.Params(ref), optim.Options{LR: 0.5})
	x, y := d.rows(0, n*b)
	require.NoError(t, nn.CrossEntropy(ref.Forward(autograd.Constant(x)), y).Backward())
	require.NoError(t, opt.Step())
	want := snapshot(ref)
	got := make([]map[string][]float64, n)
	err = local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newTwoHeads(1, false), c, ddp.Options{BucketCapMiB: 1e-4, FirstBucketMiB: 1e-4, FindUnusedParameters: true})
		if err != nil {
			return err
		}
		opt := optim.NewSGD(nn.Params(m), optim.Options{LR: 0.5})
		opt.ZeroGrad()
		x, y := d.rows(c.Rank()*b, b)
		if err := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward(); err != nil {
			return err
		}
		if err := m.Step(opt); err != nil {
			return err
		}
		got[c.Rank()] = snapshot(m.Module)
		return nil
	})
	require.NoError(t, err)
	for r := range n {
		assertClose(t, want, got[r], 1e-12, fmt.Sprintf("rank %d", r))
	}
}

func TestSharedWeightCountedOnce(t *testing.T) {
	const n, b = 3, 2
	d := newData(n*b, tensor.Float64)
	ref := newTwoHeads(4, true)
	x, y := d.rows(0, n*b)
	require.NoError(t, nn.CrossEntropy(ref.Forward(autograd.Constant(x)), y).Backward())
	want := map[string][]float64{}
	for _, p := range ref.Parameters() {
		want[p.Name] = p.Param.Grad().Float64s()
	}
	got := make([]map[string][]float64, n)
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newTwoHeads(4, true), c, ddp.Options{})
		if err != nil {
			return err
		}
		x, y := d.rows(c.Rank()*b, b)
		if err := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward(); err != nil {
			return err
		}
		if err := m.Wait(); err != nil {
			return err
		}
		g := map[string][]float64{}
		for _, p := range m.Parameters() {
			g[p.Name] = p.Param.Grad().Float64s()
		}
		got[c.Rank()] = g
		return nil
	})
	require.NoError(t, err)
	for r := range n {
		assertClose(t, want, got[r], 1e-12, fmt.Sprintf("rank %d", r))
	}
}

func TestWrapRejectsDifferentModels(t *testing.T) {
	errs := make([]error, 3)
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		g := tensor.NewGenerator(1)
		width := 16
		if c.Rank() == 2 {
			width = 17
		}
		net := nn.NewSequential(nn.NewLinear(g, inF, width, true), nn.NewTanh(), nn.NewLinear(g, width, outF, true))
		_, errs[c.Rank()] = ddp.Wrap(net, c, ddp.Options{Timeout: 10 * time.Second})
		return nil
	})
	require.NoError(t, err)
	for r, e := range errs {
		require.Error(t, e, "rank %d", r)
		assert.ErrorIs(t, e, collectives.ErrMismatch)
		assert.Contains(t, e.Error(), `"parameter 0.weight float32[16 8]" on rank 0 and "parameter 0.weight float32[17 8]" on rank 2`)
	}
	// Different dtypes and an extra parameter are named too.
	errs = make([]error, 2)
	err = local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		g := tensor.NewGenerator(1)
		net := nn.NewSequential(nn.NewLinear(g, inF, outF, true))
		if c.Rank() == 1 {
			net.Append(nn.NewLinear(g, outF, outF, false))
		}
		_, errs[c.Rank()] = ddp.Wrap(net, c, ddp.Options{})
		return nil
	})
	require.NoError(t, err)
	for _, e := range errs {
		require.Error(t, e)
		assert.Contains(t, e.Error(), `"nothing" on rank 0 and "parameter 1.weight float32[4 4]" on rank 1`)
	}
}

func TestWrapBroadcastsRankZero(t *testing.T) {
	want := snapshot(newMLP(1, tensor.Float32))
	got := make([]map[string][]float64, 3)
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newMLP(uint64(1+c.Rank()), tensor.Float32), c, ddp.Options{})
		if err != nil {
			return err
		}
		got[c.Rank()] = snapshot(m.Module)
		return nil
	})
	require.NoError(t, err)
	for r := range got {
		assertClose(t, want, got[r], 0, fmt.Sprintf("rank %d", r))
	}
}

func TestFailingRankFailsThePeers(t *testing.T) {
	const n, b = 3, 2
	d := newData(n*b, tensor.Float32)
	for _, stall := range []bool{false, true} {
		errs := make([]error, n)
		var mu sync.Mutex
		elapsed := map[int]time.Duration{}
		err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
			m, err := ddp.Wrap(newMLP(1, tensor.Float32), c, ddp.Options{Timeout: 500 * time.Millisecond, BucketCapMiB: 1e-4, FirstBucketMiB: 1e-4})
			if err != nil {
				return err
			}
			x, y := d.rows(c.Rank()*b, b)
			out := m.Forward(autograd.Constant(x))
			if c.Rank() == 1 {
				if !stall {
					return errors.New("injected failure after forward")
				}
				time.Sleep(1500 * time.Millisecond) // past the peers' timeout
			}
			start := time.Now()
			if err := nn.CrossEntropy(out, y).Backward(); err != nil {
				return err
			}
			e := m.Wait()
			mu.Lock()
			errs[c.Rank()], elapsed[c.Rank()] = e, time.Since(start)
			mu.Unlock()
			return nil
		})
		if !stall {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "injected failure")
		}
		for _, r := range []int{0, 2} {
			require.Error(t, errs[r], "stall=%v rank %d", stall, r)
			assert.ErrorIs(t, errs[r], collectives.ErrAborted, "stall=%v rank %d", stall, r)
			assert.Less(t, elapsed[r], 5*time.Second, "stall=%v rank %d", stall, r)
		}
	}
}

func TestSecondBackwardWithoutWaitIsAnError(t *testing.T) {
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newMLP(1, tensor.Float64), c, ddp.Options{NoOverlap: true})
		if err != nil {
			return err
		}
		x := tensor.NewGenerator(3).Normal(0, 1, tensor.Float64, 4, inF)
		for range 2 {
			if err := autograd.Sum(m.Forward(autograd.Constant(x)), false).Backward(); err != nil {
				return err
			}
		}
		e := m.Wait()
		if e == nil || !assert.Contains(t, e.Error(), "got a gradient twice") {
			return errors.New("no error for two passes")
		}
		return nil
	})
	// Both ranks report the double pass (the first to abort may give the
	// other an abort error instead); the run itself only carries errors
	// when the assertion failed.
	require.NoError(t, err)
}

func TestClipGradNormIsGlobal(t *testing.T) {
	const n, b = 2, 3
	d := newData(n*b, tensor.Float64)
	ref := newMLP(1, tensor.Float64)
	x, y := d.rows(0, n*b)
	require.NoError(t, nn.CrossEntropy(ref.Forward(autograd.Constant(x)), y).Backward())
	wantNorm := optim.ClipGradNorm(nn.Params(ref), 0.05)
	want := map[string][]float64{}
	for _, p := range ref.Parameters() {
		want[p.Name] = p.Param.Grad().Float64s()
	}
	norms := make([]float64, n)
	got := make([]map[string][]float64, n)
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newMLP(1, tensor.Float64), c, ddp.Options{BucketCapMiB: 1e-3})
		if err != nil {
			return err
		}
		x, y := d.rows(c.Rank()*b, b)
		if err := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward(); err != nil {
			return err
		}
		if err := m.Wait(); err != nil {
			return err
		}
		norms[c.Rank()] = m.ClipGradNorm(0.05)
		g := map[string][]float64{}
		for _, p := range m.Parameters() {
			g[p.Name] = p.Param.Grad().Float64s()
		}
		got[c.Rank()] = g
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, wantNorm, 0.05, "the clip must bite")
	for r := range n {
		assert.InDelta(t, wantNorm, norms[r], 1e-12)
		assertClose(t, want, got[r], 1e-12, fmt.Sprintf("rank %d", r))
	}
}

func TestProfilerRecordsBuckets(t *testing.T) {
	recs := []*profiler.Recorder{profiler.New(0), profiler.New(1)}
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newMLP(1, tensor.Float32), c, ddp.Options{BucketCapMiB: 1e-3, Profiler: recs[c.Rank()]})
		if err != nil {
			return err
		}
		x := tensor.NewGenerator(3).Normal(0, 1, tensor.Float32, 4, inF)
		if err := autograd.Sum(m.Forward(autograd.Constant(x)), false).Backward(); err != nil {
			return err
		}
		if err := m.Wait(); err != nil {
			return err
		}
		var comm []string
		for _, s := range recs[c.Rank()].Spans() {
			if s.Lane == profiler.Comm {
				comm = append(comm, s.Name)
				assert.False(t, s.End.Before(s.Start))
			}
		}
		assert.Len(t, comm, len(m.Buckets()))
		assert.Contains(t, comm, "allreduce bucket 0")
		return nil
	})
	require.NoError(t, err)
}
