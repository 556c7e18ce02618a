package pipeline_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/internal/memtest"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/tensor"
)

// heldActivations runs one GPipe step on 2 ranks and returns the bytes of
// activations alive (after a garbage collection) when the last stage has
// run the forward pass of the last micro-batch: the moment every rank holds
// all m micro-batches.
func heldActivations(t *testing.T, recompute bool) int64 {
	const m = 4
	b := newBatch(32)
	sched, err := pipeline.GPipe(2, m)
	require.NoError(t, err)
	defer tensor.SetMemoryTracking(tensor.SetMemoryTracking(true))
	var held int64
	var mu sync.Mutex
	err = local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		parts, err := pipeline.SplitEven(pipeline.SequentialLayers(newMLP(1)), 2)
		if err != nil {
			return err
		}
		pl, err := pipeline.New(c, sched, pipeline.Chunks(sched, parts, c.Rank()), pipeline.Options{Recompute: recompute})
		if err != nil {
			return err
		}
		xs, _ := pipeline.MicroBatches(b.x, m)
		ys, _ := pipeline.MicroBatches(b.y, m)
		_, err = pl.Step(ctx, xs, func(out *autograd.Var, i int) *autograd.Var {
			if i == m-1 {
				mu.Lock()
				held = liveActivations()
				mu.Unlock()
			}
			return nn.CrossEntropy(out, ys[i])
		})
		return err
	})
	require.NoError(t, err)
	return held
}

// TestRecomputeHoldsFewerActivations: with recomputation a stage keeps
// only each micro-batch's chunk output between its forward and backward
// passes, not the outputs of all its layers (8 of the 15 layers' outputs
// per stage here), measured by the CPU device's memory accounting.
func TestRecomputeHoldsFewerActivations(t *testing.T) {
	full := heldActivations(t, false)
	re := heldActivations(t, true)
	t.Logf("activation bytes held at the peak, GPipe p=2 m=4: %d without recomputation, %d with", full, re)
	require.Positive(t, full)
	// 4 micro-batches of 8 rows: without recomputation the stages hold one
	// float64 output per layer, 14 of [8,10] and the last [8,3]: 14·640 +
	// 192 bytes per micro-batch; with it, one output per stage: 640 + 192.
	// (The slack covers the scalar losses.)
	assert.InDelta(t, 4*(14*640+192), full, 256)
	assert.InDelta(t, 4*(640+192), re, 256)
}

// liveActivations is the count of live activation bytes once it has
// settled (buffers leave it in cleanups that run after a collection).
func liveActivations() int64 {
	return memtest.Settled(func() int64 {
		return tensor.MemoryStats(tensor.CPU).Category[tensor.MemoryActivations].Live
	})
}
