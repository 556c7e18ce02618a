package main

import (
	"context"
	"sync"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/scaling"
	"github.com/tessera-ml/tessera/tensor"
)

// noiseDDP trains the task with data-parallel SGD on ranks in-process ranks
// (parallel/ddp, perRank samples each, the linear rule's rate for the
// global batch) and reads the noise scale for free at every step: each
// rank's squared gradient norm after backward and before the all-reduce
// (NoOverlap keeps the buckets unreduced until Wait) and the averaged
// gradient's after it, through scaling.ObserveRanks (B_small = perRank,
// B_big = ranks·perRank; moving averages with decay 0.95). Rank 0's
// estimate is recorded every `every` steps.
func noiseDDP(t *task, ranks, perRank, steps, every int, seed uint64) ([]noisePoint, error) {
	var (
		mu  sync.Mutex
		out []noisePoint
	)
	err := parallel.Launch(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		m := t.model(seed)
		d, err := ddp.Wrap(m, c, ddp.Options{NoOverlap: true})
		if err != nil {
			return err
		}
		ps := nn.Params(d)
		o := optim.NewSGD(ps, optim.Options{LR: baseLR["sgd"] * float64(ranks*perRank) / refBatch, Momentum: 0.9})
		g := tensor.NewGenerator(seed*100 + uint64(c.Rank()))
		ns := scaling.NewNoiseScale(0.95)
		n := t.nTrain()
		for step := 0; step <= steps; step++ {
			it := g.RandInt(0, int64(n), perRank)
			x := autograd.Constant(tensor.IndexSelect(t.xTrain, 0, it))
			y := tensor.IndexSelect(t.yTrain, 0, it)
			o.ZeroGrad()
			if err := nn.CrossEntropy(d.Forward(x), y).Backward(); err != nil {
				return err
			}
			local := scaling.GradSqNorm(ps)  // this rank's own gradient
			if err := d.Wait(); err != nil { // the all-reduce (average)
				return err
			}
			if err := scaling.ObserveRanks(ctx, c, ns, perRank, local, scaling.GradSqNorm(ps)); err != nil {
				return err
			}
			if step%every == 0 && c.Rank() == 0 && step > 0 {
				var loss float64
				autograd.NoGrad(func() { loss = nn.CrossEntropy(m.Forward(autograd.Constant(t.xTrain)), t.yTrain).Item() })
				mu.Lock()
				out = append(out, noisePoint{Task: t.name + "/ddp", Step: step, Loss: loss, Acc: t.accuracy(m), BSimple: ns.BSimple(), GradSq: ns.GradSq(), TraceS: ns.TraceSigma()})
				mu.Unlock()
			}
			if err := o.Step(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
