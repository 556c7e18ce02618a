package strategy

import (
	"context"
	"fmt"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// Strategy keeps the replicas of a model on the ranks of a communicator
// in step. A training step is: Model().Forward on this rank's shard, the
// loss's Backward, then Step, which synchronises the gradients, updates
// the parameters and zeroes the gradients for the next step.
type Strategy interface {
	// Name is the strategy's flag value ("allreduce", "fusion", ...).
	Name() string
	// Model is the module to run forward and backward through.
	Model() nn.Module
	// Optimizer is the optimizer the strategy steps (set its learning rate
	// or drive a schedule through it). Nil on ranks that do not update
	// (the workers of the central parameter server).
	Optimizer() *optim.Optimizer
	// Step synchronises this step's gradients, updates the parameters and
	// zeroes the gradients.
	Step() error
	// Flush applies the updates still pending (bounded staleness) so every
	// rank holds the final weights, and waits for every rank to get there
	// (a barrier: a rank of the local backend that returns closes its
	// communicator, which fails peers still exchanging with a third rank).
	Flush() error
	// Traffic is the number of bytes this rank sends and receives per step
	// by the strategy's formula.
	Traffic() Traffic
	// Stats are the cumulative counters.
	Stats() Stats
}

// Traffic is the payload one rank sends and receives in one step.
type Traffic struct {
	Sent, Received int64
	Formula        string
}

// Stats are cumulative counters of a strategy.
type Stats struct {
	Steps          int
	AllReduceCalls int           // all-reduce calls issued (DDP buckets, fusion buffers)
	Collectives    int           // all collective and point-to-point calls issued
	WaitTime       time.Duration // time Step spent waiting for communication
	// BytesSent and BytesReceived add up the calls issued: Send and Recv
	// their payload, all-reduce 2(N-1)/N of it, reduce-scatter and
	// all-gather (N-1)/N of the full vector (the ring algorithms' volume,
	// which every algorithm must at least move).
	BytesSent, BytesReceived int64
}

// ringBytes is what one rank moves in a ring all-reduce of b bytes.
func ringBytes(n int, b int64) int64 { return 2 * int64(n-1) * b / int64(n) }

// halfRingBytes is one rank's share of a reduce-scatter or all-gather of
// a b-byte vector.
func halfRingBytes(n int, b int64) int64 { return int64(n-1) * b / int64(n) }

func (s *Stats) add(sent, recv int64) {
	s.BytesSent += sent
	s.BytesReceived += recv
}

// Options configure New. NewOptimizer is required.
type Options struct {
	// NewOptimizer makes the optimizer over the given parameters.
	NewOptimizer func(params []*autograd.Var) *optim.Optimizer
	// DDP configures "allreduce".
	DDP ddp.Options
	// FusionThresholdMiB is the tensor-fusion buffer of "fusion" (default
	// 64 MiB, HOROVOD_FUSION_THRESHOLD); 0 < threshold < one gradient's size
	// means one all-reduce per gradient. Negative: no fusion.
	FusionThresholdMiB float64
	// Staleness is the bound s of the parameter-server strategies: the
	// gradients of step t are applied at step t+s, their communication
	// overlapping s steps of computation (bounded-staleness / asynchronous
	// SGD); 0 is synchronous.
	Staleness int
	// Timeout bounds each collective (default 5 minutes).
	Timeout time.Duration
	// Profiler records communication and waits.
	Profiler *profiler.Recorder
}

// Names lists the strategies New knows.
func Names() []string {
	return []string{"allreduce", "fusion", "sharded-ps", "central-ps"}
}

// New returns the named strategy for module m on communicator c. Every
// rank must call it with the same name, options and model structure; rank
// 0's initial parameters are copied to every rank.
func New(name string, m nn.Module, c collectives.Comm, o Options) (Strategy, error) {
	if o.NewOptimizer == nil {
		return nil, fmt.Errorf("strategy: Options.NewOptimizer is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Staleness < 0 {
		return nil, fmt.Errorf("strategy: staleness %d < 0", o.Staleness)
	}
	if o.Staleness > 0 && name != "sharded-ps" && name != "central-ps" {
		return nil, fmt.Errorf("strategy: staleness is for the parameter-server strategies, not %q", name)
	}
	switch name {
	case "allreduce":
		return newAllReduce(m, c, o)
	case "fusion":
		return newFusion(m, c, o)
	case "sharded-ps":
		return newShardedPS(m, c, o)
	case "central-ps":
		return newCentralPS(m, c, o)
	}
	return nil, fmt.Errorf("strategy: unknown strategy %q (have %v)", name, Names())
}

func ringTraffic(n int, s int64, what string) Traffic {
	b := ringBytes(n, s)
	return Traffic{Sent: b, Received: b, Formula: fmt.Sprintf("%s: 2(N-1)/N x S = 2*%d/%d x %d bytes", what, n-1, n, s)}
}

// --- allreduce: DDP buckets -------------------------------------------------

type allReduce struct {
	d       *ddp.DDP
	opt     *optim.Optimizer
	c       collectives.Comm
	s       int64
	timeout time.Duration
}

func newAllReduce(m nn.Module, c collectives.Comm, o Options) (*allReduce, error) {
	do := o.DDP
	if do.Timeout <= 0 {
		do.Timeout = o.Timeout
	}
	if do.Profiler == nil {
		do.Profiler = o.Profiler
	}
	d, err := ddp.Wrap(m, c, do)
	if err != nil {
		return nil, err
	}
	var s int64
	for _, b := range d.Buckets() {
		s += int64(b.Bytes)
	}
	return &allReduce{d: d, opt: o.NewOptimizer(nn.Params(d)), c: c, s: s, timeout: o.Timeout}, nil
}

func (a *allReduce) Name() string                { return "allreduce" }
func (a *allReduce) Model() nn.Module            { return a.d }
func (a *allReduce) Optimizer() *optim.Optimizer { return a.opt }
func (a *allReduce) Flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	return a.c.Barrier(ctx)
}

func (a *allReduce) Step() error {
	if err := a.d.Step(a.opt); err != nil {
		return err
	}
	a.opt.ZeroGrad()
	return nil
}

func (a *allReduce) Traffic() Traffic {
	return ringTraffic(a.c.Size(), a.s, "ring all-reduce of the gradients")
}

func (a *allReduce) Stats() Stats {
	s := a.d.Stats()
	b := ringBytes(a.c.Size(), s.BytesReduced)
	return Stats{Steps: s.Steps, AllReduceCalls: s.AllReduceCalls, Collectives: s.AllReduceCalls, WaitTime: s.WaitTime,
		BytesSent: b, BytesReceived: b}
}

// DDP returns the DDP wrapper of an "allreduce" strategy (nil otherwise).
func DDP(s Strategy) *ddp.DDP {
	if a, ok := s.(*allReduce); ok {
		return a.d
	}
	return nil
}

// --- shared pieces -----------------------------------------------------------

// replicas holds what every strategy but allreduce needs: the distinct
// trainable parameters, their gradients bound to one flat buffer, and the
// timing and counters.
type replicas struct {
	m      nn.Module
	c      collectives.Comm
	o      Options
	params []*autograd.Var
	names  []string
	offs   []int
	dt     tensor.DType
	elems  int // sum of parameter sizes
	padded int // elems rounded up to a multiple of the world size
	grads  *tensor.Tensor
	stats  Stats

	stepCtx context.Context
}

func newReplicas(m nn.Module, c collectives.Comm, o Options) (*replicas, error) {
	r := &replicas{m: m, c: c, o: o}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := parallel.VerifyModel(ctx, c, m); err != nil {
		return nil, fmt.Errorf("strategy: %w", err)
	}
	if err := parallel.BroadcastModule(ctx, c, m, 0); err != nil {
		return nil, fmt.Errorf("strategy: %w", err)
	}
	seen := map[*autograd.Var]bool{}
	for _, p := range m.Parameters() {
		if seen[p.Param] || !p.Param.RequiresGrad() {
			continue
		}
		seen[p.Param] = true
		if len(r.params) == 0 {
			r.dt = p.Param.DType()
		} else if p.Param.DType() != r.dt {
			return nil, fmt.Errorf("strategy: parameter %s is %s, the others %s: one dtype per model", p.Name, p.Param.DType(), r.dt)
		}
		r.params = append(r.params, p.Param)
		r.names = append(r.names, p.Name)
		r.offs = append(r.offs, r.elems)
		r.elems += p.Param.Value().NumElements()
	}
	if len(r.params) == 0 {
		return nil, fmt.Errorf("strategy: the model has no trainable parameters")
	}
	n := c.Size()
	r.padded = (r.elems + n - 1) / n * n
	r.grads = zerosOn(r.params[0].Value().Device(), r.dt, r.padded)
	r.bind()
	return r, nil
}

func (r *replicas) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.o.Timeout)
}

