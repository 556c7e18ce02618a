package local_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/colltest"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/tensor"
)

// smallCounts cover 0, 1, primes and counts not divisible by the world sizes.
var smallCounts = []int{0, 1, 2, 3, 5, 17, 101, 1031}

func TestConformanceAllWorldSizes(t *testing.T) {
	for n := 1; n <= 8; n++ {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			cases := colltest.Cases(n, smallCounts, true)
			err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
				for _, cs := range cases {
					if err := colltest.Check(ctx, c, cs); err != nil {
						return err
					}
				}
				return nil
			})
			require.NoError(t, err)
		})
	}
}

// TestConformanceLarge runs several-MiB messages (the Ring path, many
// blocks and uneven owner slices) on a table-driven subset.
func TestConformanceLarge(t *testing.T) {
	big := 3<<20/4 + 3 // ~3 MiB of float32, odd
	if raceEnabled {
		big = 1<<18 + 3 // the race detector is ~20x slower; still many blocks
	}
	type tc struct {
		n    int
		kind collectives.Kind
		dt   tensor.DType
		op   collectives.RedOp
		cnt  int
	}
	cases := []tc{
		{2, collectives.KindAllReduce, tensor.Float32, collectives.Sum, big},
		{3, collectives.KindAllReduce, tensor.Float64, collectives.Prod, big / 2},
		{4, collectives.KindAllReduce, tensor.BFloat16, collectives.Avg, big},
		{5, collectives.KindAllReduce, tensor.Int64, collectives.Max, big / 2},
		{7, collectives.KindAllReduce, tensor.Float16, collectives.Min, big},
		{8, collectives.KindAllReduce, tensor.Float32, collectives.Avg, big},
		{8, collectives.KindAllReduce, tensor.Bool, collectives.Prod, big},
		{6, collectives.KindAllReduce, tensor.Int32, collectives.Sum, big},
		{4, collectives.KindReduce, tensor.Float32, collectives.Sum, big},
		{3, collectives.KindReduceScatter, tensor.Float32, collectives.Sum, big / 3},
		{4, collectives.KindAllGather, tensor.Float64, collectives.Sum, big / 4},
		{4, collectives.KindBroadcast, tensor.Float32, collectives.Sum, big},
		{4, collectives.KindAllToAll, tensor.Int32, collectives.Sum, big / 4},
		{2, collectives.KindSend, tensor.Float32, collectives.Sum, big},
	}
	for i, c := range cases {
		cs := colltest.Case{Kind: c.kind, DType: c.dt, Op: c.op, Count: c.cnt, Root: i % c.n, Seed: uint64(100 + i), Exact: true}
		t.Run(fmt.Sprintf("n=%d/%s", c.n, cs), func(t *testing.T) {
			require.NoError(t, local.Run(context.Background(), c.n, func(ctx context.Context, cm collectives.Comm) error {
				return colltest.Check(ctx, cm, cs)
			}))
		})
	}
}

// TestConformanceLargeAll runs every collective × reduction × dtype with
// a several-MiB message (an odd element count, so owner slices are
// uneven) at two world sizes that do not divide it.
func TestConformanceLargeAll(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bytes := 3<<20 + 7*8
	if raceEnabled {
		bytes = 1<<18 + 7*8
	}
	for _, n := range []int{3, 8} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			var cases []colltest.Case
			for _, cs := range colltest.Cases(n, []int{1}, true) {
				cs.Count = bytes/cs.DType.Size() + 1
				if cs.Kind == collectives.KindAllGather || cs.Kind == collectives.KindReduceScatter || cs.Kind == collectives.KindAllToAll {
					cs.Count /= n // per-rank block: the big side is n times larger
				}
				cases = append(cases, cs)
			}
			require.NoError(t, local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
				for _, cs := range cases {
					if err := colltest.Check(ctx, c, cs); err != nil {
						return err
					}
				}
				return nil
			}))
		})
	}
}

