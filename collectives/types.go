package collectives

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
// device backend uses instead. Shape is the caller's shape.
//
// Parts is set when Group fused several AllReduce calls into one buffer:
// the shapes of the fused tensors, in call order (Shape is then {Count}).
// It is part of the call's signature: ranks must agree on Parts as on
// Shape, or two groups with equal totals would mix their tensors.
type Buffer struct {
	DType  tensor.DType
	Count  int
	Shape  tensor.Shape
	Parts  []tensor.Shape
	Host   []byte
	Tensor *tensor.Tensor
}

// maxPartsShown is how many fused calls a description lists.
const maxPartsShown = 8

// Desc describes b for error messages, e.g. "float32[4 3]", or for a fused
// group "group of 2 (float32[3], float32[5])".
func (b Buffer) Desc() string { return b.desc(0) }

// desc describes b listing its parts from index from on.
func (b Buffer) desc(from int) string {
	if b.Parts == nil {
		return fmt.Sprintf("%s%v", b.DType, []int(b.Shape))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "group of %d (", len(b.Parts))
	from = max(0, min(from, len(b.Parts)-maxPartsShown))
	to := min(len(b.Parts), from+maxPartsShown)
	if from > 0 {
		fmt.Fprintf(&sb, "... %d calls, ", from)
	}
	for i := from; i < to; i++ {
		if i > from {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s%v", b.DType, []int(b.Parts[i]))
	}
	if to < len(b.Parts) {
		fmt.Fprintf(&sb, ", ... %d calls", len(b.Parts)-to)
	}
	sb.WriteString(")")
	return sb.String()
}

// SameBuffer reports whether a and b have the same signature: dtype,
// count, shape and fused parts.
func SameBuffer(a, b Buffer) bool {
	if a.DType != b.DType || a.Count != b.Count || !slices.Equal(a.Shape, b.Shape) ||
		(a.Parts == nil) != (b.Parts == nil) || len(a.Parts) != len(b.Parts) {
		return false
	}
	for i := range a.Parts {
		if !slices.Equal(a.Parts[i], b.Parts[i]) {
			return false
		}
	}
	return true
}

// describeBoth describes two buffers that differ; for two long groups the
// lists start a little before the first call that differs.
func describeBoth(a, b Buffer) (string, string) {
	i := 0
	for i < len(a.Parts) && i < len(b.Parts) && slices.Equal(a.Parts[i], b.Parts[i]) {
		i++
	}
	from := max(0, i-2)
	return a.desc(from), b.desc(from)
}

// Args is what the ranks must agree on for one collective call.
type Args struct {
	Kind Kind
	A, B Buffer // the (in-place or dst) buffer, and src
	Op   RedOp
	Root int
}

// Disagree returns nil when rank r's args equal rank 0's, else an error
// wrapping ErrMismatch that names both ranks' calls. Every backend's
// argument check reports through it, so the messages are the same.
func Disagree(a0 Args, r int, ar Args) error {
	k := a0.Kind
	switch {
	case ar.Kind != a0.Kind:
		return fmt.Errorf("%w: rank 0 called %s but rank %d called %s", ErrMismatch, a0.Kind, r, ar.Kind)
	case !SameBuffer(a0.A, ar.A):
		d0, dr := describeBoth(a0.A, ar.A)
		return fmt.Errorf("%w: %s: rank 0 passed %s but rank %d passed %s", ErrMismatch, k, d0, r, dr)
	case !SameBuffer(a0.B, ar.B):
		d0, dr := describeBoth(a0.B, ar.B)
		return fmt.Errorf("%w: %s: rank 0 passed src %s but rank %d passed src %s", ErrMismatch, k, d0, r, dr)
	case ar.Op != a0.Op:
		return fmt.Errorf("%w: %s: rank 0 passed op %s but rank %d passed op %s", ErrMismatch, k, a0.Op, r, ar.Op)
	case ar.Root != a0.Root:
		return fmt.Errorf("%w: %s: rank 0 passed root %d but rank %d passed root %d", ErrMismatch, k, a0.Root, r, ar.Root)
	}
	return nil
}

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
