package strategy

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// psStep is one step's gradient exchange in flight.
type psStep struct {
	h      *collectives.Handle
	cancel context.CancelFunc
	src    *tensor.Tensor   // the flat gradients sent
	dst    *tensor.Tensor   // sharded: the reduced slice
	recv   []*tensor.Tensor // central, rank 0: the workers' gradients
}

// shardedPS is BigDL's parameter server on Spark: the flat parameter
// vector is cut into one slice per rank; each rank owns a slice, receives
// the sum of every rank's gradient for it (a reduce-scatter: the
// "shuffle"), updates it with its optimizer, and every rank gathers the
// fresh slices (an all-gather: the "broadcast"). The optimizer's state
// lives only with the slice's owner.
type shardedPS struct {
	*replicas
	opt    *optim.Optimizer
	slice  *autograd.Var  // this rank's slice of the parameters
	flat   *tensor.Tensor // the gathered parameters
	ring   ring
	q      []psStep
	pool   []*tensor.Tensor
	poolAt int
}

func newShardedPS(m nn.Module, c collectives.Comm, o Options) (*shardedPS, error) {
	r, err := newReplicas(m, c, o)
	if err != nil {
		return nil, err
	}
	s := &shardedPS{replicas: r}
	s.flat = tensor.ZerosLike(r.grads)
	r.gatherValues(s.flat)
	k := r.padded / c.Size()
	s.slice = autograd.Param(s.flat.Narrow(0, c.Rank()*k, k).Clone())
	s.opt = o.NewOptimizer([]*autograd.Var{s.slice})
	return s, nil
}

func (s *shardedPS) Name() string                { return "sharded-ps" }
func (s *shardedPS) Optimizer() *optim.Optimizer { return s.opt }

func (s *shardedPS) Traffic() Traffic {
	n := s.c.Size()
	t := ringTraffic(n, s.bytes(), "")
	t.Formula = fmt.Sprintf("reduce-scatter (N-1)/N x S + all-gather (N-1)/N x S = 2*%d/%d x %d bytes", n-1, n, s.bytes())
	return t
}

func (s *shardedPS) Step() error {
	src := s.ring.take(s.replicas)
	if len(s.pool) < s.o.Staleness+1 {
		s.pool = append(s.pool, tensor.ZerosLike(s.slice.Value()))
	}
	dst := s.pool[s.poolAt]
	s.poolAt = (s.poolAt + 1) % (s.o.Staleness + 1)
	ctx, cancel := s.ctx()
	h := s.c.Start(ctx, collectives.ReduceScatterCall(dst, src, collectives.Avg))
	s.comm(h, "reduce-scatter gradients", s.bytes())
	s.stats.Collectives++
	hb := halfRingBytes(s.c.Size(), s.bytes())
	s.stats.add(hb, hb)
	s.q = append(s.q, psStep{h: h, cancel: cancel, src: src, dst: dst})
	var err error
	if len(s.q) > s.o.Staleness {
		err = s.apply()
	}
	s.zeroGrads()
	if err == nil {
		s.stats.Steps++
	}
	return err
}

// apply finishes the oldest step in flight: the owner updates its slice
// and every rank gathers the slices.
func (s *shardedPS) apply() error {
	p := s.q[0]
	s.q = s.q[1:]
	defer p.cancel()
	if err := s.wait(p.h, "reduce-scatter"); err != nil {
		return fmt.Errorf("strategy sharded-ps: %w", err)
	}
	s.slice.SetGrad(p.dst)
	if err := s.opt.Step(); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	h := s.c.Start(ctx, collectives.AllGatherCall(s.flat, s.slice.Value()))
	s.comm(h, "all-gather parameters", s.bytes())
	s.stats.Collectives++
	hb := halfRingBytes(s.c.Size(), s.bytes())
	s.stats.add(hb, hb)
	if err := s.wait(h, "all-gather"); err != nil {
		return fmt.Errorf("strategy sharded-ps: %w", err)
	}
	s.scatterValues(s.flat)
	return nil
}

func (s *shardedPS) Flush() error {
	for len(s.q) > 0 {
		if err := s.apply(); err != nil {
			return err
		}
	}
	return s.barrier()
}

// centralPS is the classic parameter server on rank 0: every worker sends
// its gradients to rank 0, which averages them, updates the parameters and
// sends them back. Its traffic concentrates on rank 0 ((N-1)·S each way)
// while a worker moves S each way.
type centralPS struct {
	*replicas
	opt  *optim.Optimizer // rank 0 only
	avg  *tensor.Tensor
	flat *tensor.Tensor
	ring ring
	q    []psStep
	recv [][]*tensor.Tensor // rank 0: one set of receive buffers per step in flight
	at   int
}

