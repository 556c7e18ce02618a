package collectives

import (
	"context"
	"fmt"
	"sync"

	"github.com/tessera-ml/tessera/tensor"
)

// Comm is a communicator: a fixed group of ranks that call collectives
// together, NCCL-style. Every rank must issue the same collectives in the
// same order with matching arguments (dtype, shape, root, reduction);
// mismatches are reported as errors wrapping ErrMismatch that name both
// ranks' arguments.
//
// Semantics are in place, as in NCCL: AllReduce overwrites t on every rank,
// Broadcast overwrites t on every rank but the root, Reduce overwrites t on
// the root only (other ranks' t is left unchanged), Recv overwrites t.
// AllGather, ReduceScatter and AllToAll write dst and only read src. Tensors
// may have any dtype, device and layout: non-contiguous tensors and device
// tensors of a backend that cannot address the device directly are staged
// through a contiguous host copy and copied back.
//
// Calls on one communicator execute one at a time in the order they were
// issued (Start fixes the order when it is called), so a synchronous call
// issued after an asynchronous one waits for it. Methods are safe for
// concurrent use, but calls issued concurrently from several goroutines of
// one rank are ordered arbitrarily, which other ranks cannot match: issue
// them from one goroutine.
//
// Faults: when ctx of a call is done before the call completes (a peer
// stalled past the deadline), when a rank calls Abort, or when a rank of
// local.Run returns an error or panics, the communicator is aborted: every
// pending and later call on every rank returns an error wrapping ErrAborted
// and naming the rank and the cause. An aborted communicator stays aborted.
type Comm interface {
	// Rank is this rank's index in [0, Size()).
	Rank() int
	// Size is the number of ranks.
	Size() int
	// Backend names the transport ("local", "mpi", "nccl", "self").
	Backend() string

	// AllReduce reduces t over all ranks with op and writes the result to t
	// on every rank.
	AllReduce(ctx context.Context, t *tensor.Tensor, op RedOp) error
	// Broadcast copies root's t to t on every rank.
	Broadcast(ctx context.Context, t *tensor.Tensor, root int) error
	// Reduce reduces t over all ranks with op into root's t.
	Reduce(ctx context.Context, t *tensor.Tensor, op RedOp, root int) error
	// AllGather concatenates every rank's src, in rank order, into dst on
	// every rank; dst has Size() times src's elements (any shape).
	AllGather(ctx context.Context, dst, src *tensor.Tensor) error
	// ReduceScatter reduces src over all ranks and writes block Rank() of the
	// result (src's elements split into Size() equal blocks) to dst.
	ReduceScatter(ctx context.Context, dst, src *tensor.Tensor, op RedOp) error
	// AllToAll splits src into Size() equal blocks and sends block j to rank
	// j, which stores it as block Rank() of its dst.
	AllToAll(ctx context.Context, dst, src *tensor.Tensor) error
	// Send sends t to rank peer, which must call Recv with a tensor of the
	// same dtype and element count. Send blocks until the receiver has the
	// data (rendezvous); exchange data with Group(SendCall, RecvCall).
	Send(ctx context.Context, t *tensor.Tensor, peer int) error
	// Recv receives into t from rank peer.
	Recv(ctx context.Context, t *tensor.Tensor, peer int) error
	// Barrier returns when every rank has called it.
	Barrier(ctx context.Context) error

	// Group executes calls as one unit: consecutive AllReduce calls with
	// the same dtype and operator on small tensors are fused into one
	// transfer, and consecutive Send/Recv calls run concurrently (so an
	// exchange between two ranks does not deadlock).
	Group(ctx context.Context, calls ...Call) error
	// Start is the asynchronous form of Group: it enqueues calls behind the
	// earlier calls and returns at once. The tensors must not be touched
	// until the handle completes.
	Start(ctx context.Context, calls ...Call) *Handle

	// Split partitions the ranks by color, like MPI_Comm_split: ranks with
	// the same color form a new communicator, ranked by (key, old rank). A
	// negative color returns a nil Comm. Every rank must call Split.
	Split(ctx context.Context, color, key int) (Comm, error)

	// Abort fails the communicator on every rank with err.
	Abort(err error)
	// Err returns the error the communicator was aborted with, or nil.
	Err() error
	// Close waits for pending calls and releases the communicator. Calls
	// after Close return ErrClosed.
	Close() error
}

// Call is one collective in a Group or Start; make it with AllReduceCall,
// BroadcastCall and the other ...Call functions.
type Call struct {
	kind   Kind
	t, src *tensor.Tensor // t is the output (or in-place) tensor
	op     RedOp
	root   int // root, or peer for Send/Recv
}

// AllReduceCall is AllReduce as a Call.
func AllReduceCall(t *tensor.Tensor, op RedOp) Call {
	return Call{kind: KindAllReduce, t: t, op: op}
}

// BroadcastCall is Broadcast as a Call.
func BroadcastCall(t *tensor.Tensor, root int) Call {
	return Call{kind: KindBroadcast, t: t, root: root}
}

// ReduceCall is Reduce as a Call.
func ReduceCall(t *tensor.Tensor, op RedOp, root int) Call {
	return Call{kind: KindReduce, t: t, op: op, root: root}
}

// AllGatherCall is AllGather as a Call.
func AllGatherCall(dst, src *tensor.Tensor) Call {
	return Call{kind: KindAllGather, t: dst, src: src}
}

// ReduceScatterCall is ReduceScatter as a Call.
func ReduceScatterCall(dst, src *tensor.Tensor, op RedOp) Call {
	return Call{kind: KindReduceScatter, t: dst, src: src, op: op}
}

