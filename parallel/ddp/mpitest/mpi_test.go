//go:build mpi && cgo

package mpitest

import (
	"context"
	"errors"
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
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/tensor"
)

var world collectives.Comm

func TestMain(m *testing.M) {
	c, err := collectives.Init(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddp mpi test: Init:", err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if err := c.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "ddp mpi test: Close:", err)
		code = 1
	}
	os.Exit(code)
}

func newMLP(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(
		nn.NewLinear(g, 8, 16, true, nn.WithDType(tensor.Float64)), nn.NewTanh(),
		nn.NewLinear(g, 16, 4, true, nn.WithDType(tensor.Float64)))
}

func snapshot(m nn.Module) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range m.Parameters() {
		out[p.Name] = p.Param.Value().Float64s()
	}
	return out
}

// TestMatchesOneRankOnTheGlobalBatch: N MPI ranks with batch b end with
// the weights of one process trained on batch N·b (Adam, float64, 1e-9).
func TestMatchesOneRankOnTheGlobalBatch(t *testing.T) {
	const steps, b = 4, 3
	n, r := world.Size(), world.Rank()
	g := tensor.NewGenerator(9)
	x, y := g.Normal(0, 1, tensor.Float64, steps*n*b, 8), g.RandInt(0, 4, steps*n*b)

	ref := newMLP(1)
	ropt := optim.NewAdam(nn.Params(ref), optim.Options{LR: 1e-2})
	for s := range steps {
		ropt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(ref.Forward(autograd.Constant(x.Narrow(0, s*n*b, n*b))), y.Narrow(0, s*n*b, n*b)).Backward())
		require.NoError(t, ropt.Step())
	}

	m, err := ddp.Wrap(newMLP(uint64(1+r)), world, ddp.Options{BucketCapMiB: 1e-3, FirstBucketMiB: 1e-3, Timeout: time.Minute})
	require.NoError(t, err)
	opt := optim.NewAdam(nn.Params(m), optim.Options{LR: 1e-2})
	for s := range steps {
		opt.ZeroGrad()
		lo := s*n*b + r*b
		require.NoError(t, nn.CrossEntropy(m.Forward(autograd.Constant(x.Narrow(0, lo, b))), y.Narrow(0, lo, b)).Backward())
		require.NoError(t, m.Step(opt))
	}
	want, got := snapshot(ref), snapshot(m.Module)
	for k, w := range want {
		assert.InDeltaSlice(t, w, got[k], 1e-9, k)
	}
	assert.Equal(t, steps*len(m.Buckets()), m.Stats().AllReduceCalls)
}

// TestWrapRejectsDifferentModels: a rank with another width fails Wrap on
// every rank, naming the difference.
func TestWrapRejectsDifferentModels(t *testing.T) {
	g := tensor.NewGenerator(1)
	w := 16
	if world.Rank() == world.Size()-1 && world.Size() > 1 {
		w = 17
	}
	net := nn.NewSequential(nn.NewLinear(g, 8, w, true))
	_, err := ddp.Wrap(net, world, ddp.Options{Timeout: time.Minute})
	if world.Size() == 1 {
		require.NoError(t, err)
		return
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, collectives.ErrMismatch)
	assert.Contains(t, err.Error(), "parameter 0.weight float32[17 8]")
}

// TestZFailingRankFailsThePeers: rank 1 fails after its forward pass and
// never joins the step's all-reduces; every other rank's Wait returns an
// error by its timeout (MPI cannot tell peers that a rank failed, so they
// fail at their deadline). DDP runs on a sub-communicator, which the
// failure aborts, so the world stays usable to resynchronise and Close.
func TestZFailingRankFailsThePeers(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs mpirun -np 2 or more") // the one-process run has no peer to lose
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	m, err := ddp.Wrap(newMLP(1), sub, ddp.Options{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	x := tensor.NewGenerator(3).Normal(0, 1, tensor.Float64, 4, 8)
	out := m.Forward(autograd.Constant(x))
	if sub.Rank() == 1 {
		sub.Abort(errors.New("rank 1: injected failure after forward"))
		time.Sleep(1500 * time.Millisecond) // a dead rank: it never joins
	} else {
		start := time.Now()
		assert.NoError(t, autograd.Sum(out, false).Backward())
		err = m.Wait()
		assert.Error(t, err)
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.Less(t, time.Since(start), 10*time.Second)
	}
	require.NoError(t, world.Barrier(ctx))
}