func newCentralPS(m nn.Module, c collectives.Comm, o Options) (*centralPS, error) {
	r, err := newReplicas(m, c, o)
	if err != nil {
		return nil, err
	}
	p := &centralPS{replicas: r, flat: tensor.ZerosLike(r.grads), avg: tensor.ZerosLike(r.grads)}
	if c.Rank() == 0 {
		p.opt = o.NewOptimizer(r.params)
	}
	return p, nil
}

func (p *centralPS) Name() string                { return "central-ps" }
func (p *centralPS) Optimizer() *optim.Optimizer { return p.opt }

func (p *centralPS) Traffic() Traffic {
	n, s := int64(p.c.Size()), p.bytes()
	if p.c.Rank() == 0 {
		return Traffic{Sent: (n - 1) * s, Received: (n - 1) * s,
			Formula: fmt.Sprintf("server: receives and sends (N-1) x S = %d x %d bytes", n-1, s)}
	}
	return Traffic{Sent: s, Received: s, Formula: fmt.Sprintf("worker: sends and receives S = %d bytes", s)}
}

func (p *centralPS) Step() error {
	src := p.ring.take(p.replicas)
	ctx, cancel := p.ctx()
	st := psStep{cancel: cancel, src: src}
	n := p.c.Size()
	if p.c.Rank() == 0 {
		if len(p.recv) < p.o.Staleness+1 {
			bufs := make([]*tensor.Tensor, n-1)
			for i := range bufs {
				bufs[i] = tensor.ZerosLike(p.grads)
			}
			p.recv = append(p.recv, bufs)
		}
		st.recv = p.recv[p.at]
		p.at = (p.at + 1) % (p.o.Staleness + 1)
		calls := make([]collectives.Call, n-1)
		for w := 1; w < n; w++ {
			calls[w-1] = collectives.RecvCall(st.recv[w-1], w)
		}
		st.h = p.c.Start(ctx, calls...)
		p.stats.Collectives += n - 1
		p.stats.add(0, int64(n-1)*p.bytes())
	} else {
		st.h = p.c.Start(ctx, collectives.SendCall(src, 0))
		p.stats.Collectives++
		p.stats.add(p.bytes(), 0)
	}
	p.comm(st.h, "push gradients", p.Traffic().Received)
	p.q = append(p.q, st)
	var err error
	if len(p.q) > p.o.Staleness {
		err = p.apply()
	}
	p.zeroGrads()
	if err == nil {
		p.stats.Steps++
	}
	return err
}

// apply finishes the oldest step in flight: rank 0 averages the
// gradients, steps and sends the parameters; workers receive them.
func (p *centralPS) apply() error {
	st := p.q[0]
	p.q = p.q[1:]
	defer st.cancel()
	if err := p.wait(st.h, "gradients"); err != nil {
		return fmt.Errorf("strategy central-ps: %w", err)
	}
	n := p.c.Size()
	var calls []collectives.Call
	if p.c.Rank() == 0 {
		p.avg.CopyFrom(st.src)
		for _, b := range st.recv {
			tensor.AddInto(p.avg, p.avg, b)
		}
		tensor.UnaryInto(tensor.OpAffine, p.avg, p.avg, 1/float64(n), 0)
		for i, q := range p.params {
			q.SetGrad(p.view(p.avg, i))
		}
		if err := p.opt.Step(); err != nil {
			return err
		}
		p.gatherValues(p.flat)
		for w := 1; w < n; w++ {
			calls = append(calls, collectives.SendCall(p.flat, w))
		}
	} else {
		calls = append(calls, collectives.RecvCall(p.flat, 0))
	}
	ctx, cancel := p.ctx()
	defer cancel()
	h := p.c.Start(ctx, calls...)
	p.comm(h, "pull parameters", p.Traffic().Sent)
	p.stats.Collectives += len(calls)
	if p.c.Rank() == 0 {
		p.stats.add(int64(n-1)*p.bytes(), 0)
	} else {
		p.stats.add(0, p.bytes())
	}
	if err := p.wait(h, "parameters"); err != nil {
		return fmt.Errorf("strategy central-ps: %w", err)
	}
	if p.c.Rank() != 0 {
		p.scatterValues(p.flat)
	}
	return nil
}

func (p *centralPS) Flush() error {
	for len(p.q) > 0 {
		if err := p.apply(); err != nil {
			return err
		}
	}
	return p.barrier()
}
