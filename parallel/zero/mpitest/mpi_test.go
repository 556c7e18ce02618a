//go:build mpi && cgo

package mpitest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

var world collectives.Comm

func TestMain(m *testing.M) {
	c, err := collectives.Init(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "zero mpi test: Init:", err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if err := c.Close(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "zero mpi test: Close:", err)
		code = 1
	}
	os.Exit(code)
}

func newMLP(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	o := nn.WithDType(tensor.Float64)
	return nn.NewSequential(nn.NewLinear(g, 8, 13, true, o), nn.NewTanh(), nn.NewLinear(g, 13, 4, true, o))
}

func adam(p []*autograd.Var) *optim.Optimizer { return optim.NewAdam(p, optim.Options{LR: 1e-2}) }

// TestStagesMatchOneRankOnTheGlobalBatch: N MPI ranks with batch b end, at
// every stage, with the weights of one process trained on batch N·b
// (Adam, float64, 1e-9); a checkpoint saved by the job and consolidated
// loads into the one-process model with the same outputs.
func TestStagesMatchOneRankOnTheGlobalBatch(t *testing.T) {
	const steps, b = 3, 2
	n, r := world.Size(), world.Rank()
	g := tensor.NewGenerator(9)
	x, y := g.Normal(0, 1, tensor.Float64, steps*n*b, 8), g.RandInt(0, 4, steps*n*b)

	ref := newMLP(1)
	ropt := adam(nn.Params(ref))
	for s := range steps {
		ropt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(ref.Forward(autograd.Constant(x.Narrow(0, s*n*b, n*b))), y.Narrow(0, s*n*b, n*b)).Backward())
		require.NoError(t, ropt.Step())
	}
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("zero-mpitest-%d", os.Getppid()))
	for st := zero.StageDP; st <= zero.StageParams; st++ {
		z, err := zero.Wrap(newMLP(uint64(1+r)), world, zero.Options{Stage: st, NewOptimizer: adam})
		require.NoError(t, err)
		for s := range steps {
			lo := s*n*b + r*b
			require.NoError(t, nn.CrossEntropy(z.Forward(autograd.Constant(x.Narrow(0, lo, b))), y.Narrow(0, lo, b)).Backward())
			require.NoError(t, z.Step())
		}
		sd, err := z.GatherStateDict(ctx)
		require.NoError(t, err)
		for _, p := range ref.Parameters() {
			assert.InDeltaSlice(t, p.Param.Value().Float64s(), sd[p.Name].Float64s(), 1e-9, "%v %s", st, p.Name)
		}
		if st == zero.StageParams {
			require.NoError(t, z.SaveSharded(dir))
			if r == 0 {
				out := filepath.Join(dir, "model.safetensors")
				require.NoError(t, zero.Consolidate(dir, out))
				plain := newMLP(77)
				require.NoError(t, nn.Load(out, plain))
				probe := g.Normal(0, 1, tensor.Float64, 3, 8)
				assert.InDeltaSlice(t, ref.Forward(autograd.Constant(probe)).Value().Float64s(),
					plain.Forward(autograd.Constant(probe)).Value().Float64s(), 1e-9)
				require.NoError(t, os.RemoveAll(dir))
			}
		}
	}
}
