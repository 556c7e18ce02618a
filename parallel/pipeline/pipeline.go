package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// LossFunc returns micro-batch micro's scalar loss from the last stage's
// output. Step backpropagates the mean over the micro-batches, so with a
// loss that averages over its micro-batch and equal micro-batches the
// gradients are those of the whole batch's mean loss.
type LossFunc func(out *autograd.Var, micro int) *autograd.Var

// Options configure a Pipeline.
type Options struct {
	// Recompute runs each chunk's forward pass without keeping its
	// intermediate results (autograd.Checkpoint) and recomputes them in the
	// backward pass: a rank then holds only each in-flight micro-batch's
	// chunk input and output, at the cost of a second forward pass. The
	// chunks must compute the same values again (autograd.Checkpoint's
	// caveats: reset a Dropout's generator or avoid randomness).
	Recompute bool
	// Recorder, if set, gets one span per action in lane Compute (named as
	// the action, e.g. "F3", "B2.1", with args stage and micro) and one per
	// wait for a transfer in lane Comm ("wait act 3", "wait grad 3").
	Recorder *profiler.Recorder
	// Device is where received activations are allocated (default CPU).
	// Received gradients go to the device of the activation they belong to.
	Device tensor.Device
}

// Pipeline runs a schedule on one rank of a pipeline communicator: rank r
// holds the model chunks of stages r, r+P, ... and exchanges activations
// and their gradients with its neighbours by Send/Recv.
type Pipeline struct {
	comm   collectives.Comm
	sched  *Schedule
	chunks []nn.Module
	opts   Options
	rank   int
	ops    []xop       // this rank's transfers, in the order every rank agrees on
	index  map[key]int // a transfer's payload op in ops
	peak   int
}

// key names a transfer: the activation stage Stage sends forward, or the
// gradient stage Stage sends backward, of micro-batch Micro.
type key struct {
	grad  bool
	micro int
	stage int
}

// xop is one point-to-point call of this rank.
type xop struct {
	key    key
	send   bool
	header bool // the shape header sent before an activation
	peer   int
}

// hdrLen is the length of an activation's header: dtype, rank, dims.
const hdrLen = 2 + maxDims

const maxDims = 8

// New returns the pipeline for this rank of comm (comm.Size() must be the
// schedule's P; comm may be a sub-communicator, e.g. a mesh's pipeline
// group). chunks are this rank's model chunks, chunk c being global stage
// c·P + comm.Rank() (see Schedule.Stage); there must be V of them.
func New(comm collectives.Comm, sched *Schedule, chunks []nn.Module, opts Options) (*Pipeline, error) {
	if comm == nil || sched == nil {
		return nil, errors.New("pipeline: New: nil communicator or schedule")
	}
	if comm.Size() != sched.P {
		return nil, fmt.Errorf("pipeline: New: schedule %q is for %d ranks, the communicator has %d", sched.Name, sched.P, comm.Size())
	}
	if len(chunks) != sched.V {
		return nil, fmt.Errorf("pipeline: New: schedule %q has %d chunks per rank, have %d modules", sched.Name, sched.V, len(chunks))
	}
	// Every rank issues its transfers in one global order, consistent with
	// the data dependencies (the simulated time at which each transfer's
	// data is ready), so the rendezvous of Send and Recv cannot deadlock.
	sim, err := Simulate(sched, Costs{Forward: 1, Backward: 2})
	if err != nil {
		return nil, err
	}
	if opts.Device == nil {
		opts.Device = tensor.CPU
	}
	p := &Pipeline{comm: comm, sched: sched, chunks: chunks, opts: opts, rank: comm.Rank(), index: map[key]int{}}
	type tr struct {
		t        float64
		k        key
		from, to int
	}
	var trs []tr
	S := sched.Stages()
	for r, slots := range sim.Slots {
		for _, sl := range slots {
			st := sched.Stage(r, sl.Action.Chunk)
			if sl.Action.Kind == Forward && st < S-1 {
				trs = append(trs, tr{sl.End, key{false, sl.Action.Micro, st}, r, sched.RankOf(st + 1)})
			}
			if sl.Action.Kind == Backward && st > 0 {
				trs = append(trs, tr{sl.End, key{true, sl.Action.Micro, st}, r, sched.RankOf(st - 1)})
			}
		}
	}
	slices.SortFunc(trs, func(a, b tr) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.stage, b.k.stage); c != 0 {
			return c
		}
		if a.k.grad != b.k.grad {
			if a.k.grad {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.k.micro, b.k.micro)
	})
	for _, t := range trs {
		if t.from == t.to || (t.from != p.rank && t.to != p.rank) {
			continue // a handoff within this rank, or none of its business
		}
		send, peer := t.from == p.rank, t.to
		if !send {
			peer = t.from
		}
		if !t.k.grad {
			p.ops = append(p.ops, xop{key: t.k, send: send, header: true, peer: peer})
		}
		p.index[t.k] = len(p.ops)
		p.ops = append(p.ops, xop{key: t.k, send: send, peer: peer})
	}
	return p, nil
}