// view returns parameter i's part of a flat buffer.
func (r *replicas) view(flat *tensor.Tensor, i int) *tensor.Tensor {
	p := r.params[i]
	return flat.Narrow(0, r.offs[i], p.Value().NumElements()).Reshape(p.Shape()...)
}

// bind makes the parameters' gradients views of the flat gradient buffer.
func (r *replicas) bind() {
	for i, p := range r.params {
		p.SetGradBuffer(r.view(r.grads, i))
	}
}

// flatGrads returns the flat gradient buffer holding this step's
// gradients (zeros for parameters that got none).
func (r *replicas) flatGrads() *tensor.Tensor {
	for _, p := range r.params {
		p.Grad() // materialise lazily zeroed gradients
	}
	return r.grads
}

func (r *replicas) zeroGrads() {
	r.bind()
	for _, p := range r.params {
		p.ZeroGrad()
	}
}

// gatherValues copies the parameters into flat.
func (r *replicas) gatherValues(flat *tensor.Tensor) {
	for i, p := range r.params {
		r.view(flat, i).CopyFrom(p.Value())
	}
}

// scatterValues copies flat into the parameters.
func (r *replicas) scatterValues(flat *tensor.Tensor) {
	for i, p := range r.params {
		p.Value().CopyFrom(r.view(flat, i))
	}
}

