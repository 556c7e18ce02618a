package tensor

import (
	"runtime"
	"sync/atomic"

	"github.com/tessera-ml/tessera/kernels/cpu"
)

// threadCap bounds the goroutines of one CPU op; 0 means GOMAXPROCS.
var threadCap atomic.Int64

// SetThreads bounds the number of goroutines one CPU op uses (elementwise
// loops, reductions, convolutions, sorting and the GEMM kernels) and
// returns the previous bound; n < 1 restores the default, GOMAXPROCS.
//
// It is the thread budget of data-parallel ranks that share a machine: N
// ranks in one process (collectives/local) each run their ops on their own
// goroutine, so a bound of GOMAXPROCS/N gives every rank its share of the
// cores instead of N·GOMAXPROCS goroutines competing for them (the
// in-process counterpart of one thread per process under mpirun).
func SetThreads(n int) int {
	prev := Threads()
	if n < 1 {
		threadCap.Store(0)
		cpu.SetMaxThreads(runtime.GOMAXPROCS(0))
		return prev
	}
	threadCap.Store(int64(n))
	cpu.SetMaxThreads(n)
	return prev
}

// Threads returns the current bound of SetThreads (GOMAXPROCS by default,
// and never more than it).
func Threads() int {
	p := runtime.GOMAXPROCS(0)
	if c := int(threadCap.Load()); c > 0 && c < p {
		return c
	}
	return p
}