// Schedule returns the pipeline's schedule.
func (p *Pipeline) Schedule() *Schedule { return p.sched }

// HasFirst reports whether this rank holds stage 0 (and needs the inputs).
func (p *Pipeline) HasFirst() bool { return p.rank == 0 }

// HasLast reports whether this rank holds the last stage (and computes the
// loss).
func (p *Pipeline) HasLast() bool { return p.sched.RankOf(p.sched.Stages()-1) == p.rank }

// Peak is the largest number of (micro-batch, chunk) pairs whose
// activations this rank held at once during the last Step.
func (p *Pipeline) Peak() int { return p.peak }

// MicroBatches cuts x along axis 0 into m equal micro-batches (views).
func MicroBatches(x *tensor.Tensor, m int) ([]*tensor.Tensor, error) {
	if m < 1 || x.NDim() == 0 || x.Dim(0)%m != 0 {
		return nil, fmt.Errorf("pipeline: MicroBatches: cannot cut shape %v into %d equal micro-batches", x.Shape(), m)
	}
	n := x.Dim(0) / m
	out := make([]*tensor.Tensor, m)
	for i := range out {
		out[i] = x.Narrow(0, i*n, n)
	}
	return out, nil
}

// xfer is the state of one transfer during a step. The compute goroutine
// sets data (a send) or like (a gradient to receive: the tensor it has the
// shape of) and closes ready; the issuer starts the calls and closes
// issued once the payload's call is started (h is set).
type xfer struct {
	data   *tensor.Tensor
	like   *tensor.Tensor
	ready  chan struct{}
	issued chan struct{}
	hdr    *tensor.Tensor
	hh, h  *collectives.Handle
}

type saved struct{ in, out, loss *autograd.Var }

// step is one Step's state. Two goroutines share it: the caller's runs the
// actions (compute), the issuer starts this rank's transfers in the agreed
// order, each as soon as it can (a send once its data is computed, a
// receive at once, an activation's payload once its header is in), so a
// peer's send is matched without waiting for this rank's next action.
type step struct {
	p       *Pipeline
	ctx     context.Context
	xs      map[key]*xfer // read-only once the issuer runs
	local   map[key]*tensor.Tensor
	saved   map[[2]int]*saved // (micro, stage)
	handles []*collectives.Handle

	stop, done, failed chan struct{}
	failOnce           sync.Once
	err                error
}

func (s *step) fail(err error) {
	s.failOnce.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// wait blocks until c is closed, the step stops or fails.
func (s *step) wait(c chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-s.stop:
	case <-s.failed:
	}
	return false
}

// issue starts this rank's transfers in order (the issuer goroutine).
func (s *step) issue() {
	defer close(s.done)
	p := s.p
	start := func(c collectives.Call) *collectives.Handle {
		h := p.comm.Start(s.ctx, c)
		s.handles = append(s.handles, h)
		return h
	}
	for _, o := range p.ops {
		x := s.xs[o.key]
		if (o.send || o.key.grad) && !s.wait(x.ready) {
			return
		}
		switch {
		case o.send && o.header:
			hdr, err := header(x.data)
			if err != nil {
				s.fail(err)
				return
			}
			x.hh = start(collectives.SendCall(hdr, o.peer))
			continue
		case o.send:
			x.h = start(collectives.SendCall(x.data, o.peer))
		case o.header:
			x.hdr = tensor.Zeros(tensor.Int64, hdrLen)
			x.hh = start(collectives.RecvCall(x.hdr, o.peer))
			continue
		case o.key.grad:
			x.data = tensor.EmptyOn(x.like.Device(), x.like.DType(), x.like.Shape()...)
			x.h = start(collectives.RecvCall(x.data, o.peer))
		default:
			if err := x.hh.Wait(); err != nil {
				s.fail(err)
				return
			}
			dt, shape, err := parseHeader(x.hdr)
			if err != nil {
				s.fail(fmt.Errorf("pipeline: rank %d: activation of micro-batch %d from stage %d: %w", p.rank, o.key.micro, o.key.stage, err))
				return
			}
			x.data = tensor.EmptyOn(p.opts.Device, dt, shape...)
			x.h = start(collectives.RecvCall(x.data, o.peer))
		}
		close(x.issued)
	}
}