// Both algorithms give the canonical order, so results are bit-identical
// whichever runs.
func TestAlgorithmsAgree(t *testing.T) {
	for _, algo := range []local.Algorithm{local.Ring, local.Direct, local.Tree} {
		for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 8} {
			for _, cnt := range []int{0, 1, 13, 5000, 70001} {
				for i, dt := range colltest.DTypes {
					op := collectives.RedOps()[(i+cnt+n)%5]
					if dt == tensor.Bool && op == collectives.Avg {
						op = collectives.Min
					}
					cs := colltest.Case{Kind: collectives.KindAllReduce, DType: dt, Op: op, Count: cnt, Seed: 7, Exact: true}
					require.NoError(t, local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
						return colltest.Check(ctx, c, cs)
					}, local.WithAlgorithm(algo)), "%s n=%d", algo, n)
				}
			}
		}
	}
}

func TestNonContiguousAndViews(t *testing.T) {
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		base := colltest.Fill(tensor.Float32, collectives.Sum, 9, c.Rank(), 0, 6, 5)
		tr := base.Permute(1, 0) // non-contiguous view: results must land in base
		if err := c.AllReduce(ctx, tr, collectives.Sum); err != nil {
			return err
		}
		got := tensor.HostData(base.Storage()).([]float32)
		for i, g := range got {
			want := colltest.Reference(tensor.Float32, collectives.Sum, 9, 3, i)
			if float64(g) != want {
				return fmt.Errorf("element %d: %v != %v", i, g, want)
			}
		}
		// A slice at an offset.
		row := base.Slice(0, 2, 3, 1)
		if err := c.Broadcast(ctx, row, 1); err != nil {
			return err
		}
		return nil
	})
	require.NoError(t, err)
}

func TestGroupFusionAndAsync(t *testing.T) {
	const n = 4
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		var calls []collectives.Call
		var ts []*tensor.Tensor
		for i := range 20 {
			dt := tensor.Float32
			if i%5 == 4 {
				dt = tensor.Int64 // breaks the run: a new bucket
			}
			x := colltest.Fill(dt, collectives.Sum, uint64(50+i), c.Rank(), 0, 3+i*7)
			ts = append(ts, x)
			calls = append(calls, collectives.AllReduceCall(x, collectives.Sum))
		}
		h := c.Start(ctx, calls...)
		// A synchronous call issued after Start runs after it.
		b := colltest.Fill(tensor.Float64, collectives.Sum, 99, c.Rank(), 0, 10)
		if err := c.Broadcast(ctx, b, 2); err != nil {
			return err
		}
		if done, _ := h.Test(); !done {
			return errors.New("Start's calls not done after a later synchronous call")
		}
		if err := h.Wait(); err != nil {
			return err
		}
		for i, x := range ts {
			got := tensor.HostData(x.Storage())
			for j := range x.NumElements() {
				want := colltest.Reference(x.DType(), collectives.Sum, uint64(50+i), n, j)
				var g float64
				switch d := got.(type) {
				case []float32:
					g = float64(d[j])
				case []int64:
					g = float64(d[j])
				}
				if g != want {
					return fmt.Errorf("tensor %d element %d: %v != %v", i, j, g, want)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

func TestSplit(t *testing.T) {
	const n = 8
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		color := c.Rank() % 2
		if c.Rank() == 7 {
			color = -1 // not in any group
		}
		sub, err := c.Split(ctx, color, -c.Rank()) // reversed order
		if err != nil {
			return err
		}
		if color < 0 {
			if sub != nil {
				return errors.New("negative color got a communicator")
			}
			return c.Barrier(ctx)
		}
		defer sub.Close()
		members := []int{}
		for r := n - 1; r >= 0; r-- {
			if r%2 == color && r != 7 {
				members = append(members, r)
			}
		}
		if sub.Size() != len(members) || members[sub.Rank()] != c.Rank() {
			return fmt.Errorf("rank %d: sub rank %d of %d, want index in %v", c.Rank(), sub.Rank(), sub.Size(), members)
		}
		x := tensor.FromSlice([]int64{int64(c.Rank())}, 1)
		if err := sub.AllReduce(ctx, x, collectives.Sum); err != nil {
			return err
		}
		want := int64(0)
		for _, m := range members {
			want += int64(m)
		}
		if got := tensor.HostData(x.Storage()).([]int64)[0]; got != want {
			return fmt.Errorf("sub all-reduce %d, want %d", got, want)
		}
		// Nested split of a sub-communicator.
		sub2, err := sub.Split(ctx, sub.Rank()/2, sub.Rank())
		if err != nil {
			return err
		}
		defer sub2.Close()
		if err := sub2.Barrier(ctx); err != nil {
			return err
		}
		return c.Barrier(ctx)
	})
	require.NoError(t, err)
}

func TestMismatchNamesBoth(t *testing.T) {
	t.Run("shape", func(t *testing.T) {
		err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
			shape := []int{4, 3}
			if c.Rank() == 2 {
				shape = []int{4, 4}
			}
			return c.AllReduce(ctx, tensor.Ones(tensor.Float32, shape...), collectives.Sum)
		})
		require.ErrorIs(t, err, collectives.ErrMismatch)
		require.Contains(t, err.Error(), "float32[4 3]")
		require.Contains(t, err.Error(), "float32[4 4]")
	})
	t.Run("dtype", func(t *testing.T) {
		err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
			dt := tensor.Float32
			if c.Rank() == 1 {
				dt = tensor.Float64
			}
			dst := tensor.Zeros(dt, 2, 5)
			return c.AllGather(ctx, dst, tensor.Ones(dt, 5))
		})
		require.ErrorIs(t, err, collectives.ErrMismatch)
		require.Contains(t, err.Error(), "float32[2 5]")
		require.Contains(t, err.Error(), "float64[2 5]")
	})
	t.Run("kind", func(t *testing.T) {
		err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
			x := tensor.Ones(tensor.Float32, 5)
			if c.Rank() == 1 {
				return c.Broadcast(ctx, x, 0)
			}
			return c.AllReduce(ctx, x, collectives.Max)
		})
		require.ErrorIs(t, err, collectives.ErrMismatch)
		require.Contains(t, err.Error(), "AllReduce")
		require.Contains(t, err.Error(), "Broadcast")
	})
	t.Run("send-recv", func(t *testing.T) {
		err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
			if c.Rank() == 0 {
				return c.Send(ctx, tensor.Ones(tensor.Int32, 3), 1)
			}
			return c.Recv(ctx, tensor.Zeros(tensor.Int32, 4), 0)
		})
		require.ErrorIs(t, err, collectives.ErrMismatch)
		require.Contains(t, err.Error(), "int32[3]")
		require.Contains(t, err.Error(), "int32[4]")
	})
	t.Run("local-invalid", func(t *testing.T) {
		err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
			return c.AllReduce(ctx, tensor.Ones(tensor.Bool, 3), collectives.Avg)
		})
		require.ErrorIs(t, err, collectives.ErrInvalid)
	})
}

