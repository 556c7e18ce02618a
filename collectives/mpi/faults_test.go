//go:build mpi && cgo

package mpi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// Faults that must reach the peers (issue 11 item 9). Each test runs on a
// fresh sub-communicator (an aborted one stays aborted) and ends with a
// world barrier, so the suite goes on. A call that should end but does not
// is caught by a watchdog, so a regression fails instead of hanging.

const hangLimit = 20 * time.Second

// within runs fn and fails the test if it does not return within hangLimit.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangLimit):
		t.Fatalf("%s did not return within %v", what, hangLimit)
		return nil
	}
}

// latency gathers every rank's seconds (0 for none) and logs the largest
// on rank 0; it returns the largest.
func latency(t *testing.T, what string, secs float64) float64 {
	t.Helper()
	all := tensor.FromSlice([]float64{secs}, 1)
	require.NoError(t, world.AllReduce(context.Background(), all, collectives.Max))
	worst := tensor.HostData(all.Storage()).([]float64)[0]
	if world.Rank() == 0 {
		t.Logf("%s: the slowest peer returned %.1f ms after the cause (np=%d)", what, worst*1e3, world.Size())
	}
	return worst
}

// stamp is the time every rank agrees on: rank 0's clock via Broadcast
// (the ranks of a test job share a host, and peers compare only durations
// they measure themselves after it).
func stamp(t *testing.T) {
	t.Helper()
	require.NoError(t, world.Barrier(context.Background()))
}

// TestZZAbortReachesPeers: Abort on one rank makes the peers' pending
// calls, made with a context that never ends, return ErrAborted with the
// cause, and their later calls too.
func TestZZAbortReachesPeers(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs 2 ranks")
	}
	ctx := context.Background()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	require.NoError(t, sub.AllReduce(ctx, tensor.Ones(tensor.Float32, 8), collectives.Sum))
	stamp(t)
	const delay = 300 * time.Millisecond
	var secs float64
	if sub.Rank() == 1 {
		time.Sleep(delay)
		sub.Abort(errors.New("boom on purpose"))
	} else {
		start := time.Now()
		err := within(t, "AllReduce with an aborting peer", func() error {
			return sub.AllReduce(ctx, tensor.Ones(tensor.Float32, 8), collectives.Sum)
		})
		secs = max(0, time.Since(start).Seconds()-delay.Seconds())
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.ErrorContains(t, err, "boom on purpose")
		assert.ErrorContains(t, err, "from rank 1")
	}
	later := sub.Barrier(ctx)
	assert.ErrorIs(t, later, collectives.ErrAborted, "a later call")
	assert.ErrorContains(t, later, "boom on purpose")
	require.NoError(t, sub.Close())
	// A generous bound: without the notice the call never returns.
	assert.Less(t, latency(t, "abort", secs), 5.0)
}

// TestZZDeadlineReachesPeers: a rank whose context ends aborts the
// communicator for everyone: a peer blocked with a context that never
// ends returns ErrAborted naming the deadline, and a peer that was late
// fails at once.
func TestZZDeadlineReachesPeers(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs 2 ranks")
	}
	ctx := context.Background()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	stamp(t)
	const deadline = 200 * time.Millisecond
	var secs float64
	x := tensor.Ones(tensor.Float32, 8)
	switch sub.Rank() {
	case 0: // late: arrives after the others gave up
		time.Sleep(deadline + time.Second)
		start := time.Now()
		err := sub.AllReduce(ctx, x, collectives.Sum)
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.ErrorContains(t, err, "context deadline exceeded")
		assert.Less(t, time.Since(start), time.Second, "the late rank fails at once")
	case 1:
		dctx, cancel := context.WithTimeout(ctx, deadline)
		err := sub.AllReduce(dctx, x, collectives.Sum)
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	default:
		start := time.Now()
		err := within(t, "AllReduce with a peer past its deadline", func() error {
			return sub.AllReduce(ctx, x, collectives.Sum)
		})
		secs = max(0, time.Since(start).Seconds()-deadline.Seconds())
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.ErrorContains(t, err, "context deadline exceeded")
		assert.ErrorContains(t, err, "from rank 1")
	}
	require.NoError(t, sub.Close())
	assert.Less(t, latency(t, "deadline", secs), 5.0)
}

// TestZZEarlyReturn: a rank that closes its communicator while the peers
// still expect it makes their calls fail with ErrAborted naming it, while
// a close right after the last call it took part in fails nobody.
func TestZZEarlyReturn(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs 2 ranks")
	}
	ctx := context.Background()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	x := tensor.Ones(tensor.Float32, 8)
	// Rounds that rank 1 takes part in and then closes at once: its close
	// notice may overtake the peers' completion of them, which must not fail.
	for range 20 {
		require.NoError(t, sub.AllReduce(ctx, x, collectives.Sum))
		require.NoError(t, sub.Barrier(ctx))
	}
	stamp(t)
	var secs float64
	if sub.Rank() == 1 {
		require.NoError(t, sub.Close()) // returns early
	} else {
		start := time.Now()
		err := within(t, "AllReduce with a peer that returned", func() error {
			return sub.AllReduce(ctx, x, collectives.Sum)
		})
		secs = time.Since(start).Seconds()
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.ErrorContains(t, err, "rank 1 closed its communicator after 40 collective calls")
		require.NoError(t, sub.Close())
	}
	assert.Less(t, latency(t, "early return", secs), 5.0)

	// Point to point: rank 0 receives twice from rank 1, which sends once
	// and closes: the first transfer succeeds, the second fails.
	sub, err = world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	switch sub.Rank() {
	case 0:
		y := tensor.Zeros(tensor.Float32, 8)
		require.NoError(t, sub.Recv(ctx, y, 1))
		err := within(t, "Recv from a peer that returned", func() error { return sub.Recv(ctx, y, 1) })
		assert.ErrorIs(t, err, collectives.ErrAborted)
		assert.ErrorContains(t, err, "rank 1 closed its communicator after sending 1 transfers")
	case 1:
		require.NoError(t, sub.Send(ctx, x, 0))
	}
	require.NoError(t, sub.Close())
	require.NoError(t, world.Barrier(ctx))
}

// TestZZSubAbortSparesWorld: aborting a sub-communicator leaves its parent
// usable; aborting is per communicator, as in package local.
func TestZZSubAbortSparesWorld(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("needs 2 ranks")
	}
	ctx := context.Background()
	sub, err := world.Split(ctx, 0, world.Rank())
	require.NoError(t, err)
	if sub.Rank() == 0 {
		sub.Abort(fmt.Errorf("only the sub-communicator"))
	}
	err = within(t, "Barrier on an aborted sub-communicator", func() error { return sub.Barrier(ctx) })
	assert.ErrorIs(t, err, collectives.ErrAborted)
	require.NoError(t, sub.Close())
	require.NoError(t, world.Barrier(ctx))
}
