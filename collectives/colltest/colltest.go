// Package colltest is the conformance suite that every collectives backend
// runs: each check fills per-rank inputs that every rank can recompute,
// runs one collective and compares the result bit for bit with a
// reference fold in the canonical order (see collectives' package doc), or
// exactly for data movement. Checks return errors, so they run inside
// local.Run and under mpirun alike.
package colltest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Case is one collective call to check. Count is the per-rank element
// count of the tensor (AllReduce, Broadcast, Reduce, Send/Recv), of src
// (AllGather), of dst (ReduceScatter) or of one block (AllToAll).
type Case struct {
	Kind  collectives.Kind
	DType tensor.DType
	Op    collectives.RedOp
	Count int
	Root  int
	Seed  uint64
	// Exact asks for bit-identical results with the canonical order;
	// backends with their own order (MPI, NCCL) compare with a tolerance.
	Exact bool
	// Device, when set, holds the tensors (filled on the CPU and copied
	// there); nil means the CPU.
	Device tensor.Device
}

func (c Case) String() string {
	return fmt.Sprintf("%s/%s/%s/n=%d/root=%d", c.Kind, c.DType, c.Op, c.Count, c.Root)
}

// DTypes lists every dtype.
var DTypes = []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64, tensor.Bool}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Value is rank r's deterministic input element i, as float64, chosen so
// that no reduction of up to 64 ranks overflows or hits zero: floats are
// in ±[0.5, 1.5) (products stay finite), integers in ±[1, 3].
func Value(dt tensor.DType, op collectives.RedOp, seed uint64, r, i int) float64 {
	h := mix(seed ^ mix(uint64(r)<<32^uint64(i)))
	neg := h&1 == 1
	var v float64
	switch dt {
	case tensor.Bool:
		if op == collectives.Prod || op == collectives.Min {
			// mostly true, so AND is not always false
			return b2f(h%8 != 0)
		}
		return b2f(h%8 == 0)
	case tensor.Int32, tensor.Int64:
		v = float64(1 + (h>>8)%3)
	default:
		v = 0.5 + float64(h>>11)/float64(1<<53)
	}
	if neg {
		v = -v
	}
	return v
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Fill returns a tensor of shape whose element i is Value(dt, op, seed, r, base+i).
func Fill(dt tensor.DType, op collectives.RedOp, seed uint64, r, base int, shape ...int) *tensor.Tensor {
	n := tensor.Shape(shape).NumElements()
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = Value(dt, op, seed, r, base+i)
	}
	if dt == tensor.Float16 || dt == tensor.BFloat16 {
		// Round through float32, as stored() and the kernels do.
		v32 := make([]float32, n)
		for i, v := range vals {
			v32[i] = float32(v)
		}
		return tensor.FromSlice(v32, shape...).Cast(dt).Contiguous()
	}
	return tensor.FromSlice(vals, shape...).Cast(dt).Contiguous()
}

// stored rounds v to dt's storage and back.
func stored(dt tensor.DType, v float64) float64 {
	switch dt {
	case tensor.Float32:
		return float64(float32(v))
	case tensor.BFloat16:
		return float64(tensor.BFloat16ToFloat32(tensor.Float32ToBFloat16(float32(v))))
	case tensor.Float16:
		return float64(tensor.Float16ToFloat32(tensor.Float32ToFloat16(float32(v))))
	}
	return v
}

// Reference is the canonical-order reduction of element i over n ranks,
// computed in dt's arithmetic (float32 for the 16-bit floats, rounded once).
func Reference(dt tensor.DType, op collectives.RedOp, seed uint64, n, i int) float64 {
	var buf [64]float64
	x := buf[:0]
	if n > len(buf) {
		x = make([]float64, n)
	}
	x = x[:n]
	for r := range x {
		x[r] = stored(dt, Value(dt, op, seed, r, i))
	}
	v := refFold(dt, op, x, 0, n)
	if op == collectives.Avg && n > 1 {
		switch dt {
		case tensor.Int32:
			v = float64(int32(v) / int32(n))
		case tensor.Int64:
			v = float64(int64(v) / int64(n))
		case tensor.Float64:
			v /= float64(n)
		default:
			v = float64(float32(v) / float32(n))
		}
	}
	return stored(dt, v)
}

