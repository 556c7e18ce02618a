package scaling

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/tensor"
)

// Four ranks each with its own gradient: ObserveRanks (local norms averaged
// by an all-reduce, the averaged gradient's norm) gives every rank the same
// estimate as the Accumulator over the four gradients in one process.
func TestObserveRanksMatchesAccumulator(t *testing.T) {
	const n, dim, perRank = 4, 6, 8
	g := tensor.NewGenerator(9)
	grads := make([]*tensor.Tensor, n)
	var acc Accumulator
	for r := range n {
		grads[r] = g.Normal(0.5, 1, tensor.Float64, dim)
		acc.AddVector(grads[r].Float64s())
	}
	want := NewNoiseScale(0)
	acc.ObserveInto(want, perRank)

	var mu sync.Mutex
	got := map[int]float64{}
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		p := autograd.Param(tensor.Zeros(tensor.Float64, dim))
		p.SetGrad(grads[c.Rank()].Clone())
		localSq := GradSqNorm([]*autograd.Var{p})
		if err := c.AllReduce(ctx, p.Grad(), collectives.Avg); err != nil {
			return err
		}
		ns := NewNoiseScale(0)
		if err := ObserveRanks(ctx, c, ns, perRank, localSq, GradSqNorm([]*autograd.Var{p})); err != nil {
			return err
		}
		mu.Lock()
		got[c.Rank()] = ns.BSimple()
		mu.Unlock()
		return nil
	})
	require.NoError(t, err)
	require.Len(t, got, n)
	for r, b := range got {
		assert.InDelta(t, want.BSimple(), b, 1e-9*want.BSimple(), "rank %d", r)
	}
}

func TestGradSqNorm(t *testing.T) {
	a := autograd.Param(tensor.FromSlice([]float32{1, 2}, 2))
	b := autograd.Param(tensor.FromSlice([]float32{0}, 1))
	a.SetGrad(tensor.FromSlice([]float32{3, 4}, 2))
	assert.InDelta(t, 25.0, GradSqNorm([]*autograd.Var{a, b}), 1e-12, "a parameter without a gradient counts 0")
}