// call runs kind on c with small tensors.
func call(ctx context.Context, c collectives.Comm, kind collectives.Kind) error {
	n, r := c.Size(), c.Rank()
	x := tensor.Ones(tensor.Float32, 8)
	switch kind {
	case collectives.KindAllReduce:
		return c.AllReduce(ctx, x, collectives.Sum)
	case collectives.KindBroadcast:
		return c.Broadcast(ctx, x, 0)
	case collectives.KindReduce:
		return c.Reduce(ctx, x, collectives.Sum, 0)
	case collectives.KindAllGather:
		return c.AllGather(ctx, tensor.Zeros(tensor.Float32, n*8), x)
	case collectives.KindReduceScatter:
		return c.ReduceScatter(ctx, tensor.Zeros(tensor.Float32, 8), tensor.Ones(tensor.Float32, n*8), collectives.Sum)
	case collectives.KindAllToAll:
		return c.AllToAll(ctx, tensor.Zeros(tensor.Float32, n*8), tensor.Ones(tensor.Float32, n*8))
	case collectives.KindSend:
		return c.Group(ctx, collectives.SendCall(x, (r+1)%n), collectives.RecvCall(tensor.Zeros(tensor.Float32, 8), (r+n-1)%n))
	case collectives.KindRecv: // a blocking pair: rank 0 sends to 1, 1 receives
		if r == 0 {
			return c.Send(ctx, x, 1)
		}
		if r == 1 {
			return c.Recv(ctx, x, 0)
		}
		return c.Err() // not involved
	case collectives.KindBarrier:
		return c.Barrier(ctx)
	case collectives.KindSplit:
		s, err := c.Split(ctx, 0, r)
		if err == nil {
			err = s.Barrier(ctx)
			s.Close()
		}
		return err
	}
	return fmt.Errorf("unknown kind %v", kind)
}