// produce hands t, the data of transfer k, to the issuer.
func (s *step) produce(k key, t *tensor.Tensor) {
	x, ok := s.xs[k]
	if !ok {
		s.local[k] = t
		return
	}
	x.data = t
	close(x.ready)
}

// expect tells the issuer the shape of gradient k (that of like).
func (s *step) expect(k key, like *tensor.Tensor) {
	if x, ok := s.xs[k]; ok {
		x.like = like
		close(x.ready)
	}
}

// need returns the data of transfer k, waiting for it.
func (s *step) need(k key) (*tensor.Tensor, error) {
	x, ok := s.xs[k]
	if !ok {
		t := s.local[k]
		delete(s.local, k)
		return t, nil
	}
	what := "act"
	if k.grad {
		what = "grad"
	}
	end := s.p.opts.Recorder.Begin(fmt.Sprintf("wait %s %d", what, k.micro), profiler.Comm)
	defer end()
	select {
	case <-x.issued:
	case <-s.failed:
		return nil, s.err
	case <-s.ctx.Done():
		return nil, fmt.Errorf("pipeline: rank %d: %w", s.p.rank, s.ctx.Err())
	}
	return x.data, x.h.Wait()
}

func header(t *tensor.Tensor) (*tensor.Tensor, error) {
	if t.NDim() > maxDims {
		return nil, fmt.Errorf("pipeline: activation of shape %v has more than %d dimensions", t.Shape(), maxDims)
	}
	h := make([]int64, hdrLen)
	h[0], h[1] = int64(t.DType()), int64(t.NDim())
	for i, d := range t.Shape() {
		h[2+i] = int64(d)
	}
	return tensor.FromSlice(h, hdrLen), nil
}

func parseHeader(t *tensor.Tensor) (tensor.DType, []int, error) {
	h := t.Int64s()
	dt, nd := tensor.DType(h[0]), int(h[1])
	if h[0] < 0 || h[0] > int64(tensor.Bool) || nd < 0 || nd > maxDims {
		return 0, nil, fmt.Errorf("bad header %v", h)
	}
	shape := make([]int, nd)
	for i := range shape {
		if h[2+i] < 0 {
			return 0, nil, fmt.Errorf("bad header %v", h)
		}
		shape[i] = int(h[2+i])
	}
	return dt, shape, nil
}