// AllToAllCall is AllToAll as a Call.
func AllToAllCall(dst, src *tensor.Tensor) Call {
	return Call{kind: KindAllToAll, t: dst, src: src}
}

// SendCall is Send as a Call.
func SendCall(t *tensor.Tensor, peer int) Call { return Call{kind: KindSend, src: t, root: peer} }

// RecvCall is Recv as a Call.
func RecvCall(t *tensor.Tensor, peer int) Call { return Call{kind: KindRecv, t: t, root: peer} }

// BarrierCall is Barrier as a Call.
func BarrierCall() Call { return Call{kind: KindBarrier} }

// Handle is an asynchronous group of calls started with Comm.Start.
type Handle struct {
	done chan struct{}
	err  error
}

// Wait blocks until the calls complete and returns their error.
func (h *Handle) Wait() error { <-h.done; return h.err }

// Test reports whether the calls have completed, and their error if so.
func (h *Handle) Test() (bool, error) {
	select {
	case <-h.done:
		return true, h.err
	default:
		return false, nil
	}
}

// Done is closed when the calls complete.
func (h *Handle) Done() <-chan struct{} { return h.done }

// FuseLimit is the largest tensor, in bytes, that Group fuses with others
// into one AllReduce; FuseBucket caps one fused transfer.
const (
	FuseLimit  = 1 << 20
	FuseBucket = 16 << 20
)

type comm struct {
	b      Backend
	mu     sync.Mutex
	tail   chan struct{}
	closed bool
	fused  []byte // Group's fusion buffer, reused
}

// New wraps a backend as a Comm. Backends call it; users get communicators
// from local.Run, local.New, Init or Split.
func New(b Backend) Comm {
	done := make(chan struct{})
	close(done)
	return &comm{b: b, tail: done}
}

func (c *comm) Rank() int       { return c.b.Rank() }
func (c *comm) Size() int       { return c.b.Size() }
func (c *comm) Backend() string { return c.b.Name() }
func (c *comm) Abort(err error) { c.b.Abort(err) }
func (c *comm) Err() error      { return c.b.Err() }

func (c *comm) AllReduce(ctx context.Context, t *tensor.Tensor, op RedOp) error {
	return c.Group(ctx, AllReduceCall(t, op))
}
func (c *comm) Broadcast(ctx context.Context, t *tensor.Tensor, root int) error {
	return c.Group(ctx, BroadcastCall(t, root))
}
func (c *comm) Reduce(ctx context.Context, t *tensor.Tensor, op RedOp, root int) error {
	return c.Group(ctx, ReduceCall(t, op, root))
}
func (c *comm) AllGather(ctx context.Context, dst, src *tensor.Tensor) error {
	return c.Group(ctx, AllGatherCall(dst, src))
}
func (c *comm) ReduceScatter(ctx context.Context, dst, src *tensor.Tensor, op RedOp) error {
	return c.Group(ctx, ReduceScatterCall(dst, src, op))
}
func (c *comm) AllToAll(ctx context.Context, dst, src *tensor.Tensor) error {
	return c.Group(ctx, AllToAllCall(dst, src))
}
func (c *comm) Send(ctx context.Context, t *tensor.Tensor, peer int) error {
	return c.Group(ctx, SendCall(t, peer))
}
func (c *comm) Recv(ctx context.Context, t *tensor.Tensor, peer int) error {
	return c.Group(ctx, RecvCall(t, peer))
}
func (c *comm) Barrier(ctx context.Context) error { return c.Group(ctx, BarrierCall()) }

// enqueue reserves the next slot in the call order.
func (c *comm) enqueue() (prev, done chan struct{}, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, ErrClosed
	}
	prev, done = c.tail, make(chan struct{})
	c.tail = done
	return prev, done, nil
}

// exec runs calls once the earlier calls are done.
func (c *comm) exec(ctx context.Context, prev chan struct{}, fn func() error) (err error) {
	select {
	case <-prev:
	default:
		select {
		case <-prev:
		case <-ctx.Done():
			err = fmt.Errorf("rank %d: %w while waiting for earlier calls", c.Rank(), ctx.Err())
			c.b.Abort(err)
			<-prev // the abort makes it return
			return err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rank %d: collectives: panic: %v", c.Rank(), r)
			c.b.Abort(err)
		}
	}()
	return fn()
}

func (c *comm) Group(ctx context.Context, calls ...Call) error {
	prev, done, err := c.enqueue()
	if err != nil {
		return err
	}
	defer close(done)
	return c.exec(ctx, prev, func() error { return c.run(ctx, calls) })
}

func (c *comm) Start(ctx context.Context, calls ...Call) *Handle {
	h := &Handle{done: make(chan struct{})}
	prev, done, err := c.enqueue()
	if err != nil {
		h.err = err
		close(h.done)
		return h
	}
	go func() {
		h.err = c.exec(ctx, prev, func() error { return c.run(ctx, calls) })
		// The handle completes before the next call may start, so a call
		// issued after Start finds the handle done when it returns.
		close(h.done)
		close(done)
	}()
	return h
}

func (c *comm) Split(ctx context.Context, color, key int) (Comm, error) {
	prev, done, err := c.enqueue()
	if err != nil {
		return nil, err
	}
	defer close(done)
	var sub Backend
	err = c.exec(ctx, prev, func() error {
		var e error
		sub, e = c.b.Split(ctx, color, key)
		return e
	})
	if err != nil || sub == nil {
		return nil, err
	}
	return New(sub), nil
}

func (c *comm) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	tail := c.tail
	c.mu.Unlock()
	<-tail
	return c.b.Close()
}
