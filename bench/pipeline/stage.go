package main

import (
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// stage is one pipeline stage of the bench: y = tanh(x·W), a real layer
// with a hand-written backward (dx = (g ⊙ (1−y²))·Wᵀ, dW = xᵀ·(g ⊙ (1−y²)))
// inside one autograd op, so the whole forward and the whole backward of
// the stage are two timed intervals. With hold > 0 (-work wait), each
// forward lasts fwd and each backward bwd of wall time: the layer's
// arithmetic, then a sleep for the rest, a stand-in for device compute
// the host waits for, so that p stages run concurrently on a machine with
// fewer than p free cores. With -work compute the arithmetic alone sets the
// time.
type stage struct {
	nn.Base
	W        *autograd.Var
	fwd, bwd time.Duration
	wait     bool
}

func newStage(g *tensor.Generator, width int, fwd, bwd time.Duration, wait bool) *stage {
	s := &stage{W: autograd.Param(g.Normal(0, 1/float64(width), tensor.Float32, width, width)), fwd: fwd, bwd: bwd, wait: wait}
	s.RegisterParam("weight", &s.W)
	return s
}

func holdUntil(t0 time.Time, d time.Duration) {
	if left := d - time.Since(t0); left > 0 {
		time.Sleep(left)
	}
}

func (s *stage) Forward(x *autograd.Var) *autograd.Var {
	t0 := time.Now()
	xv := x.Value()
	y := tensor.Tanh(tensor.MatMul(xv, s.W.Value()))
	if s.wait {
		holdUntil(t0, s.fwd)
	}
	return autograd.Record("bench.stage", y, []*autograd.Var{x, s.W}, func(c *autograd.Ctx, g *autograd.Var) []*autograd.Var {
		t0 := time.Now()
		gz := tensor.Mul(g.Value(), tensor.AddScalar(tensor.MulScalar(tensor.Square(y), -1), 1))
		out := make([]*autograd.Var, 2)
		if c.NeedsGrad(0) {
			out[0] = autograd.Constant(tensor.MatMul(gz, s.W.Value().T()))
		}
		out[1] = autograd.Constant(tensor.MatMul(xv.T(), gz))
		if s.wait {
			holdUntil(t0, s.bwd)
		}
		return out
	})
}
