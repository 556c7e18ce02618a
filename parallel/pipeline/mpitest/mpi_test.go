//go:build mpi && cgo

package mpitest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/tensor"
)

var world collectives.Comm

func TestMain(m *testing.M) {
	c, err := collectives.Init(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline mpi test: Init:", err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if err := c.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "pipeline mpi test: Close:", err)
		code = 1
	}
	os.Exit(code)
}

// newMLP is a float64 MLP of 15 layers (8 Linear with Tanh between).
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

// TestGradientsMatchSingleProcess: with one process per rank, every
// schedule's gradients (and loss) equal one process's on the whole batch
// (float64, 1e-9), m above and below p.
func TestGradientsMatchSingleProcess(t *testing.T) {
	n := world.Size()
	g := tensor.NewGenerator(77)
	const batch = 24
	x, y := g.Normal(0, 1, tensor.Float64, batch, 6), g.RandInt(0, 3, batch)
	ref := newMLP(1)
	refLoss := nn.CrossEntropy(ref.Forward(autograd.Constant(x)), y)
	require.NoError(t, refLoss.Backward())
	want := map[string][]float64{}
	for _, p := range ref.Parameters() {
		want[p.Name] = p.Param.Grad().Float64s()
	}
	type cfg struct {
		name string
		m, v int
	}
	cfgs := []cfg{{"gpipe", 8, 1}, {"1f1b", 8, 1}, {"1f1b", 2, 1}, {"gpipe", 3, 1}, {"interleaved", 2 * n, 2}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range cfgs {
		for _, recompute := range []bool{false, true} {
			msg := fmt.Sprintf("%s p=%d m=%d v=%d recompute=%v", c.name, n, c.m, c.v, recompute)
			if batch%c.m != 0 {
				continue
			}
			sched, err := pipeline.ByName(c.name, n, c.m, c.v)
			require.NoError(t, err, msg)
			parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), sched.Stages())
			require.NoError(t, err)
			chunks := make([]nn.Module, sched.V)
			for ch := range chunks {
				chunks[ch] = parts[sched.Stage(world.Rank(), ch)]
			}
			pl, err := pipeline.New(world, sched, chunks, pipeline.Options{Recompute: recompute})
			require.NoError(t, err)
			xs, err := pipeline.MicroBatches(x, c.m)
			require.NoError(t, err)
			ys, err := pipeline.MicroBatches(y, c.m)
			require.NoError(t, err)
			loss, err := pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return nn.CrossEntropy(out, ys[i]) })
			require.NoError(t, err, msg)
			assert.InDelta(t, refLoss.Item(), loss, 1e-12, msg)
			for _, ch := range chunks {
				for _, p := range ch.Parameters() {
					assert.InDeltaSlice(t, want[p.Name], p.Param.Grad().Float64s(), 1e-9, "%s: %s", msg, p.Name)
				}
			}
		}
	}
}

// TestZFailingStageFailsThePeers: the last rank's stage panics in its
// forward pass; every rank's Step returns an error (the failing rank's
// names the panic; the peers' wrap ErrAborted) within seconds. The
// pipeline runs on a sub-communicator, which the failure aborts, so the
// world stays usable to resynchronise and Close.
func TestZFailingStageFailsThePeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	n := sub.Size()
	sched, err := pipeline.OneFOneB(n, 4)
	require.NoError(t, err)
	parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), n)
	require.NoError(t, err)
	chunk := nn.Module(parts[sub.Rank()])
	bad := n - 1
	if sub.Rank() == bad {
		chunk = pipeline.NewPart(pipeline.Layer{Name: "boom", Module: &boom{inner: chunk, after: 1}})
	}
	pl, err := pipeline.New(sub, sched, []nn.Module{chunk}, pipeline.Options{})
	require.NoError(t, err)
	g := tensor.NewGenerator(5)
	xs, err := pipeline.MicroBatches(g.Normal(0, 1, tensor.Float64, 8, 6), 4)
	require.NoError(t, err)
	ys, err := pipeline.MicroBatches(g.RandInt(0, 3, 8), 4)
	require.NoError(t, err)
	start := time.Now()
	_, err = pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return nn.CrossEntropy(out, ys[i]) })
	require.Error(t, err)
	if sub.Rank() == bad {
		assert.ErrorContains(t, err, "boom")
	} else {
		assert.ErrorIs(t, err, collectives.ErrAborted)
	}
	assert.Less(t, time.Since(start), 20*time.Second)
	require.NoError(t, world.Barrier(ctx))
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
