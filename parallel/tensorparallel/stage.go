package tensorparallel

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Stage is one pipeline stage of a tensor-parallel GPT: blocks [Lo, Hi)
// of Model, plus the embedding on the first stage and the final LayerNorm,
// head and loss on the last. Step runs one training step over the
// pipeline communicator with GPipe's order (every micro-batch forward, then
// every micro-batch backward), activations and their gradients moving by
// Send/Recv between neighbouring stages.
//
// It is the minimal pipeline this package needs to train and test a 3-D
// grid; parallel/pipeline holds the schedules (1F1B, interleaved) and the
// stage balancing.
type Stage struct {
	Model       *GPT
	Pipe        collectives.Comm // the pipeline group; rank = stage (nil: one stage)
	Lo, Hi      int              // blocks of this stage
	First, Last bool
}

// NewStage returns stage pipe.Rank() of pipe.Size(), the blocks divided
// by Partition.
func NewStage(m *GPT, pipe collectives.Comm) *Stage {
	p, n := 0, 1
	if pipe != nil {
		p, n = pipe.Rank(), pipe.Size()
	}
	lo, hi := Partition(len(m.Blocks), n, p)
	return &Stage{Model: m, Pipe: pipe, Lo: lo, Hi: hi, First: p == 0, Last: p == n-1}
}

// Params returns the parameters this stage uses (each once; the tied
// token embedding on both the first and the last stage).
func (s *Stage) Params() []*autograd.Var {
	m := s.Model
	var ps []*autograd.Var
	if s.First || s.Last {
		ps = append(ps, m.Tok.Weight)
	}
	if s.First {
		ps = append(ps, m.Pos.Weight)
	}
	for _, b := range m.Blocks[s.Lo:s.Hi] {
		for _, p := range b.Parameters() {
			ps = append(ps, p.Param)
		}
	}
	if s.Last {
		ps = append(ps, m.LNF.Weight, m.LNF.Bias)
	}
	return ps
}

func (s *Stage) actShape(b, t int) []int {
	if s.Model.SequenceParallel {
		t /= s.Model.Group.Size()
	}
	return []int{b, t, s.Model.Config.Embed}
}

// Step runs forward and backward of the batch idx, targets [B, T] split
// into micro micro-batches, accumulating gradients into the stage's
// parameters (the loss of the whole batch is the mean of the
// micro-batches' losses). It returns that loss on every stage (the last
// stage broadcasts it). Every stage must call Step with equal shapes;
// idx is read on the first stage and targets on the last.
func (s *Stage) Step(ctx context.Context, idx, targets *tensor.Tensor, micro int) (float64, error) {
	b, t := idx.Dim(0), idx.Dim(1)
	if micro < 1 || b%micro != 0 {
		return 0, fmt.Errorf("tensorparallel: batch of %d in %d micro-batches", b, micro)
	}
	mb := b / micro
	m := s.Model
	dt := m.Tok.Weight.DType()
	prev, next := -1, -1
	if s.Pipe != nil {
		prev, next = s.Pipe.Rank()-1, s.Pipe.Rank()+1
	}
	ins := make([]*autograd.Var, micro)
	outs := make([]*autograd.Var, micro)
	loss := 0.0
	for k := range micro {
		var x *autograd.Var
		if s.First {
			x = m.Embed(idx.Narrow(0, k*mb, mb))
		} else {
			buf := tensor.EmptyOn(m.Tok.Weight.Value().Device(), dt, s.actShape(mb, t)...)
			if err := s.Pipe.Recv(ctx, buf, prev); err != nil {
				return 0, err
			}
			x = autograd.Param(buf)
			ins[k] = x
		}
		h := x
		for _, blk := range m.Blocks[s.Lo:s.Hi] {
			h = blk.Forward(h)
		}
		if s.Last {
			l := m.Loss(m.Head(h), targets.Narrow(0, k*mb, mb))
			loss += l.Item() / float64(micro)
			outs[k] = autograd.MulScalar(l, 1/float64(micro))
		} else {
			if err := s.Pipe.Send(ctx, h.Value().Contiguous(), next); err != nil {
				return 0, err
			}
			outs[k] = h
		}
		if err := m.Group.Err(); err != nil {
			return 0, err
		}
	}
	for k := range micro {
		var err error
		if s.Last {
			err = outs[k].Backward()
		} else {
			g := tensor.EmptyOn(m.Tok.Weight.Value().Device(), dt, outs[k].Shape()...)
			if err = s.Pipe.Recv(ctx, g, next); err == nil {
				err = outs[k].Backward(g)
			}
		}
		if err != nil {
			return 0, err
		}
		if err := m.Group.Err(); err != nil {
			return 0, err
		}
		if !s.First {
			g := ins[k].Grad()
			if g == nil {
				g = tensor.ZerosLike(ins[k].Value())
			}
			if err := s.Pipe.Send(ctx, g.Contiguous(), prev); err != nil {
				return 0, err
			}
		}
	}
	if s.Pipe != nil && s.Pipe.Size() > 1 {
		l := tensor.FromSlice([]float64{loss}, 1)
		if err := s.Pipe.Broadcast(ctx, l, s.Pipe.Size()-1); err != nil {
			return 0, err
		}
		loss = l.Item()
	}
	return loss, nil
}

// SyncGrads finishes a step's gradients after Step: the sequence-parallel
// sum of the replicated parameters' gradients, the sum of the tied token
// embedding's gradients over ends (the first and last stages, nil when
// there is one stage) and the average of every gradient over the
// data-parallel group data (nil: none).
func (s *Stage) SyncGrads(ctx context.Context, data, ends collectives.Comm) error {
	if err := s.Model.SyncSequenceParallelGrads(); err != nil {
		return err
	}
	if ends != nil && (s.First || s.Last) {
		if err := allReduceGrads(ctx, ends, []*autograd.Var{s.Model.Tok.Weight}, collectives.Sum); err != nil {
			return err
		}
	}
	return allReduceGrads(ctx, data, s.Params(), collectives.Avg)
}

// allReduceGrads all-reduces the gradients of params over c in one group
// call (a parameter without a gradient contributes zeros).
func allReduceGrads(ctx context.Context, c collectives.Comm, params []*autograd.Var, op collectives.RedOp) error {
	if c == nil || c.Size() == 1 {
		return nil
	}
	calls := make([]collectives.Call, 0, len(params))
	bufs := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		g := p.Grad()
		if g == nil {
			g = tensor.ZerosLike(p.Value())
		}
		bufs[i] = g.Contiguous().Clone()
		calls = append(calls, collectives.AllReduceCall(bufs[i], op))
	}
	if err := c.Group(ctx, calls...); err != nil {
		return err
	}
	for i, p := range params {
		p.SetGrad(bufs[i])
	}
	return nil
}
