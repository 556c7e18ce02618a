package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// newMLP is a float64 MLP of 8 Linear layers with Tanh between them (15
// layers, enough for 8 ranks × 2 chunks).
func newMLP(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	f64 := nn.WithDType(tensor.Float64)
	seq := nn.NewSequential(nn.NewLinear(g, 6, 10, true, f64))
	for range 6 {
		seq.Append(nn.NewTanh())
		seq.Append(nn.NewLinear(g, 10, 10, true, f64))
	}
	seq.Append(nn.NewTanh())
	seq.Append(nn.NewLinear(g, 10, 3, true, f64))
	return seq
}

type batch struct {
	x *tensor.Tensor
	y *tensor.Tensor
}

func newBatch(n int) batch {
	g := tensor.NewGenerator(77)
	return batch{x: g.Normal(0, 1, tensor.Float64, n, 6), y: g.RandInt(0, 3, n)}
}

// reference returns the single-process gradients of the mean
// cross-entropy over the whole batch, by parameter name, and the loss.
func reference(t *testing.T, b batch) (map[string][]float64, float64) {
	m := newMLP(1)
	loss := nn.CrossEntropy(m.Forward(autograd.Constant(b.x)), b.y)
	require.NoError(t, loss.Backward())
	out := map[string][]float64{}
	for _, p := range m.Parameters() {
		out[p.Name] = p.Param.Grad().Float64s()
	}
	return out, loss.Item()
}

// runPipeline trains one step of sched on a local world and returns every
// rank's gradients by parameter name, and the loss of the last stage.
func runPipeline(t *testing.T, sched *pipeline.Schedule, b batch, opts pipeline.Options) (map[string][]float64, float64, []int, error) {
	grads := make([]map[string][]float64, sched.P)
	peaks := make([]int, sched.P)
	var loss float64
	err := local.Run(context.Background(), sched.P, func(ctx context.Context, c collectives.Comm) error {
		model := newMLP(1)
		parts, err := pipeline.SplitEven(pipeline.SequentialLayers(model), sched.Stages())
		if err != nil {
			return err
		}
		chunks := pipeline.Chunks(sched, parts, c.Rank())
		pl, err := pipeline.New(c, sched, chunks, opts)
		if err != nil {
			return err
		}
		xs, err := pipeline.MicroBatches(b.x, sched.M)
		if err != nil {
			return err
		}
		ys, err := pipeline.MicroBatches(b.y, sched.M)
		if err != nil {
			return err
		}
		l, err := pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return nn.CrossEntropy(out, ys[i]) })
		if err != nil {
			return err
		}
		if pl.HasLast() {
			loss = l
		}
		peaks[c.Rank()] = pl.Peak()
		g := map[string][]float64{}
		for _, ch := range chunks {
			for _, p := range ch.Parameters() {
				g[p.Name] = p.Param.Grad().Float64s()
			}
		}
		grads[c.Rank()] = g
		return nil
	})
	all := map[string][]float64{}
	for _, g := range grads {
		for k, v := range g {
			all[k] = v
		}
	}
	return all, loss, peaks, err
}

func assertClose(t *testing.T, want, got map[string][]float64, tol float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for name, w := range want {
		g, ok := got[name]
		require.True(t, ok, "%s: no gradient for %s", msg, name)
		require.Len(t, g, len(w))
		for i := range w {
			if math.Abs(w[i]-g[i]) > tol {
				t.Fatalf("%s: %s[%d] = %v, single process %v", msg, name, i, g[i], w[i])
			}
		}
	}
}

// TestGradientsMatchSingleProcess: every schedule, on 1..8 ranks, with
// and without recomputation, gives the single-process gradients of the
// whole batch (float64, 1e-9), with m above, at and below p.
func TestGradientsMatchSingleProcess(t *testing.T) {
	b := newBatch(16)
	want, wantLoss := reference(t, b)
	type cfg struct {
		name    string
		p, m, v int
	}
	cfgs := []cfg{
		{"gpipe", 1, 4, 1}, {"gpipe", 2, 4, 1}, {"gpipe", 4, 8, 1}, {"gpipe", 4, 2, 1}, {"gpipe", 8, 16, 1},
		{"1f1b", 2, 8, 1}, {"1f1b", 3, 4, 1}, {"1f1b", 4, 8, 1}, {"1f1b", 4, 2, 1}, {"1f1b", 8, 4, 1}, {"1f1b", 5, 16, 1},
		{"interleaved", 1, 4, 3}, {"interleaved", 2, 4, 2}, {"interleaved", 2, 2, 3}, {"interleaved", 4, 8, 2}, {"interleaved", 4, 4, 3}, {"interleaved", 8, 8, 1},
	}
	for _, c := range cfgs {
		for _, recompute := range []bool{false, true} {
			if recompute && c.p != 4 {
				continue
			}
			msg := fmt.Sprintf("%s p=%d m=%d v=%d recompute=%v", c.name, c.p, c.m, c.v, recompute)
			sched, err := pipeline.ByName(c.name, c.p, c.m, c.v)
			require.NoError(t, err, msg)
			got, loss, peaks, err := runPipeline(t, sched, b, pipeline.Options{Recompute: recompute})
			require.NoError(t, err, msg)
			assertClose(t, want, got, 1e-9, msg)
			assert.InDelta(t, wantLoss, loss, 1e-12, msg)
			sim, err := pipeline.Simulate(sched, pipeline.Costs{Forward: 1, Backward: 2})
			require.NoError(t, err)
			assert.Equal(t, sim.Peak, peaks, "%s: the executor holds what the simulator says", msg)
		}
	}
}

