package tensorparallel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Group is a tensor-parallel group: the communicator of the ranks that
// share a layer's slices, the context its collectives run under, and the
// first error one of them returned.
type Group struct {
	comm    collectives.Comm
	ctx     context.Context
	timeout time.Duration

	mu    sync.Mutex
	err   error
	stats Stats
}

// Stats counts a group's collectives since it was made or last reset.
type Stats struct {
	AllReduce, AllGather, ReduceScatter int
	// Bytes is the payload: the bytes of the tensors handed to the
	// collectives (for a gather, the gathered result). A ring all-reduce
	// sends 2(n-1)/n of its payload from each rank.
	Bytes int64
}

// Calls is the number of collectives.
func (s Stats) Calls() int { return s.AllReduce + s.AllGather + s.ReduceScatter }

// NewGroup returns the group of communicator c (nil means a group of one
// rank); ctx governs every collective it runs.
func NewGroup(ctx context.Context, c collectives.Comm) *Group {
	return &Group{comm: c, ctx: ctx}
}

// SetTimeout bounds each collective (0: no bound beyond the context).
func (g *Group) SetTimeout(d time.Duration) { g.timeout = d }

// Comm returns the communicator (nil for a group of one).
func (g *Group) Comm() collectives.Comm { return g.comm }

// Size is the number of ranks.
func (g *Group) Size() int {
	if g == nil || g.comm == nil {
		return 1
	}
	return g.comm.Size()
}

// Rank is this rank's index in the group.
func (g *Group) Rank() int {
	if g == nil || g.comm == nil {
		return 0
	}
	return g.comm.Rank()
}

// Err returns the first error a collective of the group returned.
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Stats returns the counts of collectives.
func (g *Group) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// ResetStats zeroes the counts.
func (g *Group) ResetStats() {
	g.mu.Lock()
	g.stats = Stats{}
	g.mu.Unlock()
}

// run executes one collective unless the group already failed; a failure
// is recorded and aborts the communicator so the peers stop waiting.
func (g *Group) run(op string, bytes int64, count func(*Stats), f func(ctx context.Context) error) {
	g.mu.Lock()
	failed := g.err != nil
	if !failed {
		count(&g.stats)
		g.stats.Bytes += bytes
	}
	g.mu.Unlock()
	if failed {
		return
	}
	ctx := g.ctx
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	if err := f(ctx); err != nil {
		err = fmt.Errorf("tensorparallel: %s: %w", op, err)
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
		g.comm.Abort(err)
	}
}

func nbytes(t *tensor.Tensor) int64 { return int64(t.Shape().NumElements() * t.DType().Size()) }

// allReduce reduces t (contiguous, owned) in place over the group.
func (g *Group) allReduce(op string, t *tensor.Tensor, red collectives.RedOp) {
	if g.Size() == 1 {
		return
	}
	g.run(op, nbytes(t), func(s *Stats) { s.AllReduce++ }, func(ctx context.Context) error {
		return g.comm.AllReduce(ctx, t, red)
	})
}

// allReduceMany reduces the tensors ts (contiguous, owned) in place in
// one group call (fused by the backend where it can).
func (g *Group) allReduceMany(op string, ts []*tensor.Tensor, red collectives.RedOp) {
	if g.Size() == 1 || len(ts) == 0 {
		return
	}
	var n int64
	calls := make([]collectives.Call, len(ts))
	for i, t := range ts {
		n += nbytes(t)
		calls[i] = collectives.AllReduceCall(t, red)
	}
	g.run(op, n, func(s *Stats) { s.AllReduce += len(ts) }, func(ctx context.Context) error {
		return g.comm.Group(ctx, calls...)
	})
}

// gather concatenates every rank's x along axis (equal sizes).
func (g *Group) gather(op string, x *tensor.Tensor, axis int) *tensor.Tensor {
	n := g.Size()
	if n == 1 {
		return x
	}
	axis = normAxis(x, axis)
	front := moveToFront(x, axis).Contiguous()
	shape := front.Shape().Clone()
	shape[0] *= n
	dst := tensor.EmptyOn(x.Device(), x.DType(), shape...)
	g.run(op, nbytes(dst), func(s *Stats) { s.AllGather++ }, func(ctx context.Context) error {
		return g.comm.AllGather(ctx, dst, front)
	})
	return moveFromFront(dst, axis)
}

// reduceScatter sums x over the ranks and keeps this rank's block of axis.
func (g *Group) reduceScatter(op string, x *tensor.Tensor, axis int) *tensor.Tensor {
	n := g.Size()
	if n == 1 {
		return x
	}
	axis = normAxis(x, axis)
	if x.Dim(axis)%n != 0 {
		panic(tensor.Errorf(op, "axis %d of %v not divisible by %d ranks", axis, x.Shape(), n))
	}
	front := moveToFront(x, axis).Contiguous()
	shape := front.Shape().Clone()
	shape[0] /= n
	dst := tensor.EmptyOn(x.Device(), x.DType(), shape...)
	g.run(op, nbytes(front), func(s *Stats) { s.ReduceScatter++ }, func(ctx context.Context) error {
		return g.comm.ReduceScatter(ctx, dst, front, collectives.Sum)
	})
	return moveFromFront(dst, axis)
}

// split keeps this rank's block of axis (equal sizes).
func (g *Group) split(op string, x *tensor.Tensor, axis int) *tensor.Tensor {
	n := g.Size()
	axis = normAxis(x, axis)
	if x.Dim(axis)%n != 0 {
		panic(tensor.Errorf(op, "axis %d of %v not divisible by %d ranks", axis, x.Shape(), n))
	}
	k := x.Dim(axis) / n
	return x.Narrow(axis, g.Rank()*k, k)
}

func normAxis(x *tensor.Tensor, axis int) int {
	if axis < 0 {
		axis += x.NDim()
	}
	return axis
}

func perm(nd, axis int) []int {
	p := []int{axis}
	for i := range nd {
		if i != axis {
			p = append(p, i)
		}
	}
	return p
}

func moveToFront(x *tensor.Tensor, axis int) *tensor.Tensor {
	return x.Permute(perm(x.NDim(), axis)...)
}

func moveFromFront(x *tensor.Tensor, axis int) *tensor.Tensor {
	p := perm(x.NDim(), axis)
	inv := make([]int, len(p))
	for i, a := range p {
		inv[a] = i
	}
	return x.Permute(inv...)
}

// Partition returns the range [lo, hi) of n items (heads, hidden units,
// vocabulary rows) that rank of size ranks holds: as even as possible,
// in rank order.
func Partition(n, size, rank int) (lo, hi int) {
	return rank * n / size, (rank + 1) * n / size
}
