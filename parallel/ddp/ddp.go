package ddp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// Options configure Wrap. The zero value is PyTorch's defaults.
type Options struct {
	// BucketCapMiB caps a gradient bucket (default 25 MiB, PyTorch's
	// bucket_cap_mb). A parameter larger than the cap gets a bucket of its own.
	BucketCapMiB float64
	// FirstBucketMiB caps the first bucket, the one holding the last
	// layers' gradients, which are ready first (default 1 MiB), so that
	// communication starts early in backward.
	FirstBucketMiB float64
	// FindUnusedParameters lets a step leave parameters without a
	// gradient (PyTorch's find_unused_parameters): they contribute zeros
	// to their bucket. Without it such a step fails with an error naming
	// the first parameter that got no gradient.
	FindUnusedParameters bool
	// NoOverlap starts every bucket's all-reduce in Wait, after backward,
	// instead of from the gradient hooks during backward (to measure what
	// overlap gains).
	NoOverlap bool
	// BroadcastBuffers broadcasts rank 0's buffers (BatchNorm running
	// statistics) at every Forward, as PyTorch's broadcast_buffers.
	BroadcastBuffers bool
	// Timeout bounds each collective of a step (default 5 minutes): a peer
	// that stalls longer aborts the communicator and every rank's Wait
	// returns an error.
	Timeout time.Duration
	// Context is the parent of every call's context (default Background).
	Context context.Context
	// Profiler, if set, records each bucket's all-reduce (lane Comm) and
	// the wait for them (lane Compute).
	Profiler *profiler.Recorder
}

const mib = 1 << 20

func (o *Options) defaults() {
	if o.BucketCapMiB <= 0 {
		o.BucketCapMiB = 25
	}
	if o.FirstBucketMiB <= 0 {
		o.FirstBucketMiB = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
}

// param is one distinct trainable parameter.
type param struct {
	name   string
	v      *autograd.Var
	bucket int
	view   *tensor.Tensor // its gradient buffer: a view of the bucket's flat buffer
	ready  bool
}

// Bucket describes one gradient bucket.
type Bucket struct {
	Params []string // parameter names, in the order their gradients sit in the buffer
	DType  tensor.DType
	Elems  int
	Bytes  int
}

type bucket struct {
	Bucket
	flat    *tensor.Tensor
	members []int
	pending int
	handle  *collectives.Handle
	start   time.Time
	hooked  bool // launched from a gradient hook (during backward)
}

// Stats are cumulative counters of a DDP.
type Stats struct {
	Steps          int           // completed Waits that synchronised
	AllReduceCalls int           // bucket all-reduces started
	HookLaunches   int           // of those, started from a gradient hook during backward
	BytesReduced   int64         // payload bytes all-reduced (sum of bucket sizes)
	WaitTime       time.Duration // time spent in Wait: communication not hidden behind backward
}

// DDP is a module replicated on every rank of a communicator whose
// gradients are averaged across ranks. It is an nn.Module: Forward runs
// the wrapped module (call it through the DDP so the gradient buffers are
// kept bound), the other methods are the wrapped module's.
//
// A step is Forward, loss.Backward, Wait (or Step), then the optimizer.
// Methods are meant to be called from one goroutine per rank.
type DDP struct {
	nn.Module
	comm    collectives.Comm
	opts    Options
	params  []param
	buckets []*bucket
	prof    *profiler.Recorder

	mu      sync.Mutex
	next    int // next bucket to launch, in index order
	noSync  bool
	stepErr error
	ctx     context.Context
	cancel  context.CancelFunc
	stats   Stats
	profWG  sync.WaitGroup // span recorders of the step's all-reduces
}

// Wrap replicates m across the ranks of c: every rank must call it with a
// module of the same structure. It checks that every rank has the same
// parameter and buffer names, shapes and dtypes (an error wrapping
// collectives.ErrMismatch naming the first difference, on every rank),
// copies rank 0's parameters and buffers to every rank, and binds every
// trainable parameter's gradient to a view of a flat bucket buffer
// (autograd.Var.SetGradBuffer) with a hook that starts the bucket's
// all-reduce as soon as all its gradients are final.
//
// Buckets take the parameters in reverse registration order (the order
// backward produces their gradients), up to FirstBucketMiB for the first
// and BucketCapMiB for the others, one dtype per bucket. A parameter
// registered twice (shared weights) is one parameter.
func Wrap(m nn.Module, c collectives.Comm, opts Options) (*DDP, error) {
	opts.defaults()
	d := &DDP{Module: m, comm: c, opts: opts, prof: opts.Profiler}
	seen := map[*autograd.Var]bool{}
	for _, p := range m.Parameters() {
		if seen[p.Param] || !p.Param.RequiresGrad() {
			continue
		}
		seen[p.Param] = true
		d.params = append(d.params, param{name: p.Name, v: p.Param})
	}
	ctx, cancel := d.ctxTimeout()
	defer cancel()
	if err := parallel.VerifyModel(ctx, c, m); err != nil {
		return nil, fmt.Errorf("ddp: %w", err)
	}
	if err := parallel.BroadcastModule(ctx, c, m, 0); err != nil {
		return nil, fmt.Errorf("ddp: %w", err)
	}
	d.makeBuckets()
	for i := range d.params {
		d.params[i].v.RegisterHook(func(*tensor.Tensor) { d.ready(i) })
	}
	return d, nil
}

func (d *DDP) ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.opts.Context, d.opts.Timeout)
}

