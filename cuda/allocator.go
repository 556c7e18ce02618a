package cuda

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// StreamID identifies a stream to the allocator (the CUstream value; 0 is
// the legacy default stream).
type StreamID uintptr

// memBackend is what the caching allocator needs from a device. The real
// one (deviceBackend) calls cuMemAlloc_v2/cuMemFree_v2 and CUDA events; the
// tests use a fake device.
type memBackend interface {
	// malloc returns size bytes of device memory; on exhaustion its error
	// satisfies errors.Is(err, ErrOutOfMemory).
	malloc(size int64) (DevicePtr, error)
	free(p DevicePtr) error
	// recordEvent records an event on stream s, marking "all work queued
	// on s so far".
	recordEvent(s StreamID) (any, error)
	// eventDone reports whether the event has completed (non-blocking).
	eventDone(e any) (bool, error)
	// syncEvent blocks until the event has completed.
	syncEvent(e any) error
	// releaseEvent returns the event for reuse.
	releaseEvent(e any)
}

// Size classes, as in PyTorch's CUDACachingAllocator.
const (
	minBlockSize  = 512      // every request is rounded up to a multiple of 512 B
	smallSize     = 1 << 20  // requests <= 1 MiB come from the small pool
	smallSegment  = 2 << 20  // small-pool segments are 2 MiB
	largeSegment  = 20 << 20 // requests < 10 MiB get a 20 MiB segment
	minLargeAlloc = 10 << 20 // requests >= 10 MiB get their own segment ...
	roundLarge    = 2 << 20  // ... rounded up to 2 MiB
)

// AllocatorOptions configure an Allocator.
type AllocatorOptions struct {
	// GC is run (without the allocator's lock held) when the device is out
	// of memory, before cached blocks are released and the allocation is
	// retried. It should make unreachable tensors release their memory,
	// e.g. runtime.GC plus a wait for runtime.AddCleanup functions
	// (DefaultGCHook). Nil: no hook.
	GC func()
}

// AllocatorStats are the allocator's counters. Byte counts are of rounded
// block sizes unless named Requested.
type AllocatorStats struct {
	Allocated     int64 // bytes in blocks handed out and not freed
	Requested     int64 // bytes requested by callers for those blocks
	Reserved      int64 // bytes in segments obtained from the device
	PeakAllocated int64
	PeakReserved  int64
	Segments      int   // segments currently reserved
	NumAllocs     int64 // successful Malloc calls (size > 0)
	NumFrees      int64 // Free calls (non-zero pointers)
	CacheHits     int64 // allocations served from cached free blocks
	CacheMisses   int64 // allocations that needed a new segment
	SegmentAllocs int64 // device allocations made
	SegmentFrees  int64 // device frees made
	OOMRetries    int64 // times the GC hook + cache release ran after an OOM
	OOMs          int64 // allocations that failed with out-of-memory
}

type block struct {
	ptr        DevicePtr
	size       int64
	requested  int64
	seg        *segment
	prev, next *block // address-order neighbours within the segment
	allocated  bool
	stream     StreamID // allocated on (while allocated) / freed on (while free)
	event      any      // recorded on stream at free time; nil once completed
}

type segment struct {
	ptr   DevicePtr
	size  int64
	small bool
	head  *block
}

// Allocator is a caching device-memory allocator with PyTorch's design:
// requests are rounded to 512 B; small ones (<= 1 MiB) are carved from
// 2 MiB segments, large ones from 20 MiB segments or their own segment
// rounded to 2 MiB. Freed blocks are cached, split and merged with free
// neighbours, and reused in a stream-ordered way: a block freed on stream S
// is reused by allocations on S at once (stream order makes that safe) and
// by other streams only after an event recorded on S at the time of the
// free has completed. On out-of-memory it runs the GC hook, releases
// cached segments and retries before failing with ErrOutOfMemory.
// Safe for concurrent use.
type Allocator struct {
	be   memBackend
	opts AllocatorOptions

	mu       sync.Mutex
	small    []*block // free blocks, sorted by (size, ptr)
	large    []*block
	live     map[DevicePtr]*block
	segments map[*segment]bool
	st       AllocatorStats
}

