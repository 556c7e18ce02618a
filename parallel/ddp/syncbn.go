package ddp

import (
	"context"
	"fmt"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// SyncBatchNorm is a BatchNorm whose training-mode statistics are those of
// the global batch, all ranks' samples together, as PyTorch's
// SyncBatchNorm: the forward pass all-reduces the per-channel sums of x and
// x² and the sample count, and the backward pass the per-channel sums of
// the output gradient and of its product with the normalised input. The
// weight and bias, their gradients (averaged by DDP like any other) and
// the running statistics are the wrapped BatchNorm's; the running
// statistics are updated with the global mean and unbiased variance, so
// they stay equal on every rank. In evaluation mode it is the wrapped
// BatchNorm. Each rank must call Forward and Backward the same number of
// times (the statistics are collectives). The normalisation's backward
// rule computes with tensors, so it is not differentiable twice.
type SyncBatchNorm struct {
	*nn.BatchNorm
	comm    collectives.Comm
	timeout time.Duration
}

// NewSyncBatchNorm makes bn synchronise its statistics over c.
func NewSyncBatchNorm(bn *nn.BatchNorm, c collectives.Comm) *SyncBatchNorm {
	return &SyncBatchNorm{BatchNorm: bn, comm: c, timeout: 5 * time.Minute}
}

// SetTimeout bounds each of its collectives (default 5 minutes).
func (s *SyncBatchNorm) SetTimeout(d time.Duration) { s.timeout = d }

// Forward normalises x ([N, C, ...]) with the global batch statistics in
// training mode, with the running estimates otherwise.
func (s *SyncBatchNorm) Forward(x *autograd.Var) *autograd.Var {
	if !s.Training() {
		return s.BatchNorm.Forward(x)
	}
	const op = "ddp.SyncBatchNorm"
	c := s.RunningMean.Dim(0)
	if x.NDim() < 2 || x.Dim(1) != c {
		panic(&tensor.Error{Op: op, Msg: fmt.Sprintf("input shape %v for %d features", x.Shape(), c)})
	}
	axes, shape := []int{0}, []int{1, c}
	for i := 2; i < x.NDim(); i++ {
		axes = append(axes, i)
		shape = append(shape, 1)
	}
	xv := x.Value()
	x64 := xv.Cast(tensor.Float64)
	local := float64(xv.NumElements() / c)
	stats := tensor.Zeros(tensor.Float64, 2*c+1)
	stats.Narrow(0, 0, c).CopyFrom(tensor.Sum(x64, false, axes...))
	stats.Narrow(0, c, c).CopyFrom(tensor.Sum(tensor.Mul(x64, x64), false, axes...))
	stats.Set(local, 2*c)
	s.allReduce(op+" forward", stats)
	n := stats.Narrow(0, 2*c, 1).Item()
	mean := tensor.MulScalar(stats.Narrow(0, 0, c), 1/n)
	variance := tensor.Sub(tensor.MulScalar(stats.Narrow(0, c, c), 1/n), tensor.Mul(mean, mean)) // biased
	variance = tensor.MaximumScalar(variance, 0)
	invstd := tensor.Rsqrt(tensor.AddScalar(variance, s.Eps))
	meanB, invB := mean.Reshape(shape...).Cast(xv.DType()), invstd.Reshape(shape...).Cast(xv.DType())
	xhat := tensor.Mul(tensor.Sub(xv, meanB), invB)

	m := s.Momentum
	unbiased := tensor.MulScalar(variance, n/max(n-1, 1))
	s.RunningMean.CopyFrom(tensor.Add(tensor.MulScalar(s.RunningMean, 1-m), tensor.MulScalar(mean, m).Cast(s.RunningMean.DType())))
	s.RunningVar.CopyFrom(tensor.Add(tensor.MulScalar(s.RunningVar, 1-m), tensor.MulScalar(unbiased, m).Cast(s.RunningVar.DType())))
	s.NumBatches.CopyFrom(tensor.AddScalar(s.NumBatches, 1))

	y := autograd.Record(op, xhat, []*autograd.Var{x}, func(ctx *autograd.Ctx, g *autograd.Var) []*autograd.Var {
		gv := g.Value()
		xh := ctx.Output().Value()
		g64, xh64 := gv.Cast(tensor.Float64), xh.Cast(tensor.Float64)
		sums := tensor.Zeros(tensor.Float64, 2*c)
		sums.Narrow(0, 0, c).CopyFrom(tensor.Sum(g64, false, axes...))
		sums.Narrow(0, c, c).CopyFrom(tensor.Sum(tensor.Mul(g64, xh64), false, axes...))
		s.allReduce(op+" backward", sums)
		mg := tensor.MulScalar(sums.Narrow(0, 0, c), 1/n).Reshape(shape...).Cast(gv.DType())
		mgx := tensor.MulScalar(sums.Narrow(0, c, c), 1/n).Reshape(shape...).Cast(gv.DType())
		dx := tensor.Mul(tensor.Sub(tensor.Sub(gv, mg), tensor.Mul(xh, mgx)), invB)
		return []*autograd.Var{autograd.Constant(dx)}
	})
	if s.Weight != nil {
		y = autograd.Add(autograd.Mul(y, autograd.Reshape(s.Weight, shape...)), autograd.Reshape(s.Bias, shape...))
	}
	return y
}

// allReduce sums t over the ranks; a failure is a run-time error of the
// forward or backward pass, reported as a panic with a *tensor.Error
// (wrapping the collective's error) since Forward cannot return one.
func (s *SyncBatchNorm) allReduce(op string, t *tensor.Tensor) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.comm.AllReduce(ctx, t, collectives.Sum); err != nil {
		panic(&tensor.Error{Op: op, Msg: "all-reducing the batch statistics", Err: err})
	}
}