var allKinds = []collectives.Kind{
	collectives.KindAllReduce, collectives.KindBroadcast, collectives.KindReduce, collectives.KindAllGather,
	collectives.KindReduceScatter, collectives.KindAllToAll, collectives.KindSend, collectives.KindRecv,
	collectives.KindBarrier, collectives.KindSplit,
}

// settle waits for the goroutine count to return to base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("leaked goroutines: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFaults: a faulty rank (error, panic, stall past the deadline, or
// early return) makes every peer's pending and later calls fail, for every
// collective, without hangs or leaked goroutines.
func TestFaults(t *testing.T) {
	const n, bad = 4, 2
	faults := []string{"error", "panic", "stall", "return", "abort"}
	for _, kind := range allKinds {
		algos := []local.Algorithm{local.Auto}
		if kind == collectives.KindAllReduce {
			algos = []local.Algorithm{local.Ring, local.Direct, local.Tree}
		}
		for _, fault := range faults {
			for _, algo := range algos {
				t.Run(kind.String()+"/"+fault+"/"+algo.String(), func(t *testing.T) {
					base := runtime.NumGoroutine()
					start := time.Now()
					later := make([]error, n)
					reached := make([]bool, n) // a peer's fault may fail even the good round
					err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
						// One good round first, with async work in flight.
						if err := call(ctx, c, kind); err != nil {
							return err
						}
						if c.Rank() == bad {
							switch fault {
							case "error":
								return errors.New("boom")
							case "panic":
								panic("boom")
							case "stall":
								time.Sleep(300 * time.Millisecond)
							case "return":
								return nil
							case "abort":
								c.Abort(errors.New("boom"))
							}
						}
						cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
						defer cancel()
						h := c.Start(cctx, collectives.BarrierCall())
						err := call(cctx, c, kind)
						if err == nil {
							err = h.Wait()
						}
						// A later call fails at once.
						later[c.Rank()] = call(ctx, c, kind)
						reached[c.Rank()] = true
						return err
					}, local.WithAlgorithm(algo))
					require.Error(t, err)
					require.Less(t, time.Since(start), 5*time.Second)
					for r, e := range later {
						if !reached[r] {
							continue
						}
						require.Error(t, e, "rank %d later call", r)
						require.ErrorIs(t, e, collectives.ErrAborted, "rank %d", r)
					}
					msg := err.Error()
					switch fault {
					case "error", "panic", "abort":
						require.Contains(t, msg, "boom")
					case "stall":
						require.ErrorIs(t, err, context.DeadlineExceeded)
					case "return":
						require.Contains(t, msg, fmt.Sprintf("rank %d closed", bad))
					}
					for r := range n {
						if r != bad || fault == "stall" {
							require.True(t, strings.Contains(msg, fmt.Sprintf("rank %d: ", r)), "rank %d has no error in %q", r, msg)
						}
					}
					settle(t, base)
				})
			}
		}
	}
}

func TestCancelledContextAborts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := local.Run(ctx, 3, func(ctx context.Context, c collectives.Comm) error {
		if c.Rank() == 0 {
			cancel()
		}
		return c.AllReduce(ctx, tensor.Ones(tensor.Float32, 4), collectives.Sum)
	})
	require.ErrorIs(t, err, context.Canceled)
}

func TestClosed(t *testing.T) {
	comms, err := local.New(1)
	require.NoError(t, err)
	c := comms[0]
	require.NoError(t, c.AllReduce(context.Background(), tensor.Ones(tensor.Float32, 3), collectives.Avg))
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.AllReduce(context.Background(), tensor.Ones(tensor.Float32, 3), collectives.Sum), collectives.ErrClosed)
	_, err = local.New(0)
	require.Error(t, err)
}

// TestGroupMismatch: grouped all-reduces whose calls differ but whose
// totals agree (3 then 5 against 5 then 3; [2 3] against [6]) are an
// ErrMismatch naming both groups on every rank (issue 11 item 1).
func TestGroupMismatch(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, algo := range []local.Algorithm{local.Ring, local.Direct, local.Tree} {
			err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
				return colltest.GroupMismatch(ctx, c)
			}, local.WithAlgorithm(algo))
			require.NoError(t, err, "n=%d %s", n, algo)
		}
	}
}

// TestSendRecvMismatch: both sides of a mismatched Send/Recv report it.
func TestSendRecvMismatch(t *testing.T) {
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		return colltest.SendRecvMismatch(ctx, c)
	})
	require.NoError(t, err)
}