func refFold(dt tensor.DType, op collectives.RedOp, x []float64, lo, hi int) float64 {
	if hi-lo == 1 {
		return x[lo]
	}
	mid := lo + (hi-lo+1)/2
	a, b := refFold(dt, op, x, lo, mid), refFold(dt, op, x, mid, hi)
	if dt == tensor.Bool {
		if op == collectives.Sum || op == collectives.Max {
			return math.Max(a, b)
		}
		return math.Min(a, b)
	}
	var v float64
	switch op {
	case collectives.Sum, collectives.Avg:
		v = a + b
		if dt != tensor.Float64 && dt.IsFloat() {
			v = float64(float32(a) + float32(b))
		}
	case collectives.Prod:
		v = a * b
		if dt != tensor.Float64 && dt.IsFloat() {
			v = float64(float32(a) * float32(b))
		}
	case collectives.Min:
		v = math.Min(a, b)
	case collectives.Max:
		v = math.Max(a, b)
	}
	switch dt {
	case tensor.Int32:
		v = float64(int32(int64(v)))
	}
	return v
}

// refCache shares one reference vector between the ranks of an
// in-process world (each rank would otherwise recompute all n inputs of
// every element). Ranks of a world are at most a case apart, so the last
// few entries suffice; an evicted entry is just recomputed.
var refCache struct {
	sync.Mutex
	m     map[refKey]*refEntry
	order []refKey
}

type refKey struct {
	kind      collectives.Kind
	dt        tensor.DType
	op        collectives.RedOp
	seed      uint64
	n, length int
}

type refEntry struct {
	once sync.Once
	want []float64
}

// references returns Reference(dt, op, seed, n, i) for i in [0, length).
func references(k collectives.Kind, dt tensor.DType, op collectives.RedOp, seed uint64, n, length int) []float64 {
	key := refKey{kind: k, dt: dt, op: op, seed: seed, n: n, length: length}
	refCache.Lock()
	if refCache.m == nil {
		refCache.m = map[refKey]*refEntry{}
	}
	e := refCache.m[key]
	if e == nil {
		e = &refEntry{}
		refCache.m[key] = e
		refCache.order = append(refCache.order, key)
		if len(refCache.order) > 8 {
			delete(refCache.m, refCache.order[0])
			refCache.order = refCache.order[1:]
		}
	}
	refCache.Unlock()
	e.once.Do(func() {
		e.want = make([]float64, length)
		for i := range e.want {
			e.want[i] = Reference(dt, op, seed, n, i)
		}
	})
	return e.want
}

// values reads a tensor as float64.
func values(t *tensor.Tensor) []float64 {
	if t.Device() != tensor.CPU {
		t = t.To(tensor.CPU)
	}
	c := t.Contiguous()
	n := c.NumElements()
	out := make([]float64, n)
	off := c.Offset()
	switch d := tensor.HostData(c.Storage()).(type) {
	case []float32:
		for i := range out {
			out[i] = float64(d[off+i])
		}
	case []float64:
		copy(out, d[off:off+n])
	case []uint16:
		for i := range out {
			if c.DType() == tensor.BFloat16 {
				out[i] = float64(tensor.BFloat16ToFloat32(d[off+i]))
			} else {
				out[i] = float64(tensor.Float16ToFloat32(d[off+i]))
			}
		}
	case []int32:
		for i := range out {
			out[i] = float64(d[off+i])
		}
	case []int64:
		for i := range out {
			out[i] = float64(d[off+i])
		}
	case []bool:
		for i := range out {
			out[i] = b2f(d[off+i])
		}
	default:
		panic(fmt.Sprintf("colltest: cannot read %T", d))
	}
	return out
}

