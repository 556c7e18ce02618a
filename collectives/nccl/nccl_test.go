package nccl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/colltest"
	"github.com/tessera-ml/tessera/collectives/local"
	cn "github.com/tessera-ml/tessera/collectives/nccl"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/cudatensor"
	cnccl "github.com/tessera-ml/tessera/cuda/nccl"
	"github.com/tessera-ml/tessera/internal/testutil"
	"github.com/tessera-ml/tessera/tensor"
)

func testID() []byte {
	id := make([]byte, cn.IDBytes)
	for i := range id {
		id[i] = byte(i*7 + 3)
	}
	return id
}

// settle waits for the goroutine count to return to base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("leaked goroutines: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// world runs rank 0's ServeID and ranks 1..n-1's FetchID (with the given
// per-rank claimed rank and size) and returns each one's id and error.
func world(t *testing.T, ctx context.Context, n int, claim func(r int) (rank, size int), clientsFirst bool) ([][]byte, []error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ids, errs := make([][]byte, n), make([]error, n)
	var wg sync.WaitGroup
	for r := 1; r < n; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, cs := claim(r)
			ids[r], errs[r] = cn.FetchID(ctx, addr, cr, cs)
		}()
	}
	if clientsFirst {
		time.Sleep(50 * time.Millisecond) // they retry while nobody accepts
	}
	errs[0] = cn.ServeID(ctx, ln, n, testID())
	if errs[0] == nil {
		ids[0] = testID()
	}
	wg.Wait()
	return ids, errs
}

func TestRendezvousTCP(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, first := range []bool{false, true} {
		ids, errs := world(t, ctx, 5, func(r int) (int, int) { return r, 5 }, first)
		for r := range 5 {
			require.NoError(t, errs[r], "rank %d", r)
			require.True(t, bytes.Equal(testID(), ids[r]), "rank %d", r)
		}
	}
	settle(t, base)
}

func TestRendezvousTCPExchange(t *testing.T) {
	// A free port for ExchangeTCP's own listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 3
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var id []byte
			if r == 0 {
				id = testID()
			}
			got[r], errs[r] = cn.ExchangeTCP(ctx, addr, r, n, id)
		}()
	}
	wg.Wait()
	for r := range n {
		require.NoError(t, errs[r])
		require.Equal(t, testID(), got[r])
	}
}

func TestRendezvousTCPBadWorld(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("size", func(t *testing.T) {
		_, errs := world(t, ctx, 4, func(r int) (int, int) {
			if r == 2 {
				return r, 5
			}
			return r, 4
		}, false)
		for r := range 4 {
			require.ErrorIs(t, errs[r], collectives.ErrMismatch, "rank %d", r)
			require.Contains(t, errs[r].Error(), "rank 0 has world size 4 but rank 2 has world size 5")
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		_, errs := world(t, ctx, 3, func(r int) (int, int) { return 1, 3 }, false)
		for r := range 3 {
			require.ErrorIs(t, errs[r], collectives.ErrMismatch, "rank %d", r)
			require.Contains(t, errs[r].Error(), "two processes claim rank 1")
		}
	})
	t.Run("missing", func(t *testing.T) {
		sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer scancel()
		// Rank 3 of 4 never shows up.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for r := 1; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[r] = cn.FetchID(ctx, addr, r, 4) // the long ctx: rank 0 tells them
			}()
		}
		start := time.Now()
		errs[0] = cn.ServeID(sctx, ln, 4, testID())
		wg.Wait()
		require.Less(t, time.Since(start), 5*time.Second)
		require.ErrorIs(t, errs[0], collectives.ErrAborted)
		require.ErrorIs(t, errs[0], context.DeadlineExceeded)
		require.Contains(t, errs[0].Error(), "waited for ranks [3]")
		for r := 1; r < 3; r++ {
			require.Error(t, errs[r], "rank %d", r)
			require.Contains(t, errs[r].Error(), "waited for ranks [3]", "rank %d", r)
		}
	})
	t.Run("no-server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		cctx, ccancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer ccancel()
		_, err = cn.FetchID(cctx, addr, 1, 2)
		require.ErrorIs(t, err, collectives.ErrAborted)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Contains(t, err.Error(), "cannot reach rank 0")
	})
	t.Run("bad-id", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		require.ErrorIs(t, cn.ServeID(ctx, ln, 2, []byte{1, 2}), collectives.ErrInvalid)
	})
	settle(t, base)
}

