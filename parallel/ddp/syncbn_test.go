package ddp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/tensor"
)

// bnNet is Linear, BatchNorm1d (synchronised when c is set), Tanh, Linear.
func bnNet(c collectives.Comm) *nn.Sequential {
	g := tensor.NewGenerator(11)
	f64 := nn.WithDType(tensor.Float64)
	var bn nn.Module = nn.NewBatchNorm1d(8, f64)
	if c != nil {
		bn = ddp.NewSyncBatchNorm(bn.(*nn.BatchNorm), c)
	}
	return nn.NewSequential(nn.NewLinear(g, inF, 8, true, f64), bn, nn.NewTanh(), nn.NewLinear(g, 8, outF, true, f64))
}

// TestSyncBatchNormMatchesTheGlobalBatch: N ranks with SyncBatchNorm and
// batch b train exactly as one process with BatchNorm on batch N·b:
// weights, running statistics and input gradients (float64, 1e-9).
func TestSyncBatchNormMatchesTheGlobalBatch(t *testing.T) {
	const steps, b = 3, 4
	for _, n := range []int{2, 3} {
		d := newData(steps*n*b, tensor.Float64)
		ref := bnNet(nil)
		opt := optim.NewSGD(nn.Params(ref), optim.Options{LR: 0.2, Momentum: 0.5})
		var refDX []float64
		for s := range steps {
			x, y := d.rows(s*n*b, n*b)
			xv := autograd.Param(x.Clone())
			opt.ZeroGrad()
			require.NoError(t, nn.CrossEntropy(ref.Forward(xv), y).Backward())
			require.NoError(t, opt.Step())
			refDX = xv.Grad().Float64s()
		}
		want := snapshot(ref)
		wantStats := ref.StateDict()
		got := make([]map[string][]float64, n)
		dx := make([][]float64, n)
		stats := make([]map[string]*tensor.Tensor, n)
		err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
			r := c.Rank()
			m, err := ddp.Wrap(bnNet(c), c, ddp.Options{})
			if err != nil {
				return err
			}
			opt := optim.NewSGD(nn.Params(m), optim.Options{LR: 0.2, Momentum: 0.5})
			for s := range steps {
				x, y := d.rows(s*n*b+r*b, b)
				xv := autograd.Param(x.Clone())
				opt.ZeroGrad()
				if err := nn.CrossEntropy(m.Forward(xv), y).Backward(); err != nil {
					return err
				}
				if err := m.Step(opt); err != nil {
					return err
				}
				dx[r] = xv.Grad().Float64s()
			}
			got[r], stats[r] = snapshot(m.Module), m.StateDict()
			return nil
		})
		require.NoError(t, err)
		for r := range n {
			msg := fmt.Sprintf("%d ranks, rank %d", n, r)
			assertClose(t, want, got[r], 1e-9, msg)
			for _, k := range []string{"1.running_mean", "1.running_var"} {
				assert.InDeltaSlice(t, wantStats[k].Float64s(), stats[r][k].Float64s(), 1e-9, "%s %s", msg, k)
			}
			assert.Equal(t, wantStats["1.num_batches_tracked"].Int64s(), stats[r]["1.num_batches_tracked"].Int64s())
			// The loss of the global batch is a mean over N·b samples; each rank's
			// is over b, so its input gradient is N times the global one's rows.
			for i, v := range dx[r] {
				assert.InDelta(t, refDX[r*b*inF+i]*float64(n), v, 1e-9, "%s dx[%d]", msg, i)
			}
		}
	}
}