// TestFailingStageFailsEveryRank: a stage that panics in its forward (or a
// loss that is not a scalar) makes every rank's Step return an error, not
// hang.
func TestFailingStageFailsEveryRank(t *testing.T) {
	b := newBatch(8)
	for _, name := range []string{"gpipe", "1f1b", "interleaved"} {
		for _, bad := range []int{0, 2, 3} {
			sched, err := pipeline.ByName(name, 4, 4, 2)
			require.NoError(t, err)
			errs := make([]error, 4)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
					parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), sched.Stages())
					if err != nil {
						return err
					}
					chunks := make([]nn.Module, sched.V)
					for ch := range chunks {
						chunks[ch] = parts[sched.Stage(c.Rank(), ch)]
					}
					if c.Rank() == bad && bad != 3 {
						chunks[sched.V-1] = pipeline.NewPart(pipeline.Layer{Name: "boom", Module: &boom{inner: chunks[sched.V-1], after: 1}})
					}
					pl, err := pipeline.New(c, sched, chunks, pipeline.Options{})
					if err != nil {
						return err
					}
					xs, _ := pipeline.MicroBatches(b.x, 4)
					ys, _ := pipeline.MicroBatches(b.y, 4)
					_, errs[c.Rank()] = pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var {
						if bad == 3 && i == 2 {
							return out // not a scalar
						}
						return nn.CrossEntropy(out, ys[i])
					})
					return errs[c.Rank()]
				})
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s, failing rank %d: the pipeline hangs", name, bad)
			}
			for r, e := range errs {
				require.Error(t, e, "%s, failing rank %d: rank %d", name, bad, r)
				if r != bad {
					assert.True(t, errors.Is(e, collectives.ErrAborted), "%s: rank %d: %v", name, r, e)
				}
			}
			if bad != 3 {
				assert.ErrorContains(t, errs[bad], "boom")
			} else {
				assert.ErrorContains(t, errs[bad], "not a scalar")
			}
		}
	}
}

// boom is a layer whose forward panics from its (after+1)-th call and
// runs inner (the stage it replaces) before.
type boom struct {
	nn.Base
	inner        nn.Module
	after, calls int
}

func (b *boom) Forward(x *autograd.Var) *autograd.Var {
	if b.calls++; b.calls > b.after {
		panic("boom")
	}
	return b.inner.Forward(x)
}

// TestCancelledContextFailsEveryRank: a rank whose context is done aborts
// the others.
func TestCancelledContextFailsEveryRank(t *testing.T) {
	b := newBatch(8)
	sched, err := pipeline.OneFOneB(3, 4)
	require.NoError(t, err)
	err = local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), 3)
		if err != nil {
			return err
		}
		if c.Rank() == 2 {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			ctx = cctx
		}
		pl, err := pipeline.New(c, sched, []nn.Module{parts[c.Rank()]}, pipeline.Options{})
		if err != nil {
			return err
		}
		xs, _ := pipeline.MicroBatches(b.x, 4)
		ys, _ := pipeline.MicroBatches(b.y, 4)
		_, err = pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return nn.CrossEntropy(out, ys[i]) })
		if err == nil {
			return errors.New("no error")
		}
		return nil
	})
	require.NoError(t, err)
}

// TestMisuseIsAnError: mismatched sizes are errors on New and Step, and a
// Step error on one rank reaches the others.
func TestMisuseIsAnError(t *testing.T) {
	sched, err := pipeline.GPipe(2, 4)
	require.NoError(t, err)
	comms, err := local.New(3)
	require.NoError(t, err)
	_, err = pipeline.New(comms[0], sched, []nn.Module{newMLP(1)}, pipeline.Options{})
	assert.ErrorContains(t, err, "is for 2 ranks")
	for _, c := range comms {
		c.Close()
	}
	err = local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		if _, err := pipeline.New(c, sched, nil, pipeline.Options{}); err == nil {
			return errors.New("no error for missing chunks")
		}
		pl, err := pipeline.New(c, sched, []nn.Module{newMLP(1)}, pipeline.Options{})
		if err != nil {
			return err
		}
		_, err = pl.Step(ctx, nil, nil) // rank 0 lacks inputs, rank 1 a loss
		if err == nil {
			return errors.New("no error")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Panics(t, func() { pipeline.Chunks(sched, []nn.Module{newMLP(1)}, 0) })
	_, err = pipeline.MicroBatches(tensor.Zeros(tensor.Float32, 5, 2), 2)
	assert.ErrorContains(t, err, "equal micro-batches")
}

// TestProfilerSpans: the recorder gets one compute span per action, named
// as the action, and the measured bubble is between 0 and 1.
func TestProfilerSpans(t *testing.T) {
	b := newBatch(8)
	sched, err := pipeline.OneFOneB(2, 4)
	require.NoError(t, err)
	recs := []*profiler.Recorder{profiler.New(0), profiler.New(1)}
	err = local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), 2)
		if err != nil {
			return err
		}
		pl, err := pipeline.New(c, sched, []nn.Module{parts[c.Rank()]}, pipeline.Options{Recorder: recs[c.Rank()]})
		if err != nil {
			return err
		}
		xs, _ := pipeline.MicroBatches(b.x, 4)
		ys, _ := pipeline.MicroBatches(b.y, 4)
		_, err = pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return nn.CrossEntropy(out, ys[i]) })
		return err
	})
	require.NoError(t, err)
	for r, rec := range recs {
		var names []string
		for _, s := range rec.Spans() {
			if s.Lane == profiler.Compute {
				names = append(names, s.Name)
			}
		}
		var want []string
		for _, a := range sched.Actions[r] {
			want = append(want, a.String())
		}
		assert.Equal(t, want, names)
	}
	tl := pipeline.Measure(recs)
	assert.Len(t, tl.Slots, 2)
	assert.Greater(t, tl.Bubble, 0.0)
	assert.Less(t, tl.Bubble, 1.0)
}
