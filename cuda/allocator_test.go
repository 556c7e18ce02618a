package cuda

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDevice is a memBackend with a fixed capacity, bump-pointer addresses
// and events whose completion the test controls per stream.
type fakeDevice struct {
	mu        sync.Mutex
	capacity  int64
	used      int64
	next      DevicePtr
	live      map[DevicePtr]int64
	recorded  map[StreamID]int // events recorded per stream
	completed map[StreamID]int // events completed per stream
	mallocs   int
	frees     int
	events    int // outstanding (recorded, not released)
	autoDone  bool
}

type fakeEvent struct {
	s   StreamID
	seq int
}

func newFake(capacity int64) *fakeDevice {
	return &fakeDevice{capacity: capacity, next: 1 << 32, live: map[DevicePtr]int64{},
		recorded: map[StreamID]int{}, completed: map[StreamID]int{}}
}

func (f *fakeDevice) malloc(n int64) (DevicePtr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used+n > f.capacity {
		return 0, &Error{Call: "cuMemAlloc_v2", Code: ErrorOutOfMemory, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	}
	p := f.next
	f.next += DevicePtr(n + 4096) // gaps: segments are never adjacent
	f.used += n
	f.live[p] = n
	f.mallocs++
	return p, nil
}

func (f *fakeDevice) free(p DevicePtr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.live[p]
	if !ok {
		return fmt.Errorf("fake: bad free %#x", uint64(p))
	}
	delete(f.live, p)
	f.used -= n
	f.frees++
	return nil
}

func (f *fakeDevice) recordEvent(s StreamID) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded[s]++
	f.events++
	if f.autoDone {
		f.completed[s] = f.recorded[s]
	}
	return &fakeEvent{s: s, seq: f.recorded[s]}, nil
}

func (f *fakeDevice) eventDone(e any) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := e.(*fakeEvent)
	return f.completed[ev.s] >= ev.seq, nil
}

func (f *fakeDevice) syncEvent(e any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := e.(*fakeEvent)
	if f.completed[ev.s] < ev.seq {
		f.completed[ev.s] = ev.seq
	}
	return nil
}

func (f *fakeDevice) releaseEvent(any) {
	f.mu.Lock()
	f.events--
	f.mu.Unlock()
}

// finish marks all work recorded on s as complete.
func (f *fakeDevice) finish(s StreamID) {
	f.mu.Lock()
	f.completed[s] = f.recorded[s]
	f.mu.Unlock()
}

const (
	sA StreamID = 0xa0
	sB StreamID = 0xb0
)

func TestRoundingAndSegments(t *testing.T) {
	assert.Equal(t, int64(512), RoundSize(1))
	assert.Equal(t, int64(512), RoundSize(512))
	assert.Equal(t, int64(1024), RoundSize(513))
	assert.Equal(t, int64(2<<20), segmentSize(1<<20))
	assert.Equal(t, int64(20<<20), segmentSize(1<<20+512))
	assert.Equal(t, int64(20<<20), segmentSize(10<<20-512))
	assert.Equal(t, int64(12<<20), segmentSize(11<<20))
	assert.Equal(t, int64(12<<20), segmentSize(12<<20))
}

func TestSmallAllocationsShareASegment(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p1, err := a.Malloc(100, sA)
	require.NoError(t, err)
	p2, err := a.Malloc(700, sA)
	require.NoError(t, err)
	assert.Equal(t, p1+512, p2, "second block follows the first in the same 2 MiB segment")
	st := a.Stats()
	assert.Equal(t, int64(512+1024), st.Allocated)
	assert.Equal(t, int64(800), st.Requested)
	assert.Equal(t, int64(2<<20), st.Reserved)
	assert.Equal(t, 1, f.mallocs)
	assert.Equal(t, int64(1), st.CacheMisses)
	assert.Equal(t, int64(1), st.CacheHits)
	assert.Equal(t, int64(512), a.BlockSize(p1))
}

func TestSameStreamReuseIsImmediate(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p, err := a.Malloc(4096, sA)
	require.NoError(t, err)
	require.NoError(t, a.Free(p, sA))
	q, err := a.Malloc(4096, sA)
	require.NoError(t, err)
	assert.Equal(t, p, q, "a block freed on A is reused on A at once")
	assert.Equal(t, 1, f.mallocs)
}

