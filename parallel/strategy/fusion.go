package strategy

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// fusion is Horovod's tensor fusion: gradients are queued as backward
// finishes them (in reverse registration order, the same on every rank),
// copied into a fusion buffer until the next one would take it past the
// threshold, and the buffer is all-reduced while backward goes on; the
// results are copied back out. Unlike DDP's buckets nothing is laid out in
// advance: the groups are whatever the threshold cuts from the stream of
// ready gradients, and the gradients stay where autograd put them.
type fusion struct {
	*replicas
	opt       *optim.Optimizer
	threshold int // bytes; <= 0: one all-reduce per gradient
	order     []int

	mu      sync.Mutex
	ready   []bool
	next    int   // position in order of the first gradient not yet queued
	batch   []int // queued gradients of the open fusion buffer
	bytes   int
	flights []flight
	bufs    []*tensor.Tensor // fusion buffers, reused step after step
	cancel  func()
}

type flight struct {
	h       *collectives.Handle
	buf     *tensor.Tensor
	members []int
}

func newFusion(m nn.Module, c collectives.Comm, o Options) (*fusion, error) {
	r, err := newReplicas(m, c, o)
	if err != nil {
		return nil, err
	}
	th := o.FusionThresholdMiB
	if th == 0 {
		th = 64
	}
	f := &fusion{replicas: r, opt: o.NewOptimizer(r.params), threshold: int(th * (1 << 20)), ready: make([]bool, len(r.params))}
	for i := len(r.params) - 1; i >= 0; i-- {
		f.order = append(f.order, i)
	}
	for i, p := range r.params {
		p.RegisterHook(func(*tensor.Tensor) { f.hook(i) })
	}
	return f, nil
}

func (f *fusion) Name() string                { return "fusion" }
func (f *fusion) Optimizer() *optim.Optimizer { return f.opt }
func (f *fusion) Flush() error                { return f.barrier() }

func (f *fusion) Traffic() Traffic {
	return ringTraffic(f.c.Size(), int64(f.elems*f.dt.Size()), "ring all-reduce of the fused gradients")
}

func (f *fusion) hook(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready[i] = true
	f.advance()
}

// advance queues the ready gradients in order and flushes full buffers.
func (f *fusion) advance() {
	for f.next < len(f.order) && f.ready[f.order[f.next]] {
		i := f.order[f.next]
		sz := f.params[i].Value().NumElements() * f.dt.Size()
		if len(f.batch) > 0 && f.bytes+sz > f.threshold {
			f.flush()
		}
		f.batch = append(f.batch, i)
		f.bytes += sz
		f.next++
		if f.bytes >= f.threshold {
			f.flush()
		}
	}
}

// flush copies the queued gradients into a fusion buffer and starts its
// all-reduce.
func (f *fusion) flush() {
	if len(f.batch) == 0 {
		return
	}
	k := len(f.flights)
	elems := f.bytes / f.dt.Size()
	if k == len(f.bufs) {
		f.bufs = append(f.bufs, nil)
	}
	if f.bufs[k] == nil || f.bufs[k].NumElements() < elems {
		f.bufs[k] = tensor.EmptyOn(f.grads.Device(), f.dt, elems)
	}
	buf := f.bufs[k].Narrow(0, 0, elems)
	off := 0
	for _, i := range f.batch {
		n := f.params[i].Value().NumElements()
		buf.Narrow(0, off, n).CopyFrom(f.params[i].Grad().Reshape(n))
		off += n
	}
	if f.cancel == nil {
		ctx, cancel := f.ctx()
		f.cancel = cancel
		f.stepCtx = ctx
	}
	h := f.c.Start(f.stepCtx, collectives.AllReduceCall(buf, collectives.Avg))
	f.comm(h, fmt.Sprintf("fused allreduce %d", k), int64(f.bytes))
	f.flights = append(f.flights, flight{h: h, buf: buf, members: f.batch})
	f.stats.AllReduceCalls++
	f.stats.Collectives++
	rb := ringBytes(f.c.Size(), int64(f.bytes))
	f.stats.add(rb, rb)
	f.batch, f.bytes = nil, 0
}

func (f *fusion) Step() error {
	f.mu.Lock()
	for i := range f.ready {
		if !f.ready[i] {
			f.params[i].Grad() // no gradient: contributes zeros
			f.ready[i] = true
		}
	}
	f.advance()
	f.flush()
	flights := f.flights
	f.flights = nil
	f.mu.Unlock()
	var err error
	for _, fl := range flights {
		if e := f.wait(fl.h, "fused allreduce"); e != nil {
			err = errors.Join(err, e)
			continue
		}
		off := 0
		for _, i := range fl.members {
			n := f.params[i].Value().NumElements()
			f.params[i].Grad().Reshape(n).CopyFrom(fl.buf.Narrow(0, off, n))
			off += n
		}
	}
	f.mu.Lock()
	for i := range f.ready {
		f.ready[i] = false
	}
	f.next = 0
	if f.cancel != nil {
		f.cancel()
		f.cancel, f.stepCtx = nil, nil
	}
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("strategy fusion: %w", err)
	}
	if err := f.opt.Step(); err != nil {
		return err
	}
	f.zeroGrads()
	f.stats.Steps++
	return nil
}