func TestExchangeComm(t *testing.T) {
	err := local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
		var id []byte
		if c.Rank() == 0 {
			id = testID()
		}
		got, err := cn.ExchangeComm(ctx, c, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, testID()) {
			return fmt.Errorf("rank %d got a different id", c.Rank())
		}
		return nil
	})
	require.NoError(t, err)
}

func TestMapError(t *testing.T) {
	k := collectives.KindAllReduce
	remote := &cnccl.Error{Call: "ncclAllReduce", Code: 6, Name: "ncclRemoteError", Msg: "peer died"}
	err := cn.MapError(2, k, remote)
	require.ErrorIs(t, err, collectives.ErrAborted)
	require.ErrorIs(t, err, cnccl.ErrRemote)
	require.Contains(t, err.Error(), "rank 2: AllReduce: a peer failed")
	require.Contains(t, err.Error(), "peer died")

	for _, code := range []int{4, 5} {
		inv := &cnccl.Error{Call: "ncclBroadcast", Code: code, Name: "x"}
		err = cn.MapError(0, collectives.KindBroadcast, inv)
		require.ErrorIs(t, err, collectives.ErrInvalid)
		var ne *cnccl.Error
		require.True(t, errors.As(err, &ne))
	}
	err = cn.MapError(1, k, fmt.Errorf("loading: %w", cuda.ErrUnavailable))
	require.ErrorIs(t, err, cuda.ErrUnavailable)
	require.NotErrorIs(t, err, collectives.ErrInvalid)
	other := &cnccl.Error{Call: "ncclAllReduce", Code: 2, Name: "ncclSystemError"}
	err = cn.MapError(1, k, other)
	require.NotErrorIs(t, err, collectives.ErrInvalid)
	require.Contains(t, err.Error(), "ncclSystemError")
	require.NoError(t, cn.MapError(0, k, nil))
}

func TestTypeMapping(t *testing.T) {
	want := map[tensor.DType]cnccl.DataType{
		tensor.Float32: cnccl.Float32, tensor.Float64: cnccl.Float64, tensor.Float16: cnccl.Float16,
		tensor.BFloat16: cnccl.Bfloat16, tensor.Int32: cnccl.Int32, tensor.Int64: cnccl.Int64, tensor.Bool: cnccl.Uint8,
	}
	for _, dt := range colltest.DTypes {
		got, err := cn.DataType(dt)
		require.NoError(t, err)
		require.Equal(t, want[dt], got, "%s", dt)
		require.Equal(t, dt.Size(), cnccl.ElementSize(got), "%s", dt)
	}
	ops := map[collectives.RedOp]cnccl.RedOp{collectives.Sum: cnccl.Sum, collectives.Avg: cnccl.Avg,
		collectives.Prod: cnccl.Prod, collectives.Min: cnccl.Min, collectives.Max: cnccl.Max}
	for op, w := range ops {
		got, err := cn.RedOp(op, tensor.Float32)
		require.NoError(t, err)
		require.Equal(t, w, got)
	}
	boolOps := map[collectives.RedOp]cnccl.RedOp{collectives.Sum: cnccl.Max, collectives.Max: cnccl.Max,
		collectives.Prod: cnccl.Min, collectives.Min: cnccl.Min}
	for op, w := range boolOps {
		got, err := cn.RedOp(op, tensor.Bool)
		require.NoError(t, err)
		require.Equal(t, w, got)
	}
	_, err := cn.RedOp(collectives.Avg, tensor.Bool)
	require.ErrorIs(t, err, collectives.ErrInvalid)
	_, err = cn.RedOp(collectives.RedOp(9), tensor.Float32)
	require.ErrorIs(t, err, collectives.ErrInvalid)
}

func TestEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	a, err := cn.Addr(env(map[string]string{"MASTER_ADDR": "node0", "MASTER_PORT": "29500"}))
	require.NoError(t, err)
	require.Equal(t, "node0:29500", a)
	a, err = cn.Addr(env(map[string]string{"TESSERA_NCCL_ADDR": "10.0.0.1:1234", "MASTER_ADDR": "x", "MASTER_PORT": "1"}))
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1:1234", a)
	_, err = cn.Addr(env(nil))
	require.ErrorIs(t, err, collectives.ErrInvalid)
	d, err := cn.LocalDevice(env(map[string]string{"TESSERA_NCCL_DEVICE": "3", "LOCAL_RANK": "1"}))
	require.NoError(t, err)
	require.Equal(t, 3, d)
	d, err = cn.LocalDevice(env(nil))
	require.NoError(t, err)
	require.Equal(t, 0, d)
	_, err = cn.LocalDevice(env(map[string]string{"LOCAL_RANK": "x"}))
	require.Error(t, err)
}

// Without a GPU, Init with TESSERA_BACKEND=nccl fails at once, naming the cause.
func TestInitWithoutGPU(t *testing.T) {
	if cuda.Available() && cnccl.Load() == nil {
		t.Skip("a GPU and NCCL are present")
	}
	for _, k := range []string{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "LOCAL_RANK", "TESSERA_NCCL_DEVICE"} {
		t.Setenv(k, "")
	}
	t.Setenv("TESSERA_BACKEND", "nccl")
	t.Setenv("RANK", "0")
	t.Setenv("WORLD_SIZE", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := collectives.Init(ctx)
	require.Error(t, err)
	require.True(t, errors.Is(err, cuda.ErrUnavailable), "%v", err)
	_, err = cn.New(nil, 0, 1, testID())
	require.ErrorIs(t, err, collectives.ErrInvalid)
}

// One rank on one GPU (NCCL refuses two ranks on one device): the whole
// conformance suite on device tensors and, through host staging, on CPU
// tensors; grouped, asynchronous and split calls; a cancelled context.
func TestGPUOneRank(t *testing.T) {
	testutil.RequireGPU(t)
	testutil.RequireGPUProbe(t, cnccl.Load)
	dev, err := cudatensor.Open(0)
	require.NoError(t, err)
	uid, err := cnccl.GetUniqueID()
	require.NoError(t, err)
	c, err := cn.New(dev, 0, 1, uid[:])
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "nccl", c.Backend())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counts := []int{0, 1, 2, 3, 17, 1031, 3<<20/4 + 3}
	for _, onGPU := range []bool{true, false} {
		for _, cs := range colltest.Cases(1, counts, false) {
			if onGPU {
				cs.Device = dev
			}
			require.NoError(t, colltest.Check(ctx, c, cs), "%s gpu=%v", cs, onGPU)
		}
	}
	x := tensor.Ones(tensor.Float32, 5).To(dev)
	y := tensor.Ones(tensor.Int64, 3).To(dev)
	h := c.Start(ctx, collectives.AllReduceCall(x, collectives.Sum), collectives.AllReduceCall(y, collectives.Max))
	require.NoError(t, h.Wait())
	sub, err := c.Split(ctx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 1, sub.Size())
	require.NoError(t, sub.AllReduce(ctx, x, collectives.Sum))
	require.NoError(t, sub.Close())
	none, err := c.Split(ctx, -1, 0)
	require.NoError(t, err)
	require.Nil(t, none)

	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	require.ErrorIs(t, c.AllReduce(cctx, x, collectives.Sum), context.Canceled)
	require.ErrorIs(t, c.AllReduce(ctx, x, collectives.Sum), collectives.ErrAborted)
}
