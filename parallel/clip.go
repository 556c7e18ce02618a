package parallel

import (
	"context"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// SquaredNorm returns the sum of the squares of the elements of ts (in
// float64); nil entries are skipped.
func SquaredNorm(ts ...*tensor.Tensor) float64 {
	var ss float64
	for _, g := range ts {
		if g != nil {
			g64 := g.Cast(tensor.Float64)
			ss += tensor.Sum(tensor.Mul(g64, g64), false).Item()
		}
	}
	return ss
}

// ClipGradNorm clips gradients by their global Euclidean norm across
// ranks, as torch.nn.utils.clip_grad_norm_ over the whole model: when
// every rank holds a disjoint shard of the gradients (sharded = true, as
// in a sharded parameter server), the squared norms of the shards are
// summed over the ranks; when every rank holds the same, already
// synchronised gradients (sharded = false, as after DDP's Wait), the local
// norm is the global one and no communication happens. Every gradient is
// multiplied by maxNorm/(total+1e-6) when that is below 1. It returns the
// norm before clipping.
func ClipGradNorm(ctx context.Context, c collectives.Comm, params []*autograd.Var, maxNorm float64, sharded bool) (float64, error) {
	grads := make([]*tensor.Tensor, 0, len(params))
	for _, p := range params {
		grads = append(grads, p.Grad())
	}
	ss := SquaredNorm(grads...)
	if sharded && c.Size() > 1 {
		t := tensor.FromSlice([]float64{ss}, 1)
		if err := c.AllReduce(ctx, t, collectives.Sum); err != nil {
			return 0, err
		}
		ss = t.Item()
	}
	total := math.Sqrt(ss)
	ScaleForClip(grads, total, maxNorm)
	return total, nil
}

// ScaleForClip multiplies the tensors by maxNorm/(total+1e-6) in place when
// that factor is below 1 (or NaN).
func ScaleForClip(grads []*tensor.Tensor, total, maxNorm float64) {
	coef := maxNorm / (total + 1e-6)
	if coef < 1 || math.IsNaN(coef) {
		for _, g := range grads {
			if g != nil {
				tensor.UnaryInto(tensor.OpAffine, g, g, coef, 0)
			}
		}
	}
}
