// Package memtest measures the memory that a piece of code allocates, for
// tests that guard a reader's or a parser's memory use with a deterministic
// figure (bytes allocated) rather than a timing or the process's RSS.
package memtest

import "runtime"

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