func TestCrossStreamReuseWaitsForEvent(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p, err := a.Malloc(3<<20, sA) // large pool, 20 MiB segment
	require.NoError(t, err)
	require.NoError(t, a.Free(p, sA))

	q, err := a.Malloc(3<<20, sB)
	require.NoError(t, err)
	assert.NotEqual(t, p, q, "stream B must not get A's block before A's event completes")
	assert.Equal(t, 2, f.mallocs)
	require.NoError(t, a.Free(q, sB))

	f.finish(sA)
	r, err := a.Malloc(3<<20, sB)
	require.NoError(t, err)
	assert.Equal(t, p, r, "A's block is reused by B once A's event completed")
	s, err := a.Malloc(3<<20, sB)
	require.NoError(t, err)
	assert.Equal(t, p+3<<20, s, "the rest of A's segment is split off for B")
	assert.Equal(t, 2, f.mallocs, "no new device allocation")
}

func TestSplitAndMergeBackToOneBlock(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	var ps []DevicePtr
	for i := 0; i < 8; i++ {
		p, err := a.Malloc(1000, sA)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	// Free in a scrambled order; the segment must coalesce to one block.
	for _, i := range []int{3, 0, 7, 5, 1, 2, 6, 4} {
		require.NoError(t, a.Free(ps[i], sA))
	}
	require.Len(t, a.small, 1)
	assert.Equal(t, int64(smallSegment), a.small[0].size)
	assert.Equal(t, ps[0], a.small[0].ptr)
	assert.Equal(t, 1, f.events, "merged blocks keep only the newest event")
}

func TestFragmentation(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	// Fill one small segment with 1 KiB blocks, free every other one: 1 MiB
	// is free in total but no hole is larger than 1 KiB.
	n := smallSegment / 1024
	ps := make([]DevicePtr, n)
	for i := range ps {
		p, err := a.Malloc(1024, sA)
		require.NoError(t, err)
		ps[i] = p
	}
	require.Equal(t, 1, f.mallocs)
	for i := 0; i < n; i += 2 {
		require.NoError(t, a.Free(ps[i], sA))
	}
	st := a.Stats()
	assert.Equal(t, int64(smallSegment/2), st.Allocated)
	p, err := a.Malloc(2048, sA)
	require.NoError(t, err)
	assert.Equal(t, 2, f.mallocs, "no 2 KiB hole: a new segment is needed")
	q, err := a.Malloc(1024, sA)
	require.NoError(t, err)
	assert.Equal(t, 2, f.mallocs, "a 1 KiB hole is reused")
	require.NoError(t, a.Free(p, sA))
	require.NoError(t, a.Free(q, sA))
	for i := 1; i < n; i += 2 {
		require.NoError(t, a.Free(ps[i], sA))
	}
	st = a.Stats()
	assert.Zero(t, st.Allocated)
	assert.Equal(t, 2, st.Segments)
	require.NoError(t, a.EmptyCache())
	st = a.Stats()
	assert.Zero(t, st.Reserved)
	assert.Zero(t, st.Segments)
	assert.Zero(t, f.used)
	assert.Zero(t, f.events, "EmptyCache releases every event")
}

func TestLargePoolSplitThreshold(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p, err := a.Malloc(2<<20, sA) // 20 MiB segment, 18 MiB remainder kept apart
	require.NoError(t, err)
	q, err := a.Malloc(17<<20+512*1024, sA) // leaves 0.5 MiB: not split off
	require.NoError(t, err)
	assert.Equal(t, p+(2<<20), q)
	assert.Equal(t, int64(18<<20), a.BlockSize(q))
	assert.Equal(t, 1, f.mallocs)
	big, err := a.Malloc(100<<20, sA)
	require.NoError(t, err)
	assert.Equal(t, int64(100<<20), a.BlockSize(big))
	assert.Equal(t, int64(120<<20), a.Stats().Reserved)
}

func TestPeakStatistics(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p1, _ := a.Malloc(4<<20, sA)
	p2, _ := a.Malloc(4<<20, sA)
	require.NoError(t, a.Free(p1, sA))
	p3, _ := a.Malloc(2<<20, sA) // reuses p1's block, splitting it
	assert.Equal(t, p1, p3)
	st := a.Stats()
	assert.Equal(t, int64(8<<20), st.PeakAllocated)
	assert.Equal(t, int64(6<<20), st.Allocated)
	assert.Equal(t, int64(20<<20), st.PeakReserved)
	assert.Equal(t, int64(3), st.NumAllocs)
	assert.Equal(t, int64(1), st.NumFrees)
	a.ResetPeak()
	assert.Equal(t, int64(6<<20), a.Stats().PeakAllocated)
	require.NoError(t, a.Free(p2, sA))
	require.NoError(t, a.Free(p3, sA))
	assert.Equal(t, int64(6<<20), a.Stats().PeakAllocated)
}

func TestOOMRunsGCHookThenReleasesCacheThenRetries(t *testing.T) {
	f := newFake(40 << 20)
	var a *Allocator
	var held DevicePtr
	gcRuns := 0
	a = NewAllocator(f, AllocatorOptions{GC: func() {
		gcRuns++
		// A cleanup freeing a "garbage" tensor, as runtime.AddCleanup would;
		// it re-enters the allocator, so the hook must run unlocked.
		if held != 0 {
			require.NoError(t, a.Free(held, sA))
			held = 0
		}
	}})
	// Two 20 MiB segments fill the device; one is cached, one is held.
	p, err := a.Malloc(15<<20, sA)
	require.NoError(t, err)
	held, err = a.Malloc(15<<20, sA)
	require.NoError(t, err)
	require.NoError(t, a.Free(p, sA))
	f.finish(sA)

	// A 30 MiB request needs a new 30 MiB segment: OOM -> GC frees `held`
	// -> the cache (two free segments) is released -> the retry succeeds.
	q, err := a.Malloc(30<<20, sB)
	require.NoError(t, err)
	assert.NotZero(t, q)
	assert.Equal(t, 1, gcRuns)
	st := a.Stats()
	assert.Equal(t, int64(1), st.OOMRetries)
	assert.Zero(t, st.OOMs)
	assert.Equal(t, int64(30<<20), st.Reserved)
	assert.Equal(t, int64(2), st.SegmentFrees)
}

func TestOOMGCHookFreesAFittingBlock(t *testing.T) {
	f := newFake(20 << 20)
	var a *Allocator
	var held DevicePtr
	a = NewAllocator(f, AllocatorOptions{GC: func() {
		require.NoError(t, a.Free(held, sA))
	}})
	var err error
	held, err = a.Malloc(15<<20, sA)
	require.NoError(t, err)
	q, err := a.Malloc(15<<20, sA)
	require.NoError(t, err)
	assert.Equal(t, held, q, "the block freed by the GC hook is reused without a device allocation")
	assert.Equal(t, 1, f.mallocs)
	assert.Equal(t, int64(1), a.Stats().CacheHits)
}

func TestOOMErrorAfterRecovery(t *testing.T) {
	f := newFake(30 << 20)
	gcRuns := 0
	a := NewAllocator(f, AllocatorOptions{GC: func() { gcRuns++ }})
	p, err := a.Malloc(15<<20, sA)
	require.NoError(t, err)
	_, err = a.Malloc(15<<20, sA)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrOutOfMemory))
	var oom *OOMError
	require.ErrorAs(t, err, &oom)
	assert.Equal(t, int64(16<<20), oom.Stats.Reserved) // >= 10 MiB: own segment rounded to 2 MiB
	var cerr *Error
	require.ErrorAs(t, err, &cerr, "the device error is kept")
	assert.Equal(t, ErrorOutOfMemory, cerr.Code)
	assert.Equal(t, 1, gcRuns)
	assert.Equal(t, int64(1), a.Stats().OOMs)
	require.NoError(t, a.Free(p, sA))
}

