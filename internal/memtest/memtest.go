// Package memtest measures the memory that a piece of code allocates, for
// tests that guard a reader's or a parser's memory use with a deterministic
// figure (bytes allocated) rather than a timing or the process's RSS.
package memtest

import (
	"runtime"
	"time"
)

// Allocated runs f and returns the bytes it allocated on the Go heap
// (the growth of runtime.MemStats.TotalAlloc). The figure counts every
// allocation, freed or not, so it bounds f's peak heap from above. Other
// goroutines' allocations during f are counted too: call it from a test
// that runs nothing else in parallel.
func Allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Settled collects garbage until read returns the same value three times
// in a row and returns that value (or the last one after about a second).
// Tensor buffers leave the device's memory statistics in cleanups that
// run on their own goroutine after a collection (later under -race), so a
// count read right after runtime.GC can still hold earlier garbage.
func Settled(read func() int64) int64 {
	prev, same := read(), 0
	for range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		cur := read()
		if cur != prev {
			prev, same = cur, 0
			continue
		}
		if same++; same == 3 {
			break
		}
	}
	return prev
}