func (d *DDP) makeBuckets() {
	var cur *bucket
	capFor := func() int {
		if len(d.buckets) == 0 {
			return int(d.opts.FirstBucketMiB * mib)
		}
		return int(d.opts.BucketCapMiB * mib)
	}
	flush := func() {
		if cur != nil {
			d.buckets = append(d.buckets, cur)
			cur = nil
		}
	}
	for i := len(d.params) - 1; i >= 0; i-- {
		p := &d.params[i]
		v := p.v.Value()
		n, dt := v.NumElements(), v.DType()
		if cur != nil && (cur.DType != dt || cur.flat != nil && cur.flat.Device() != v.Device() ||
			cur.Bytes+n*dt.Size() > capFor()) {
			flush()
		}
		if cur == nil {
			cur = &bucket{Bucket: Bucket{DType: dt}}
			cur.flat = tensor.EmptyOn(v.Device(), dt, 0) // device marker until sized
		}
		cur.members = append(cur.members, i)
		cur.Params = append(cur.Params, p.name)
		cur.Elems += n
		cur.Bytes += n * dt.Size()
		p.bucket = len(d.buckets)
	}
	flush()
	for _, b := range d.buckets {
		b.flat = tensor.EmptyOn(b.flat.Device(), b.DType, b.Elems)
		// the bucket holds the gradients: charge it to the ledger of its
		// first parameter (see tensor.MemoryStats)
		tensor.ChargeMemoryLike(b.flat, tensor.MemoryGradients, d.params[b.members[0]].v.Value())
		off := 0
		for _, i := range b.members {
			p := &d.params[i]
			n := p.v.Value().NumElements()
			p.view = b.flat.Narrow(0, off, n).Reshape(p.v.Shape()...)
			p.v.SetGradBuffer(p.view)
			off += n
		}
		b.pending = len(b.members)
	}
}

// Buckets describes the gradient buckets in launch order.
func (d *DDP) Buckets() []Bucket {
	out := make([]Bucket, len(d.buckets))
	for i, b := range d.buckets {
		out[i] = b.Bucket
		out[i].Params = slices.Clone(b.Params)
	}
	return out
}

// Comm returns the communicator.
func (d *DDP) Comm() collectives.Comm { return d.comm }