// NewAllocator returns an allocator over be.
func NewAllocator(be memBackend, opts AllocatorOptions) *Allocator {
	return &Allocator{be: be, opts: opts, live: map[DevicePtr]*block{}, segments: map[*segment]bool{}}
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// RoundSize is the block size a request of n bytes occupies.
func RoundSize(n int64) int64 {
	if n < minBlockSize {
		return minBlockSize
	}
	return roundUp(n, minBlockSize)
}

// segmentSize is the device allocation made for a block of rounded size n.
func segmentSize(n int64) int64 {
	switch {
	case n <= smallSize:
		return smallSegment
	case n < minLargeAlloc:
		return largeSegment
	}
	return roundUp(n, roundLarge)
}

func (a *Allocator) poolFor(small bool) *[]*block {
	if small {
		return &a.small
	}
	return &a.large
}

func less(x, y *block) bool {
	if x.size != y.size {
		return x.size < y.size
	}
	return x.ptr < y.ptr
}

func (a *Allocator) insertFree(b *block) {
	p := a.poolFor(b.seg.small)
	i := sort.Search(len(*p), func(i int) bool { return !less((*p)[i], b) })
	*p = append(*p, nil)
	copy((*p)[i+1:], (*p)[i:])
	(*p)[i] = b
}

func (a *Allocator) removeFree(b *block) {
	p := a.poolFor(b.seg.small)
	i := sort.Search(len(*p), func(i int) bool { return !less((*p)[i], b) })
	if i < len(*p) && (*p)[i] == b {
		*p = append((*p)[:i], (*p)[i+1:]...)
		return
	}
	panic("cuda: allocator free list corrupted")
}

// findFree returns the smallest cached block of at least size usable on
// stream s, removed from its free list, or nil.
func (a *Allocator) findFree(size int64, s StreamID) (*block, error) {
	p := a.poolFor(size <= smallSize)
	i := sort.Search(len(*p), func(i int) bool { return (*p)[i].size >= size })
	for ; i < len(*p); i++ {
		b := (*p)[i]
		if b.event != nil {
			done, err := a.be.eventDone(b.event)
			if err != nil {
				return nil, err
			}
			if done {
				a.be.releaseEvent(b.event)
				b.event = nil
			} else if b.stream != s {
				continue // still in use by work on another stream
			}
		}
		a.removeFree(b)
		return b, nil
	}
	return nil, nil
}

// Malloc returns a block of at least size bytes for use on stream s.
// Malloc(0) returns 0 and no error.
func (a *Allocator) Malloc(size int64, s StreamID) (DevicePtr, error) {
	if size < 0 {
		return 0, fmt.Errorf("cuda: Malloc of negative size %d", size)
	}
	if size == 0 {
		return 0, nil
	}
	rs := RoundSize(size)
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := a.findFree(rs, s)
	if err != nil {
		return 0, err
	}
	if b != nil {
		a.st.CacheHits++
	} else {
		b, err = a.newSegment(rs, s)
		if err != nil {
			return 0, err
		}
		if b == nil { // the retry found a cached block
			a.st.CacheHits++
			b, err = a.findFree(rs, s)
			if err != nil || b == nil {
				return 0, fmt.Errorf("cuda: allocator lost a block it found: %v", err)
			}
		} else {
			a.st.CacheMisses++
		}
	}
	a.split(b, rs)
	if b.event != nil { // same-stream reuse of a block whose event is pending
		a.be.releaseEvent(b.event)
		b.event = nil
	}
	b.allocated = true
	b.requested = size
	b.stream = s
	a.live[b.ptr] = b
	a.st.NumAllocs++
	a.st.Allocated += b.size
	a.st.Requested += size
	if a.st.Allocated > a.st.PeakAllocated {
		a.st.PeakAllocated = a.st.Allocated
	}
	return b.ptr, nil
}

// newSegment allocates a segment for a block of rounded size rs and returns
// its (whole) free block, not on a free list. On out-of-memory it runs the
// recovery sequence; it returns (nil, nil) if, after the GC hook, a cached
// block fits after all. Called with a.mu held; may release it temporarily.
func (a *Allocator) newSegment(rs int64, s StreamID) (*block, error) {
	ss := segmentSize(rs)
	p, err := a.be.malloc(ss)
	if err != nil && errors.Is(err, ErrOutOfMemory) {
		a.st.OOMRetries++
		if gc := a.opts.GC; gc != nil {
			a.mu.Unlock()
			gc()
			a.mu.Lock()
			if b, ferr := a.findFree(rs, s); ferr == nil && b != nil {
				a.insertFree(b)
				return nil, nil
			}
		}
		if rerr := a.releaseCached(); rerr != nil {
			return nil, rerr
		}
		p, err = a.be.malloc(ss)
		if err != nil && errors.Is(err, ErrOutOfMemory) {
			a.st.OOMs++
			return nil, &OOMError{Requested: rs, Segment: ss, Stats: a.st, Err: err}
		}
	}
	if err != nil {
		return nil, err
	}
	seg := &segment{ptr: p, size: ss, small: rs <= smallSize}
	b := &block{ptr: p, size: ss, seg: seg, stream: s}
	seg.head = b
	a.segments[seg] = true
	a.st.SegmentAllocs++
	a.st.Segments++
	a.st.Reserved += ss
	if a.st.Reserved > a.st.PeakReserved {
		a.st.PeakReserved = a.st.Reserved
	}
	return b, nil
}

// split cuts b down to size rs, putting the remainder on the free list when
// it is worth keeping apart (>= 512 B in the small pool, > 1 MiB in the
// large pool, as PyTorch does).
func (a *Allocator) split(b *block, rs int64) {
	rem := b.size - rs
	if b.seg.small && rem < minBlockSize || !b.seg.small && rem <= smallSize {
		return
	}
	r := &block{ptr: b.ptr.Add(rs), size: rem, seg: b.seg, prev: b, next: b.next, stream: b.stream, event: b.event}
	b.event = nil // the remainder keeps the pending event, if any
	if b.next != nil {
		b.next.prev = r
	}
	b.next = r
	b.size = rs
	a.insertFree(r)
}

// Free returns p to the cache. s is the stream of the block's last use:
// work queued later on s may reuse it at once; other streams wait for an
// event recorded now on s. Free(0) is a no-op.
func (a *Allocator) Free(p DevicePtr, s StreamID) error {
	if p == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.live[p]
	if b == nil {
		return fmt.Errorf("cuda: Free of %#x, which this allocator did not allocate (or already freed)", uint64(p))
	}
	ev, err := a.be.recordEvent(s)
	if err != nil {
		return err
	}
	delete(a.live, p)
	a.st.NumFrees++
	a.st.Allocated -= b.size
	a.st.Requested -= b.requested
	b.allocated, b.requested, b.stream, b.event = false, 0, s, ev
	for _, n := range []*block{b.prev, b.next} {
		if n == nil || n.allocated {
			continue
		}
		if n.stream != s && n.event != nil {
			// A free neighbour from another stream merges once its event has
			// completed (then nothing is pending on it).
			if done, err := a.be.eventDone(n.event); err != nil || !done {
				continue
			}
			a.be.releaseEvent(n.event)
			n.event = nil
		}
		a.merge(b, n)
	}
	a.insertFree(b)
	return nil
}

// merge absorbs the free neighbour n into b (b keeps its newer event).
func (a *Allocator) merge(b, n *block) {
	a.removeFree(n)
	if n.event != nil {
		a.be.releaseEvent(n.event)
	}
	if n == b.prev {
		b.ptr = n.ptr
		b.prev = n.prev
		if n.prev != nil {
			n.prev.next = b
		} else {
			b.seg.head = b
		}
	} else {
		b.next = n.next
		if n.next != nil {
			n.next.prev = b
		}
	}
	b.size += n.size
}

// releaseCached frees every segment that holds no live block, waiting for
// the events of its free blocks. Called with a.mu held.
func (a *Allocator) releaseCached() error {
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for seg := range a.segments {
		free := true
		for b := seg.head; b != nil; b = b.next {
			if b.allocated {
				free = false
				break
			}
		}
		if !free {
			continue
		}
		synced := true
		for b := seg.head; b != nil; b = b.next {
			if b.event != nil {
				if err := a.be.syncEvent(b.event); err != nil {
					keep(err)
					synced = false
					break
				}
				a.be.releaseEvent(b.event)
				b.event = nil
			}
		}
		if !synced {
			continue
		}
		if err := a.be.free(seg.ptr); err != nil {
			keep(err)
			continue
		}
		for b := seg.head; b != nil; b = b.next {
			a.removeFree(b)
		}
		delete(a.segments, seg)
		a.st.Segments--
		a.st.SegmentFrees++
		a.st.Reserved -= seg.size
	}
	return first
}

// EmptyCache releases every cached segment that holds no live block.
func (a *Allocator) EmptyCache() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseCached()
}

