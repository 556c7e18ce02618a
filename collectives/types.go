package collectives

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// RedOp is a reduction operator of AllReduce, Reduce and ReduceScatter.
type RedOp uint8

// The reduction operators. On Bool tensors Sum and Max are logical OR, Prod
// and Min are logical AND, and Avg is an error. On integers Avg is the sum
// divided by the world size with Go's integer division (truncated toward
// zero) and Sum and Prod wrap on overflow. Min and Max propagate NaN.
const (
	Sum RedOp = iota
	Avg
	Prod
	Min
	Max
	numRedOps
)

var redOpNames = [...]string{"sum", "avg", "prod", "min", "max"}

// String returns the operator's name, e.g. "sum".
func (o RedOp) String() string {
	if o < numRedOps {
		return redOpNames[o]
	}
	return fmt.Sprintf("RedOp(%d)", uint8(o))
}

// RedOps lists every reduction operator.
func RedOps() []RedOp { return []RedOp{Sum, Avg, Prod, Min, Max} }

// ParseRedOp returns the operator with the given name.
func ParseRedOp(s string) (RedOp, error) {
	for i, n := range redOpNames {
		if n == s {
			return RedOp(i), nil
		}
	}
	return 0, fmt.Errorf("collectives: unknown reduction %q", s)
}

var (
	// ErrAborted is wrapped by the error of every call on a communicator
	// after one of its ranks failed, panicked, was cancelled or stalled past
	// a deadline. The error also names the rank and the cause.
	ErrAborted = errors.New("collectives: communicator aborted")
	// ErrMismatch is wrapped when ranks pass different calls, shapes, dtypes,
	// roots or reduction operators to the same collective.
	ErrMismatch = errors.New("collectives: ranks disagree")
	// ErrInvalid is wrapped when a call's arguments are wrong on one rank
	// (nil tensor, bad root or peer, wrong output size, Avg on Bool).
	ErrInvalid = errors.New("collectives: invalid argument")
	// ErrClosed is returned by calls on a closed communicator.
	ErrClosed = errors.New("collectives: communicator closed")
)

// Kind names a collective call.
type Kind uint8

// The calls.
const (
	KindAllReduce Kind = iota
	KindBroadcast
	KindReduce
	KindAllGather
	KindReduceScatter
	KindAllToAll
	KindSend
	KindRecv
	KindBarrier
	KindSplit
)

var kindNames = [...]string{"AllReduce", "Broadcast", "Reduce", "AllGather", "ReduceScatter", "AllToAll", "Send", "Recv", "Barrier", "Split"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Buffer is what a Backend sees of a tensor argument: a contiguous run of
// Count elements of DType. Host holds the bytes of a CPU buffer (aliasing
// the tensor's storage); it is nil for a device buffer, whose Tensor a
// device backend uses instead. Shape is the caller's shape, for messages.
type Buffer struct {
	DType  tensor.DType
	Count  int
	Shape  tensor.Shape
	Host   []byte
	Tensor *tensor.Tensor
}

// Desc describes b for error messages, e.g. "float32[4 3]".
func (b Buffer) Desc() string { return fmt.Sprintf("%s%v", b.DType, []int(b.Shape)) }

// PeerBuffer is one point-to-point transfer of a grouped SendRecv.
type PeerBuffer struct {
	Peer int
	Buf  Buffer
}

// Backend is the interface a transport implements; Comm wraps it with call
// ordering, asynchronous handles, grouping and tensor staging. A backend
// sees one call at a time per communicator, in the order the caller issued
// them. Every method returns an error wrapping ErrAborted once the
// communicator has been aborted, and a blocked method returns when ctx is
// done (aborting the communicator) or when the communicator is aborted.
type Backend interface {
	Name() string
	Rank() int
	Size() int
	AllReduce(ctx context.Context, b Buffer, op RedOp) error
	Broadcast(ctx context.Context, b Buffer, root int) error
	Reduce(ctx context.Context, b Buffer, op RedOp, root int) error
	AllGather(ctx context.Context, dst, src Buffer) error
	ReduceScatter(ctx context.Context, dst, src Buffer, op RedOp) error
	AllToAll(ctx context.Context, dst, src Buffer) error
	// SendRecv performs all the sends and receives concurrently and returns
	// when every one has completed.
	SendRecv(ctx context.Context, sends, recvs []PeerBuffer) error
	Barrier(ctx context.Context) error
	// Split returns the sub-communicator of the ranks that passed the same
	// color, ordered by (key, rank); nil for a negative color.
	Split(ctx context.Context, color, key int) (Backend, error)
	// Abort fails the communicator with err: pending and later calls on
	// every rank that the backend can reach return an error wrapping
	// ErrAborted and err.
	Abort(err error)
	// Err returns the abort error, or nil.
	Err() error
	Close() error
}

// DeviceBackend is implemented by backends that take non-CPU buffers
// directly (NCCL). Others get device tensors staged through host memory.
type DeviceBackend interface {
	AcceptsDevice(dev tensor.Device) bool
}
