package tensor

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The limit counts what the process already holds: with the limit 80 MiB
// above current use (a live 96 MiB tensor included), another 96 MiB does
// not fit, and it fits again once the first tensor is garbage (the check
// collects before it fails).
func TestHostMemoryLimitCountsLiveMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 200 MiB")
	}
	const mib = 1 << 20
	prev := SetHostMemoryLimit(0)
	defer SetHostMemoryLimit(prev)
	a := Zeros(Float32, 24*mib) // 96 MiB
	// Earlier tests' garbage and recycled buffers must not count (a dead
	// recycled buffer comes back through its finalizer after one cycle).
	for range 3 {
		dropRecycled()
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	dropRecycled()
	runtime.GC()
	SetHostMemoryLimit(HostMemoryInUse() + 80*mib)
	err := Try(func() { Zeros(Float32, 24*mib) })
	require.ErrorIs(t, err, ErrOutOfMemory)
	assert.Contains(t, err.Error(), "100663296 bytes asked")
	require.Equal(t, float64(0), a.At(0)) // a is live until here
	a = nil
	require.NoError(t, Try(func() { Zeros(Float32, 24*mib) }), "a is garbage now")
}