// SetGCHook replaces the out-of-memory hook (see AllocatorOptions.GC); nil
// disables it. A Device's allocator starts with DefaultGCHook.
func (a *Allocator) SetGCHook(gc func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.GC = gc
}

// Stats returns a snapshot of the counters.
func (a *Allocator) Stats() AllocatorStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

// ResetPeak sets the peak counters to the current values.
func (a *Allocator) ResetPeak() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.PeakAllocated, a.st.PeakReserved = a.st.Allocated, a.st.Reserved
}

// BlockSize returns the rounded size of live block p (0 if unknown).
func (a *Allocator) BlockSize(p DevicePtr) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b := a.live[p]; b != nil {
		return b.size
	}
	return 0
}

// OOMError is returned when an allocation fails after the GC hook ran and
// the cache was released. errors.Is(err, ErrOutOfMemory) holds.
type OOMError struct {
	Requested int64 // rounded block size
	Segment   int64 // device allocation that failed
	Stats     AllocatorStats
	Err       error // the device's error
}

func (e *OOMError) Error() string {
	return fmt.Sprintf("cuda: out of memory allocating %d bytes (segment %d) with %d bytes allocated and %d reserved after GC and cache release: %v",
		e.Requested, e.Segment, e.Stats.Allocated, e.Stats.Reserved, e.Err)
}

