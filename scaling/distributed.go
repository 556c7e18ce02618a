package scaling

import (
	"context"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// GradSqNorm is the squared L2 norm of the current gradients of params
// (parameters without a gradient count as zero), accumulated in float64.
func GradSqNorm(params []*autograd.Var) float64 {
	s := 0.0
	for _, p := range params {
		if g := p.Grad(); g != nil {
			s += tensor.Sum(tensor.Square(g.Cast(tensor.Float64)), false).Item()
		}
	}
	return s
}

// ObserveRanks feeds s with the two norms data-parallel training already has:
// localSq, this rank's squared gradient norm over its own perRank samples
// (read before the gradients are averaged, e.g. with ddp.Options.NoOverlap
// between Backward and Step), and globalSq, the squared norm of the averaged
// gradient over all c.Size()·perRank samples (read after). The ranks' local
// norms are averaged with one scalar all-reduce, so every rank observes the
// same pair: B_small = perRank, B_big = c.Size()·perRank (McCandlish et al.
// 2018, appendix A.1, "for free" in data-parallel training). Every rank must
// call it; it returns the collective's error. With one rank there is no
// second batch size and it returns nil without observing.
func ObserveRanks(ctx context.Context, c collectives.Comm, s *NoiseScale, perRank int, localSq, globalSq float64) error {
	n := c.Size()
	if n < 2 {
		return nil
	}
	t := tensor.FromSlice([]float64{localSq}, 1)
	if err := c.AllReduce(ctx, t, collectives.Avg); err != nil {
		return err
	}
	s.Observe(perRank, t.Float64s()[0], n*perRank, globalSq)
	return nil
}
