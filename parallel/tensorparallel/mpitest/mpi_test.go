//go:build mpi && cgo

package mpitest

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/mesh"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	tp "github.com/tessera-ml/tessera/parallel/tensorparallel"
	"github.com/tessera-ml/tessera/tensor"
)

var world collectives.Comm

func TestMain(m *testing.M) {
	c, err := collectives.Init(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "tensorparallel mpi test: Init:", err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if err := c.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "tensorparallel mpi test: Close:", err)
		code = 1
	}
	os.Exit(code)
}

var (
	f64 = nn.WithDType(tensor.Float64)
	cfg = nn.GPTConfig{Vocab: 16, Context: 8, Embed: 16, Heads: 8, Layers: 4}
)

func sliceOf(full *tensor.Tensor, s tp.Shard) []float64 {
	if s.Replicated() {
		return full.Contiguous().Float64s()
	}
	return full.Narrow(s.Axis, s.Lo, s.Hi-s.Lo).Contiguous().Float64s()
}

// checkGrid: one training step of the tensor-parallel GPT on grid s (1F1B
// over the stages, 2 rows in 2 micro-batches per replica) gives every
// rank the single-process model's loss, its global gradient norm
// (ClipGradNorm) and, for its stage's parameters, the slices of its
// gradients after clipping to half that norm (float64, 1e-9).
func checkGrid(t *testing.T, s mesh.Shape, opts tp.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gen := tensor.NewGenerator(11)
	idx, tgt := gen.RandInt(0, int64(cfg.Vocab), 2*s.Data, cfg.Context), gen.RandInt(0, int64(cfg.Vocab), 2*s.Data, cfg.Context)
	full := nn.NewGPT(tensor.NewGenerator(7), cfg, f64)
	ref := nn.GPTLoss(full.Logits(idx), tgt)
	require.NoError(t, ref.Backward())
	grads := map[string]*tensor.Tensor{}
	refNorm := 0.0
	for _, p := range full.Parameters() {
		grads[p.Name] = tensor.MulScalar(p.Param.Grad(), 0.5) // clipped to half the norm below
		refNorm += tensor.Sum(tensor.Square(p.Param.Grad()), false).Item()
	}
	refNorm = math.Sqrt(refNorm)

	m, err := mesh.New(ctx, world, s)
	require.NoError(t, err)
	defer m.Close()
	g := tp.NewGroup(ctx, m.Tensor)
	model := tp.NewGPT(g, nn.NewGPT(tensor.NewGenerator(7), cfg, f64), opts)
	stages, err := model.Stages(s.Pipe)
	require.NoError(t, err)
	stage := stages[m.Coord.Pipe]
	sched, err := pipeline.OneFOneB(s.Pipe, 2)
	require.NoError(t, err)
	pl, err := pipeline.New(m.Pipe, sched, []nn.Module{stage}, pipeline.Options{})
	require.NoError(t, err)
	d := m.Coord.Data
	xs, err := pipeline.MicroBatches(idx.Narrow(0, 2*d, 2), 2)
	require.NoError(t, err)
	ys, err := pipeline.MicroBatches(tgt.Narrow(0, 2*d, 2), 2)
	require.NoError(t, err)
	loss, err := pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var { return model.Loss(out, ys[i]) })
	require.NoError(t, err)
	require.NoError(t, g.Err())
	require.NoError(t, model.SyncGrads(ctx, stage, m.Data, m.Ends))
	norm, err := model.ClipGradNorm(ctx, stage, m.Pipe, refNorm/2)
	require.NoError(t, err)
	assert.InDelta(t, refNorm, norm, 1e-9, "grid %v norm", s)
	lt := tensor.FromSlice([]float64{loss}, 1)
	require.NoError(t, m.Data.AllReduce(ctx, lt, collectives.Avg))
	assert.InDelta(t, ref.Item(), lt.Item(), 1e-9, "grid %v loss", s)
	names := map[*autograd.Var]string{}
	for _, p := range model.Parameters() {
		names[p.Param] = p.Name
	}
	for _, p := range tp.Unique(stage) {
		name := names[p]
		require.NotNil(t, p.Grad(), name)
		assert.InDeltaSlice(t, sliceOf(grads[name], model.Layout()[name]), p.Grad().Contiguous().Float64s(), 1e-9, "grid %v rank %d %s", s, world.Rank(), name)
	}
}

// TestGradientsEqualSingleProcessOnEveryGrid runs every data × pipeline ×
// tensor grid of the job's size, one MPI process per rank.
func TestGradientsEqualSingleProcessOnEveryGrid(t *testing.T) {
	for _, s := range mesh.Shapes(world.Size()) {
		t.Run(s.String(), func(t *testing.T) { checkGrid(t, s, tp.Options{}) })
	}
}

// TestSequenceParallelGradients: the grids whose tensor degree divides the
// sequence, with sequence parallelism.
func TestSequenceParallelGradients(t *testing.T) {
	for _, s := range mesh.Shapes(world.Size()) {
		if s.Tensor > 1 && cfg.Context%s.Tensor == 0 {
			t.Run(s.String(), func(t *testing.T) { checkGrid(t, s, tp.Options{SequenceParallel: true}) })
		}
	}
}