func TestSetGCHook(t *testing.T) {
	f := newFake(1 << 20)
	a := NewAllocator(f, AllocatorOptions{})
	runs := 0
	a.SetGCHook(func() { runs++ })
	_, err := a.Malloc(2<<20, sA)
	require.ErrorIs(t, err, ErrOutOfMemory)
	assert.Equal(t, 1, runs)
	a.SetGCHook(nil)
	_, err = a.Malloc(2<<20, sA)
	require.ErrorIs(t, err, ErrOutOfMemory)
	assert.Equal(t, 1, runs)
}

func TestNonOOMErrorIsNotRetried(t *testing.T) {
	be := &failingBackend{fakeDevice: newFake(1 << 30)}
	gcRuns := 0
	a := NewAllocator(be, AllocatorOptions{GC: func() { gcRuns++ }})
	_, err := a.Malloc(10, sA)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrOutOfMemory))
	assert.Zero(t, gcRuns)
}

type failingBackend struct{ *fakeDevice }

func (failingBackend) malloc(int64) (DevicePtr, error) {
	return 0, &Error{Call: "cuMemAlloc_v2", Code: ErrorIllegalAddress, Name: "CUDA_ERROR_ILLEGAL_ADDRESS"}
}

func TestFreeErrors(t *testing.T) {
	a := NewAllocator(newFake(1<<30), AllocatorOptions{})
	assert.NoError(t, a.Free(0, sA))
	assert.Error(t, a.Free(12345, sA))
	p, err := a.Malloc(0, sA)
	require.NoError(t, err)
	assert.Zero(t, p)
	_, err = a.Malloc(-1, sA)
	assert.Error(t, err)
	q, err := a.Malloc(1, sA)
	require.NoError(t, err)
	require.NoError(t, a.Free(q, sA))
	assert.Error(t, a.Free(q, sA), "double free is reported")
}

