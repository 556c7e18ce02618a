package zero_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

// globalBatch is step s's batch of 12 rows, rank r's share of N: the
// average gradient is the same for every world size.
func globalBatch(r, n, s int) (x, y *tensor.Tensor) {
	g := tensor.NewGenerator(uint64(5000 + s))
	x, y = g.Normal(0, 1, tensor.Float32, 12, 5), g.Normal(0, 1, tensor.Float32, 12, 3)
	k := 12 / n
	return x.Narrow(0, r*k, k).Contiguous(), y.Narrow(0, r*k, k).Contiguous()
}

var probe = tensor.NewGenerator(77).Normal(0, 1, tensor.Float32, 4, 5)

type runResult struct {
	out    []float32            // the model's output on probe (rank 0)
	params map[string][]float32 // after the extra steps
}

// run trains on ranks at stage st: it loads from load (if set), takes
// steps from first to first+steps, saves to save (if set) and reports the
// output on probe at the end of the loaded/saved point and the final
// parameters after more extra steps.
func run(t *testing.T, ranks int, st zero.Stage, load, save string, first, steps, extra int) runResult {
	var res runResult
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		z, err := zero.Wrap(newNet(9, tensor.Float32), c, zero.Options{Stage: st, NewOptimizer: kinds[0].opt})
		if err != nil {
			return err
		}
		if load != "" {
			if err := z.LoadSharded(load); err != nil {
				return err
			}
		}
		train := func(from, n int) error {
			for s := from; s < from+n; s++ {
				x, y := globalBatch(c.Rank(), ranks, s)
				if err := nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
					return err
				}
				if err := z.Step(); err != nil {
					return err
				}
			}
			return nil
		}
		if err := train(first, steps); err != nil {
			return err
		}
		if save != "" {
			if err := z.SaveSharded(save); err != nil {
				return err
			}
		}
		var out *autograd.Var
		autograd.NoGrad(func() { out = z.Forward(autograd.Constant(probe)) })
		if err := train(first+steps, extra); err != nil {
			return err
		}
		sd, err := z.GatherStateDict(ctx)
		if err != nil {
			return err
		}
		if c.Rank() == 0 {
			res = runResult{out: out.Value().Float32s(), params: params(sd)}
		}
		return nil
	})
	require.NoError(t, err)
	return res
}

func requireSlicesClose(t *testing.T, want, got []float32, tol float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		require.InDelta(t, want[i], got[i], tol, "%s [%d]", what, i)
	}
}

// A checkpoint saved by 4 ranks at stage 3 consolidates into one
// safetensors file that the unsharded module loads (same outputs), and
// resumes on 1 and 2 ranks at other stages: same outputs at once, and
// the same weights as the uninterrupted run after two more steps (Adam's
// state travels with it).
func TestCheckpointConsolidateAndResume(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	ref := run(t, 4, zero.StageParams, "", ckpt, 0, 3, 2)

	man, err := zero.ReadManifest(ckpt)
	require.NoError(t, err)
	require.Equal(t, 4, man.WorldSize)
	require.Equal(t, 3, man.Step)
	require.Len(t, man.Layers, 3)

	out := filepath.Join(dir, "model.safetensors")
	require.NoError(t, zero.Consolidate(ckpt, out))
	plain := newNet(123, tensor.Float32) // other initial weights
	require.NoError(t, nn.Load(out, plain))
	var y *autograd.Var
	autograd.NoGrad(func() { y = plain.Forward(autograd.Constant(probe)) })
	requireSlicesClose(t, ref.out, y.Value().Float32s(), 1e-6, "consolidated, unsharded")

	for _, c := range []struct {
		ranks int
		st    zero.Stage
	}{{1, zero.StageDP}, {1, zero.StageGrads}, {2, zero.StageOptim}, {2, zero.StageParams}} {
		what := fmt.Sprintf("resumed on %d ranks at %v", c.ranks, c.st)
		got := run(t, c.ranks, c.st, ckpt, "", 3, 0, 2)
		requireSlicesClose(t, ref.out, got.out, 1e-6, what)
		requireClose(t, ref.params, got.params, 1e-5, what)
	}
}

func TestCheckpointErrors(t *testing.T) {
	_, err := zero.ReadManifest(t.TempDir())
	require.Error(t, err)
	require.Error(t, zero.Consolidate(t.TempDir(), filepath.Join(t.TempDir(), "x.safetensors")))
}

// The loss scaler's state travels with a sharded checkpoint.
func TestCheckpointScaler(t *testing.T) {
	dir := t.TempDir()
	so := amp.ScalerOptions{InitScale: 1 << 20, BackoffFactor: 1.0 / 1024}
	for _, load := range []bool{false, true} {
		err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
			sc := amp.NewGradScaler(so)
			z, err := zero.Wrap(newNet(1, tensor.Float16), c, zero.Options{Stage: zero.StageGrads, NewOptimizer: kinds[0].opt, Scaler: sc})
			if err != nil {
				return err
			}
			if load {
				if err := z.LoadSharded(dir); err != nil {
					return err
				}
				if sc.Scale() != 1024 {
					return fmt.Errorf("scale %v after loading, want 1024", sc.Scale())
				}
				return nil
			}
			x, y := batch(c.Rank(), 0, tensor.Float16)
			if err := z.ScaleLoss(nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y))).Backward(); err != nil {
				return err
			}
			if err := z.Step(); err != nil { // overflows: skipped, scale 2^10
				return err
			}
			return z.SaveSharded(dir)
		})
		require.NoError(t, err)
	}
}