// Stats returns the cumulative counters.
func (d *DDP) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Forward rebinds the gradient buffers (in case an optimizer's ClearGrad
// or a SetGrad replaced them), broadcasts the buffers when
// BroadcastBuffers is set, and runs the wrapped module.
func (d *DDP) Forward(x *autograd.Var) *autograd.Var {
	d.Rebind()
	if d.opts.BroadcastBuffers && d.Module.Training() {
		if err := d.broadcastBuffers(); err != nil {
			d.mu.Lock()
			d.stepErr = errors.Join(d.stepErr, err)
			d.mu.Unlock()
		}
	}
	return d.Module.Forward(x)
}

func (d *DDP) broadcastBuffers() error {
	var calls []collectives.Call
	for _, b := range d.Module.Buffers() {
		calls = append(calls, collectives.BroadcastCall(b.Buffer, 0))
	}
	if len(calls) == 0 {
		return nil
	}
	ctx, cancel := d.ctxTimeout()
	defer cancel()
	return d.comm.Group(ctx, calls...)
}

// Rebind makes every parameter's gradient buffer its bucket view again
// (a no-op for parameters still bound). Forward calls it.
func (d *DDP) Rebind() {
	for i := range d.params {
		d.params[i].v.SetGradBuffer(d.params[i].view)
	}
}

// ready is the gradient hook of parameter i.
func (d *DDP) ready(i int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noSync {
		return
	}
	p := &d.params[i]
	if p.ready {
		d.stepErr = errors.Join(d.stepErr, fmt.Errorf("ddp: parameter %s got a gradient twice in one step "+
			"(a second backward pass before Wait: use NoSync to accumulate)", p.name))
		return
	}
	p.ready = true
	d.buckets[p.bucket].pending--
	if !d.opts.NoOverlap {
		d.launchReady(true)
	}
}

// launchReady starts, in index order, every bucket whose gradients are
// all final. Every rank starts the same buckets in the same order, so the
// all-reduces match even when backward finishes parameters in different
// orders on different ranks.
func (d *DDP) launchReady(hooked bool) {
	for d.next < len(d.buckets) && d.buckets[d.next].pending == 0 {
		d.launch(d.buckets[d.next], d.next, hooked)
		d.next++
	}
}

func (d *DDP) launch(b *bucket, idx int, hooked bool) {
	if d.ctx == nil {
		d.ctx, d.cancel = d.ctxTimeout()
	}
	b.start = time.Now()
	b.hooked = hooked
	b.handle = d.comm.Start(d.ctx, collectives.AllReduceCall(b.flat, collectives.Avg))
	d.stats.AllReduceCalls++
	if hooked {
		d.stats.HookLaunches++
	}
	d.stats.BytesReduced += int64(b.Bytes)
	if d.prof != nil {
		h, start := b.handle, b.start
		name := fmt.Sprintf("allreduce bucket %d", idx)
		args := map[string]any{"bytes": b.Bytes, "params": len(b.members)}
		d.profWG.Add(1)
		go func() {
			defer d.profWG.Done()
			<-h.Done()
			d.prof.Add(profiler.Span{Name: name, Lane: profiler.Comm, Start: start, End: time.Now(), Args: args})
		}()
	}
}

// Wait finishes the step's gradient synchronisation: it starts the
// buckets not yet started (all of them with NoOverlap; with
// FindUnusedParameters, those holding parameters that got no gradient),
// waits for every all-reduce, and leaves each parameter's gradient
// averaged over the ranks. Call it after backward and before the
// optimizer step. Inside NoSync, and when no gradient arrived since the
// last Wait (a second Wait), it does nothing.
//
// A parameter that got no gradient without FindUnusedParameters, a
// failed or timed-out collective, or a peer's failure make Wait return an
// error; the communicator is then aborted, so every peer's Wait fails too
// instead of hanging.
func (d *DDP) Wait() error {
	start := time.Now()
	end := d.prof.Begin("wait allreduce", profiler.Compute)
	defer end()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noSync {
		return nil
	}
	if d.stepErr == nil && d.next == 0 && !d.anyReady() {
		return nil // no backward pass since the last Wait: nothing to synchronise
	}
	err := d.stepErr
	if err == nil {
		for _, b := range d.buckets[d.next:] {
			if b.pending == 0 {
				continue
			}
			for _, i := range b.members {
				p := &d.params[i]
				if p.ready {
					continue
				}
				if !d.opts.FindUnusedParameters {
					err = fmt.Errorf("ddp: rank %d: parameter %s got no gradient in this step (not used by the "+
						"forward pass?); set Options.FindUnusedParameters if that is intended", d.comm.Rank(), p.name)
					break
				}
				p.v.Grad() // a lazily zeroed gradient becomes zeros in the buffer
				p.ready = true
				b.pending--
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		d.launchReady(false)
	} else {
		d.comm.Abort(err)
	}
	for _, b := range d.buckets {
		if b.handle != nil {
			if e := b.handle.Wait(); e != nil && err == nil {
				err = fmt.Errorf("ddp: all-reduce of bucket %d: %w", slices.Index(d.buckets, b), e)
			}
			b.handle = nil
		}
	}
	d.profWG.Wait()
	d.resetStep()
	d.stats.WaitTime += time.Since(start)
	if err == nil {
		d.stats.Steps++
	}
	return err
}

func (d *DDP) anyReady() bool {
	for i := range d.params {
		if d.params[i].ready {
			return true
		}
	}
	return false
}

func (d *DDP) resetStep() {
	for i := range d.params {
		d.params[i].ready = false
	}
	for _, b := range d.buckets {
		b.pending = len(b.members)
	}
	d.next = 0
	d.stepErr = nil
	if d.cancel != nil {
		d.cancel()
		d.ctx, d.cancel = nil, nil
	}
}

// Step is Wait followed by opt.Step.
func (d *DDP) Step(opt *optim.Optimizer) error {
	if err := d.Wait(); err != nil {
		return err
	}
	end := d.prof.Begin("optimizer", profiler.Compute)
	defer end()
	return opt.Step()
}

// NoSync runs f (forward and backward passes) without synchronising
// gradients: they accumulate locally in the buffers, and the next
// synchronised backward pass and Wait average the accumulated sums, as
// PyTorch's no_sync(). It returns f's error.
func (d *DDP) NoSync(f func() error) error {
	d.mu.Lock()
	if d.next > 0 {
		d.mu.Unlock()
		return errors.New("ddp: NoSync inside a step whose all-reduces have started (call Wait first)")
	}
	was := d.noSync
	d.noSync = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.noSync = was
		d.mu.Unlock()
	}()
	return f()
}

// String describes the buckets.
func (d *DDP) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "DDP rank %d of %d, %d parameters in %d buckets:", d.comm.Rank(), d.comm.Size(), len(d.params), len(d.buckets))
	for i, bk := range d.buckets {
		fmt.Fprintf(&b, " [%d: %d params, %.2f MiB]", i, len(bk.members), float64(bk.Bytes)/mib)
	}
	return b.String()
}

// ClipGradNorm clips the synchronised gradients (call it after Wait) by
// their global norm, as torch.nn.utils.clip_grad_norm_, and returns the
// norm before clipping. After Wait every rank holds the same averaged
// gradients, so the norm needs no communication; it is computed over the
// flat bucket buffers (one reduction per bucket).
func (d *DDP) ClipGradNorm(maxNorm float64) float64 {
	if !(maxNorm >= 0) {
		panic(&tensor.Error{Op: "ddp.ClipGradNorm", Msg: fmt.Sprintf("maxNorm %v must be >= 0", maxNorm)})
	}
	for i := range d.params {
		d.params[i].v.Grad() // lazily zeroed gradients become zeros in the buffers
	}
	flats := make([]*tensor.Tensor, len(d.buckets))
	for i, b := range d.buckets {
		flats[i] = b.flat
	}
	total := math.Sqrt(parallel.SquaredNorm(flats...))
	parallel.ScaleForClip(flats, total, maxNorm)
	return total
}