func (r *replicas) barrier() error {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.c.Barrier(ctx)
}

func (r *replicas) bytes() int64 { return int64(r.padded * r.dt.Size()) }

func (r *replicas) Model() nn.Module { return r.m }
func (r *replicas) Stats() Stats     { return r.stats }

func (r *replicas) wait(h *collectives.Handle, what string) error {
	start := time.Now()
	end := r.o.Profiler.Begin("wait "+what, profiler.Compute)
	err := h.Wait()
	end()
	r.stats.WaitTime += time.Since(start)
	return err
}

// ring returns the flat buffer to send this step's gradients from: the
// gradient buffer itself when synchronous, a copy in one of s+1 rotating
// buffers otherwise (the next backward overwrites the gradients).
type ring struct {
	bufs []*tensor.Tensor
	next int
}

func (g *ring) take(r *replicas) *tensor.Tensor {
	if r.o.Staleness == 0 {
		return r.flatGrads()
	}
	if g.bufs == nil {
		g.bufs = make([]*tensor.Tensor, r.o.Staleness+1)
		for i := range g.bufs {
			g.bufs[i] = tensor.ZerosLike(r.grads)
		}
	}
	b := g.bufs[g.next]
	g.next = (g.next + 1) % len(g.bufs)
	b.CopyFrom(r.flatGrads())
	return b
}

// comm records a communication span in the profiler once h completes.
func (r *replicas) comm(h *collectives.Handle, name string, bytes int64) {
	if r.o.Profiler == nil {
		return
	}
	start := time.Now()
	go func() {
		<-h.Done()
		r.o.Profiler.Add(profiler.Span{Name: name, Lane: profiler.Comm, Start: start, End: time.Now(), Args: map[string]any{"bytes": bytes}})
	}()
}

// zerosOn returns n zeros on dev.
func zerosOn(dev tensor.Device, dt tensor.DType, n int) *tensor.Tensor {
	t := tensor.EmptyOn(dev, dt, n)
	dev.Fill(t.View(), 0)
	return t
}