// near compares got with want: exactly, or (for backends with their own
// reduction order) within a bound on the rounding of n-1 reduction steps
// whose partial results reach about 1.5·n in magnitude: eps·2n².
func near(dt tensor.DType, got, want float64, exact bool, n int) bool {
	if got == want || (got != got && want != want) {
		return true
	}
	if exact || !dt.IsFloat() {
		return false
	}
	eps := 0x1p-52
	switch dt {
	case tensor.Float32:
		eps = 0x1p-23
	case tensor.BFloat16:
		eps = 0x1p-8
	case tensor.Float16:
		eps = 0x1p-11
	}
	tol := eps * 2 * float64(n*n)
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func compare(what string, dt tensor.DType, got []float64, want func(i int) float64, exact bool, n int) error {
	for i, g := range got {
		if w := want(i); !near(dt, g, w, exact, n) {
			return fmt.Errorf("%s: element %d of %d: got %v, want %v", what, i, len(got), g, w)
		}
	}
	return nil
}

// Check runs one case on c and verifies this rank's result.
func Check(ctx context.Context, c collectives.Comm, cs Case) error {
	n, r := c.Size(), c.Rank()
	dt, op, cnt, seed := cs.DType, cs.Op, cs.Count, cs.Seed
	var err error
	what := fmt.Sprintf("rank %d: %s", r, cs)
	if cs.Device != nil && cs.Device != tensor.CPU {
		what += " on " + cs.Device.Name()
	}
	on := func(t *tensor.Tensor) *tensor.Tensor {
		if cs.Device == nil || cs.Device == tensor.CPU {
			return t
		}
		return t.To(cs.Device)
	}
	switch cs.Kind {
	case collectives.KindAllReduce, collectives.KindReduce:
		t := on(Fill(dt, op, seed, r, 0, cnt))
		if cs.Kind == collectives.KindAllReduce {
			err = c.AllReduce(ctx, t, op)
		} else {
			err = c.Reduce(ctx, t, op, cs.Root)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if cs.Kind == collectives.KindReduce && r != cs.Root {
			return compare(what+" (non-root unchanged)", dt, values(t), func(i int) float64 { return stored(dt, Value(dt, op, seed, r, i)) }, true, n)
		}
		want := references(cs.Kind, dt, op, seed, n, cnt)
		return compare(what, dt, values(t), func(i int) float64 { return want[i] }, cs.Exact, n)
	case collectives.KindBroadcast:
		t := on(Fill(dt, op, seed, r, 0, cnt))
		if err = c.Broadcast(ctx, t, cs.Root); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return compare(what, dt, values(t), func(i int) float64 { return stored(dt, Value(dt, op, seed, cs.Root, i)) }, true, n)
	case collectives.KindAllGather:
		src := on(Fill(dt, op, seed, r, 0, cnt))
		dst := on(tensor.Zeros(dt, n, cnt))
		if err = c.AllGather(ctx, dst, src); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return compare(what, dt, values(dst), func(i int) float64 {
			return stored(dt, Value(dt, op, seed, i/max(cnt, 1), i%max(cnt, 1)))
		}, true, n)
	case collectives.KindReduceScatter:
		src := on(Fill(dt, op, seed, r, 0, n*cnt))
		dst := on(tensor.Zeros(dt, cnt))
		if err = c.ReduceScatter(ctx, dst, src, op); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		want := references(cs.Kind, dt, op, seed, n, n*cnt)
		return compare(what, dt, values(dst), func(i int) float64 { return want[r*cnt+i] }, cs.Exact, n)
	case collectives.KindAllToAll:
		src := on(Fill(dt, op, seed, r, 0, n*cnt))
		dst := on(tensor.Zeros(dt, n*cnt))
		if err = c.AllToAll(ctx, dst, src); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		// dst block k is src block r of rank k.
		return compare(what, dt, values(dst), func(i int) float64 {
			k, j := i/max(cnt, 1), i%max(cnt, 1)
			return stored(dt, Value(dt, op, seed, k, r*cnt+j))
		}, true, n)
	case collectives.KindSend, collectives.KindRecv:
		// A ring exchange in one group: send to r+1, receive from r-1.
		src := on(Fill(dt, op, seed, r, 0, cnt))
		dst := on(tensor.Zeros(dt, cnt))
		from := (r + n - 1) % n
		if err = c.Group(ctx, collectives.SendCall(src, (r+1)%n), collectives.RecvCall(dst, from)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return compare(what, dt, values(dst), func(i int) float64 { return stored(dt, Value(dt, op, seed, from, i)) }, true, n)
	case collectives.KindBarrier:
		if err = c.Barrier(ctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	return fmt.Errorf("colltest: unknown kind %v", cs.Kind)
}

// Kinds lists the checked calls (KindSend stands for a Send/Recv exchange).
var Kinds = []collectives.Kind{
	collectives.KindAllReduce, collectives.KindBroadcast, collectives.KindReduce, collectives.KindAllGather,
	collectives.KindReduceScatter, collectives.KindAllToAll, collectives.KindSend, collectives.KindBarrier,
}

// Cases returns every kind × op × dtype × count for a world of n ranks
// (ops only for the reducing kinds; Avg skipped for Bool), with roots
// spread over the ranks.
func Cases(n int, counts []int, exact bool) []Case {
	var out []Case
	seed := uint64(1)
	for _, k := range Kinds {
		reducing := k == collectives.KindAllReduce || k == collectives.KindReduce || k == collectives.KindReduceScatter
		for _, dt := range DTypes {
			ops := []collectives.RedOp{collectives.Sum}
			if reducing {
				ops = collectives.RedOps()
			}
			for _, op := range ops {
				if op == collectives.Avg && dt == tensor.Bool {
					continue
				}
				for _, cnt := range counts {
					seed++
					if k == collectives.KindBarrier && (dt != tensor.Float32 || cnt != counts[0]) {
						continue
					}
					out = append(out, Case{Kind: k, DType: dt, Op: op, Count: cnt, Root: int(seed) % n, Seed: seed, Exact: exact})
				}
			}
		}
	}
	return out
}

// GroupMismatch checks that fused groups whose calls differ but whose
// totals agree are a mismatch, not a silent mix of tensors: rank 1 groups
// AllReduce of 5 then 3 elements while the others group 3 then 5, then
// [6] and [4] against [2 3] and [4]. Every rank must get an error wrapping
// ErrMismatch that names both groups, with its tensors left unchanged, and
// the communicator must stay usable (a matching group after it reduces
// correctly). It needs at least two ranks and returns nil when all holds.
func GroupMismatch(ctx context.Context, c collectives.Comm) error {
	if c.Size() < 2 {
		return fmt.Errorf("colltest: GroupMismatch needs 2 ranks, have %d", c.Size())
	}
	r := c.Rank()
	for _, tc := range []struct {
		mine, odd [][]int // rank 1 groups odd, every other rank mine
		d0, d1    string
	}{
		{[][]int{{3}, {5}}, [][]int{{5}, {3}}, "group of 2 (float32[3], float32[5])", "group of 2 (float32[5], float32[3])"},
		{[][]int{{2, 3}, {4}}, [][]int{{6}, {4}}, "group of 2 (float32[2 3], float32[4])", "group of 2 (float32[6], float32[4])"},
	} {
		shapes := tc.mine
		if r == 1 {
			shapes = tc.odd
		}
		var calls []collectives.Call
		var ts []*tensor.Tensor
		for i, s := range shapes {
			t := Fill(tensor.Float32, collectives.Sum, uint64(7+i), r, 0, s...)
			ts = append(ts, t)
			calls = append(calls, collectives.AllReduceCall(t, collectives.Sum))
		}
		err := c.Group(ctx, calls...)
		if !errors.Is(err, collectives.ErrMismatch) {
			return fmt.Errorf("rank %d: groups %v and %v: got %v, want an error wrapping ErrMismatch", r, tc.mine, tc.odd, err)
		}
		want := fmt.Sprintf("rank 0 passed %s but rank 1 passed %s", tc.d0, tc.d1)
		if !strings.Contains(err.Error(), want) {
			return fmt.Errorf("rank %d: the error %q does not contain %q", r, err, want)
		}
		for i, t := range ts {
			if err := compare(fmt.Sprintf("rank %d: tensor %d after the mismatch", r, i), tensor.Float32, values(t),
				func(j int) float64 {
					return stored(tensor.Float32, Value(tensor.Float32, collectives.Sum, uint64(7+i), r, j))
				}, true, 1); err != nil {
				return err
			}
		}
	}
	// Still usable: a matching group reduces.
	a, b := tensor.Full(float64(r), tensor.Float64, 3), tensor.Full(float64(2*r), tensor.Float64, 5)
	if err := c.Group(ctx, collectives.AllReduceCall(a, collectives.Sum), collectives.AllReduceCall(b, collectives.Sum)); err != nil {
		return fmt.Errorf("rank %d: a matching group after the mismatch: %w", r, err)
	}
	n := float64(c.Size())
	want := n * (n - 1) / 2
	if err := compare(fmt.Sprintf("rank %d: group after the mismatch", r), tensor.Float64, append(values(a), values(b)...),
		func(j int) float64 {
			if j < 3 {
				return want
			}
			return 2 * want
		}, true, 1); err != nil {
		return err
	}
	return nil
}

// SendRecvMismatch checks that a Send and a Recv that disagree (count
// either way, shape with the same count, dtype, and a message too large to
// be sent before the receiver answers) fail on both ranks with the same
// error wrapping ErrMismatch naming both sides, that the receiver's tensor
// is left unchanged, and that a matching transfer right after each one
// delivers its own data (nothing of the failed one is left in flight).
// Rank 0 sends to rank 1; all ranks end with a Barrier. It needs at
// least two ranks and returns nil when all holds.
func SendRecvMismatch(ctx context.Context, c collectives.Comm) error {
	if c.Size() < 2 {
		return fmt.Errorf("colltest: SendRecvMismatch needs 2 ranks, have %d", c.Size())
	}
	if err := sendRecvMismatch(ctx, c); err != nil {
		return err
	}
	return c.Barrier(ctx)
}

func sendRecvMismatch(ctx context.Context, c collectives.Comm) error {
	r := c.Rank()
	if r > 1 {
		return nil
	}
	big := 70 << 10 / 4 // float32 elements past a 64 KiB eager limit
	for i, tc := range []struct {
		sdt, rdt     tensor.DType
		sent, recvd  []int
		sdesc, rdesc string
	}{
		{tensor.Int32, tensor.Int32, []int{3}, []int{4}, "int32[3]", "int32[4]"},
		{tensor.Int32, tensor.Int32, []int{5}, []int{4}, "int32[5]", "int32[4]"},
		{tensor.Float32, tensor.Float32, []int{2, 3}, []int{6}, "float32[2 3]", "float32[6]"},
		{tensor.Float32, tensor.Float64, []int{4}, []int{4}, "float32[4]", "float64[4]"},
		{tensor.Float32, tensor.Float32, []int{big + 1}, []int{big}, fmt.Sprintf("float32[%d]", big+1), fmt.Sprintf("float32[%d]", big)},
		{tensor.Float32, tensor.Float32, []int{big}, []int{big + 1}, fmt.Sprintf("float32[%d]", big), fmt.Sprintf("float32[%d]", big+1)},
	} {
		seed := uint64(100 + i)
		var err error
		var t *tensor.Tensor
		if r == 0 {
			err = c.Send(ctx, Fill(tc.sdt, collectives.Sum, seed, 0, 0, tc.sent...), 1)
		} else {
			t = Fill(tc.rdt, collectives.Sum, seed, 1, 0, tc.recvd...)
			err = c.Recv(ctx, t, 0)
		}
		want := fmt.Sprintf("rank 0 sent %s but rank 1 receives %s", tc.sdesc, tc.rdesc)
		if !errors.Is(err, collectives.ErrMismatch) || !strings.Contains(err.Error(), want) {
			return fmt.Errorf("rank %d: send %s, receive %s: got %v, want an ErrMismatch containing %q", r, tc.sdesc, tc.rdesc, err, want)
		}
		if r == 1 {
			if err := compare(fmt.Sprintf("rank 1: the receiver's %s after the mismatch", tc.rdesc), tc.rdt, values(t),
				func(j int) float64 { return stored(tc.rdt, Value(tc.rdt, collectives.Sum, seed, 1, j)) }, true, 1); err != nil {
				return err
			}
		}
		// A matching transfer right after it gets its own data.
		n := 1 + i*big/4
		if r == 0 {
			err = c.Send(ctx, Fill(tensor.Float32, collectives.Sum, seed+50, 0, 0, n), 1)
		} else {
			t = tensor.Zeros(tensor.Float32, n)
			err = c.Recv(ctx, t, 0)
		}
		if err != nil {
			return fmt.Errorf("rank %d: the matching transfer after %s/%s: %w", r, tc.sdesc, tc.rdesc, err)
		}
		if r == 1 {
			if err := compare("rank 1: the matching transfer after a mismatch", tensor.Float32, values(t),
				func(j int) float64 {
					return stored(tensor.Float32, Value(tensor.Float32, collectives.Sum, seed+50, 0, j))
				}, true, 1); err != nil {
				return err
			}
		}
	}
	return nil
}
