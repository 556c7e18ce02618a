package tensor_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// eventuallyLive waits (collecting garbage) until l's live bytes of
// category c are want: cleanups run on their own goroutine after a GC.
func eventuallyLive(t *testing.T, l *tensor.MemoryLedger, c tensor.MemoryCategory, want int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		runtime.GC()
		return l.Stats().Category[c].Live == want
	}, 5*time.Second, 5*time.Millisecond, "live %v bytes: want %d, have %d", c, want, l.Stats().Category[c].Live)
}

func TestMemoryLedgerCountsBuffers(t *testing.T) {
	l := tensor.NewMemoryLedger()
	w := tensor.Zeros(tensor.Float32, 100, 10) // 4000 bytes
	l.Charge(w, tensor.MemoryParameters)
	s := l.Stats()
	assert.Equal(t, int64(4000), s.Category[tensor.MemoryParameters].Live)
	assert.Equal(t, int64(4000), s.ModelState.Live)
	assert.Equal(t, int64(4000), s.Total.Live)
	assert.Equal(t, tensor.MemoryParameters, tensor.MemoryCategoryOf(w))

	// A view charges the whole storage once; state charged like w lands in
	// w's ledger.
	l.Charge(w.Reshape(1000), tensor.MemoryParameters)
	m := tensor.Zeros(tensor.BFloat16, 300) // 600 bytes
	tensor.ChargeMemoryLike(m, tensor.MemoryOptimizerState, w)
	s = l.Stats()
	assert.Equal(t, int64(4000), s.Category[tensor.MemoryParameters].Live)
	assert.Equal(t, int64(600), s.Category[tensor.MemoryOptimizerState].Live)
	assert.Equal(t, int64(4600), s.ModelState.Live)

	// Moving a buffer out of the model states keeps the total and lowers
	// the model state; the peaks stay.
	tensor.SetMemoryCategory(m, tensor.MemoryOther)
	s = l.Stats()
	assert.Equal(t, int64(4000), s.ModelState.Live)
	assert.Equal(t, int64(4600), s.ModelState.Peak)
	assert.Equal(t, int64(4600), s.Total.Live)
	assert.Equal(t, int64(600), s.Category[tensor.MemoryOther].Live)
	assert.Equal(t, int64(600), s.Category[tensor.MemoryOptimizerState].Peak)
	l.ResetPeak()
	assert.Equal(t, int64(4000), l.Stats().ModelState.Peak)
	assert.Equal(t, int64(0), l.Stats().Category[tensor.MemoryOptimizerState].Peak)

	// Garbage is uncounted once collected.
	runtime.KeepAlive(m)
	m = nil
	eventuallyLive(t, l, tensor.MemoryOther, 0)
	assert.Equal(t, int64(4000), l.Stats().Total.Live)
	runtime.KeepAlive(w)
	w = nil
	eventuallyLive(t, l, tensor.MemoryParameters, 0)
	assert.Equal(t, int64(0), l.Stats().Total.Live)
	assert.Equal(t, int64(4600), l.Stats().Total.Peak)
}

func TestMemoryLedgerMove(t *testing.T) {
	a, b := tensor.NewMemoryLedger(), tensor.NewMemoryLedger()
	x := tensor.Zeros(tensor.Float64, 64) // 512 bytes
	a.Charge(x, tensor.MemoryGradients)
	b.Charge(x, tensor.MemoryGradients)
	assert.Equal(t, int64(0), a.Stats().Total.Live)
	assert.Equal(t, int64(512), b.Stats().Category[tensor.MemoryGradients].Live)
	(*tensor.MemoryLedger)(nil).Charge(x, tensor.MemoryGradients)
	assert.Equal(t, int64(0), b.Stats().Total.Live)
	assert.Equal(t, int64(512), b.Stats().Total.Peak)
	runtime.KeepAlive(x)
}

func TestMemoryStatsDevice(t *testing.T) {
	x := tensor.Zeros(tensor.Float32, 1<<18) // 1 MiB
	tensor.SetMemoryCategory(x, tensor.MemoryGradients)
	s := tensor.MemoryStats(tensor.CPU)
	g := s.Category[tensor.MemoryGradients]
	assert.GreaterOrEqual(t, g.Live, int64(1<<20))
	assert.GreaterOrEqual(t, g.Peak, g.Live)
	assert.GreaterOrEqual(t, s.ModelState.Live, int64(1<<20))
	tensor.ResetPeakMemoryStats(tensor.CPU)
	s = tensor.MemoryStats(tensor.CPU)
	assert.GreaterOrEqual(t, s.Total.Peak, int64(1<<20))
	assert.Equal(t, "optimizer_state", tensor.MemoryOptimizerState.String())
	runtime.KeepAlive(x)
	require.Panics(t, func() { tensor.SetMemoryCategory(x, tensor.NumMemoryCategories) })
}

func TestMemoryTrackingCountsAllocations(t *testing.T) {
	defer tensor.SetMemoryTracking(tensor.SetMemoryTracking(true))
	before := tensor.MemoryStats(tensor.CPU).AllocatedBytes
	x := tensor.Zeros(tensor.Float32, 1000)
	y := tensor.Add(x, x)
	after := tensor.MemoryStats(tensor.CPU).AllocatedBytes
	assert.GreaterOrEqual(t, after-before, int64(8000))
	assert.Equal(t, tensor.MemoryOther, tensor.MemoryCategoryOf(y))
	tensor.MarkActivation(y)
	assert.Equal(t, tensor.MemoryActivations, tensor.MemoryCategoryOf(y))
	tensor.SetMemoryCategory(x, tensor.MemoryParameters)
	tensor.MarkActivation(x) // a parameter stays one
	assert.Equal(t, tensor.MemoryParameters, tensor.MemoryCategoryOf(x))
	assert.True(t, tensor.MemoryTracking())
}