func TestConcurrentUse(t *testing.T) {
	f := newFake(1 << 34)
	f.autoDone = true
	a := NewAllocator(f, AllocatorOptions{GC: func() {}})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			s := StreamID(g%3 + 1)
			var mine []DevicePtr
			for i := 0; i < 400; i++ {
				if len(mine) > 0 && rng.Intn(2) == 0 {
					k := rng.Intn(len(mine))
					assert.NoError(t, a.Free(mine[k], s))
					mine = append(mine[:k], mine[k+1:]...)
					continue
				}
				n := int64(rng.Intn(3<<20) + 1)
				p, err := a.Malloc(n, s)
				if assert.NoError(t, err) {
					mine = append(mine, p)
				}
			}
			for _, p := range mine {
				assert.NoError(t, a.Free(p, s))
			}
		}(g)
	}
	wg.Wait()
	st := a.Stats()
	assert.Zero(t, st.Allocated)
	assert.Zero(t, st.Requested)
	assert.Equal(t, st.NumAllocs, st.NumFrees)
	require.NoError(t, a.EmptyCache())
	assert.Zero(t, a.Stats().Reserved)
	assert.Zero(t, f.used)
}

// TestNoOverlap checks that live blocks never overlap, under random
// traffic on two streams with events completing at random times.
func TestNoOverlap(t *testing.T) {
	f := newFake(1 << 34)
	a := NewAllocator(f, AllocatorOptions{})
	rng := rand.New(rand.NewSource(1))
	type live struct {
		p    DevicePtr
		size int64
		s    StreamID
	}
	var ls []live
	for i := 0; i < 3000; i++ {
		s := []StreamID{sA, sB}[rng.Intn(2)]
		switch {
		case rng.Intn(10) == 0:
			f.finish(s)
		case len(ls) > 0 && rng.Intn(2) == 0:
			k := rng.Intn(len(ls))
			require.NoError(t, a.Free(ls[k].p, ls[k].s))
			ls = append(ls[:k], ls[k+1:]...)
		default:
			n := int64(rng.Intn(1<<20) + 1)
			if rng.Intn(8) == 0 {
				n = int64(rng.Intn(30<<20) + 1)
			}
			p, err := a.Malloc(n, s)
			require.NoError(t, err)
			for _, l := range ls {
				require.False(t, p < l.p+DevicePtr(l.size) && l.p < p+DevicePtr(n), "overlap")
			}
			ls = append(ls, live{p, n, s})
		}
	}
}

func TestEmptyCacheReleasesSegmentsWithUnmergedBlocks(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p, err := a.Malloc(1000, sA)
	require.NoError(t, err)
	q, err := a.Malloc(1000, sB)
	require.NoError(t, err)
	require.Equal(t, p+1024, q, "same small segment")
	require.NoError(t, a.Free(p, sA))
	require.NoError(t, a.Free(q, sB)) // A's event pending: no merge across streams
	assert.Len(t, a.small, 2, "p alone; q merged with the untouched rest")
	require.NoError(t, a.EmptyCache())
	assert.Zero(t, a.Stats().Reserved)
	assert.Zero(t, f.used)
	assert.Zero(t, f.events)
}

func TestCrossStreamMergeAfterEventCompletes(t *testing.T) {
	f := newFake(1 << 30)
	a := NewAllocator(f, AllocatorOptions{})
	p, _ := a.Malloc(1000, sA)
	q, _ := a.Malloc(1000, sB)
	require.NoError(t, a.Free(p, sA))
	f.finish(sA)
	require.NoError(t, a.Free(q, sB))
	require.Len(t, a.small, 1, "A's completed block merges with B's")
	assert.Equal(t, int64(smallSegment), a.small[0].size)
}