// Step runs the forward and backward passes of the schedule's M
// micro-batches and adds the gradient of the mean micro-batch loss to the
// parameters of this rank's chunks (zero them before, as usual). inputs
// are the micro-batches' inputs, used on the rank holding stage 0 (others
// may pass nil); loss is called on the rank holding the last stage (others
// may pass nil). Step returns the mean loss on every rank (broadcast from
// the last stage's rank, which also makes the ranks end the step together).
//
// Every rank of the communicator must call Step. When a rank fails (an
// error, a panic in a stage, a cancelled ctx), it aborts the communicator,
// so every other rank's Step returns an error instead of waiting forever;
// the communicator is unusable after that.
func (p *Pipeline) Step(ctx context.Context, inputs []*tensor.Tensor, loss LossFunc) (mean float64, err error) {
	s := &step{p: p, ctx: ctx, xs: make(map[key]*xfer, len(p.index)), local: map[key]*tensor.Tensor{}, saved: map[[2]int]*saved{},
		stop: make(chan struct{}), done: make(chan struct{}), failed: make(chan struct{})}
	for k := range p.index {
		s.xs[k] = &xfer{ready: make(chan struct{}), issued: make(chan struct{})}
	}
	started := false
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pipeline: rank %d: %v", p.rank, r)
		}
		if err != nil {
			p.comm.Abort(err)
			close(s.stop)
			if started {
				<-s.done
			}
			for _, h := range s.handles {
				h.Wait() // the abort ends them; their tensors are ours until then
			}
		}
	}()
	sc := p.sched
	S := sc.Stages()
	if p.HasFirst() && len(inputs) != sc.M {
		return 0, fmt.Errorf("pipeline: rank %d: Step: %d inputs for %d micro-batches", p.rank, len(inputs), sc.M)
	}
	if p.HasLast() && loss == nil {
		return 0, fmt.Errorf("pipeline: rank %d: Step: the rank with the last stage needs a loss function", p.rank)
	}
	started = true
	go s.issue()
	rec := p.opts.Recorder
	held, total := 0, 0.0
	p.peak = 0
	for _, a := range sc.Actions[p.rank] {
		st := sc.Stage(p.rank, a.Chunk)
		chunk := p.chunks[a.Chunk]
		if a.Kind == Forward {
			var in *autograd.Var
			if st == 0 {
				in = autograd.Constant(inputs[a.Micro])
			} else {
				t, err := s.need(key{false, a.Micro, st - 1})
				if err != nil {
					return 0, err
				}
				in = autograd.NewVar(t, t.DType().IsFloat())
			}
			t0 := time.Now()
			var out *autograd.Var
			if p.opts.Recompute {
				out = autograd.Checkpoint(func(xs []*autograd.Var) *autograd.Var { return chunk.Forward(xs[0]) }, in)
			} else {
				out = chunk.Forward(in)
			}
			sv := &saved{in: in, out: out}
			if st == S-1 {
				sv.loss = loss(out, a.Micro)
				if sv.loss == nil || sv.loss.Value().NumElements() != 1 {
					return 0, fmt.Errorf("pipeline: rank %d: the loss of micro-batch %d is not a scalar", p.rank, a.Micro)
				}
				total += sv.loss.Item()
			}
			span(rec, a, st, t0)
			s.saved[[2]int{a.Micro, st}] = sv
			held++
			p.peak = max(p.peak, held)
			if st < S-1 {
				s.produce(key{false, a.Micro, st}, out.Value())
				s.expect(key{true, a.Micro, st + 1}, out.Value())
			}
			continue
		}
		sv := s.saved[[2]int{a.Micro, st}]
		var g *tensor.Tensor
		out := sv.out
		if st == S-1 {
			out = sv.loss
			g = tensor.FullLike(out.Value(), 1/float64(sc.M))
		} else {
			var err error
			if g, err = s.need(key{true, a.Micro, st + 1}); err != nil {
				return 0, err
			}
		}
		t0 := time.Now()
		if out.RequiresGrad() {
			if err := autograd.Backward([]*autograd.Var{out}, []*tensor.Tensor{g}, autograd.BackwardOpts{}); err != nil {
				return 0, fmt.Errorf("pipeline: rank %d: backward of %v: %w", p.rank, a, err)
			}
		}
		var gin *tensor.Tensor
		if st > 0 {
			if gin = sv.in.Grad(); gin == nil {
				gin = tensor.ZerosLike(sv.in.Value())
			}
		}
		span(rec, a, st, t0)
		delete(s.saved, [2]int{a.Micro, st})
		held--
		if st > 0 {
			s.produce(key{true, a.Micro, st}, gin)
		}
	}
	<-s.done
	if s.err != nil {
		return 0, s.err
	}
	var errs []error
	for _, h := range s.handles {
		if err := h.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	// The mean loss goes from the last stage to every rank; the broadcast
	// also ends the step together on all ranks.
	lt := tensor.Scalar(total/float64(sc.M), tensor.Float64)
	if err := p.comm.Broadcast(ctx, lt, sc.RankOf(S-1)); err != nil {
		return 0, err
	}
	return lt.Item(), nil
}

// span records action a of stage st, started at t0, in rec's compute lane.
func span(rec *profiler.Recorder, a Action, st int, t0 time.Time) {
	if rec != nil {
		rec.Add(profiler.Span{Name: a.String(), Lane: profiler.Compute, Start: t0, End: time.Now(),
			Args: map[string]any{"stage": st, "micro": a.Micro, "chunk": a.Chunk, "kind": a.Kind.String()}})
	}
}