// Unwrap exposes the device error and ErrOutOfMemory.
func (e *OOMError) Unwrap() []error { return []error{ErrOutOfMemory, e.Err} }

// deviceBackend is the allocator's view of a real device.
type deviceBackend struct {
	d      *Device
	mu     sync.Mutex
	events []handle // pool of disable-timing events
}

func (b *deviceBackend) malloc(size int64) (DevicePtr, error) { return b.d.MallocRaw(size) }
func (b *deviceBackend) free(p DevicePtr) error               { return b.d.FreeRaw(p) }

func (b *deviceBackend) recordEvent(s StreamID) (any, error) {
	d := b.d
	b.mu.Lock()
	var e handle
	if n := len(b.events); n > 0 {
		e = b.events[n-1]
		b.events = b.events[:n-1]
	}
	b.mu.Unlock()
	if e == nil {
		var r Result
		if e, r = d.api.eventCreate(d.ctx, eventDisableTiming); r != Success {
			return nil, newError(d.api, "cuEventCreate", r)
		}
	}
	sh, ok := d.streamHandle(s)
	if !ok {
		b.releaseEvent(e)
		return nil, fmt.Errorf("cuda: Free on stream %#x, which is not a live stream of device %d", uintptr(s), d.ord)
	}
	if r := d.api.eventRecord(d.ctx, e, sh); r != Success {
		d.api.eventDestroy(d.ctx, e)
		return nil, newError(d.api, "cuEventRecord", r)
	}
	return e, nil
}

func (b *deviceBackend) eventDone(e any) (bool, error) {
	r := b.d.api.eventQuery(b.d.ctx, e.(handle))
	if r == ErrorNotReady {
		return false, nil
	}
	return r == Success, newError(b.d.api, "cuEventQuery", r)
}

func (b *deviceBackend) syncEvent(e any) error {
	return newError(b.d.api, "cuEventSynchronize", b.d.api.eventSynchronize(b.d.ctx, e.(handle)))
}

func (b *deviceBackend) releaseEvent(e any) {
	b.mu.Lock()
	b.events = append(b.events, e.(handle))
	b.mu.Unlock()
}

// streamHandle maps an allocator StreamID back to the CUstream.
func (d *Device) streamHandle(id StreamID) (handle, bool) {
	if id == 0 {
		return nil, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.streams[id]
	if s == nil {
		return nil, false
	}
	return s.h, true
}
