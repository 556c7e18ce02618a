package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MemoryCategory says what a device buffer holds, for the memory
// statistics (MemoryStats): the model states of the ZeRO paper
// (parameters, gradients, optimizer state), the activations a backward pass
// keeps, and everything else (temporary and communication buffers, inputs).
type MemoryCategory uint8

// The categories. A buffer is in MemoryOther until something says
// otherwise: nn.Base.RegisterParam marks parameters, autograd marks the
// gradients it stores in leaves and (while SetMemoryTracking is on) the
// outputs of recorded ops as activations, optim marks its state buffers.
const (
	MemoryOther MemoryCategory = iota
	MemoryParameters
	MemoryGradients
	MemoryOptimizerState
	MemoryActivations
	NumMemoryCategories
)

func (c MemoryCategory) String() string {
	switch c {
	case MemoryOther:
		return "other"
	case MemoryParameters:
		return "parameters"
	case MemoryGradients:
		return "gradients"
	case MemoryOptimizerState:
		return "optimizer_state"
	case MemoryActivations:
		return "activations"
	}
	return "MemoryCategory(?)"
}

// modelState reports whether c is one of the model states (parameters,
// gradients, optimizer state).
func (c MemoryCategory) modelState() bool {
	return c == MemoryParameters || c == MemoryGradients || c == MemoryOptimizerState
}

// MemoryUse is a live byte count and its peak since the last reset.
type MemoryUse struct {
	Live, Peak int64
}

// MemoryStatistics are a device's (or a MemoryLedger's) counted buffers,
// like the CUDA caching allocator's statistics. Peaks are of each sum:
// ModelState.Peak is the most bytes parameters, gradients and optimizer
// state held together, which can be less than the sum of their own peaks.
type MemoryStatistics struct {
	Category   [NumMemoryCategories]MemoryUse // indexed by MemoryCategory
	ModelState MemoryUse                      // parameters + gradients + optimizer state
	Total      MemoryUse                      // every counted buffer
	// Allocs and AllocatedBytes count the buffers that began to be counted
	// (tracked allocations and first categorizations) since the start.
	Allocs, AllocatedBytes int64
	// Cached is the bytes the device holds for reuse, not in any tensor
	// (the CPU device's recycled convolution buffers and the small tensors
	// cached by Pools, e.g. autograd's backward temporaries).
	Cached int64
}

// MemoryReporter is implemented by devices that keep memory statistics.
type MemoryReporter interface {
	MemoryStats() MemoryStatistics
	ResetPeakMemoryStats()
}

// MemoryStats returns dev's memory statistics; the zero value for a device
// that keeps none.
//
// On the CPU device a buffer is counted from its categorization
// (SetMemoryCategory, MemoryLedger.Charge; nn, autograd and optim categorize
// parameters, gradients and optimizer state) or, while SetMemoryTracking is
// on, from its allocation, until its storage is garbage: Go frees memory at
// garbage collection, so a dead buffer stays live here until the collector
// has run (runtime.GC makes the count exact). The byte count of a buffer is
// its elements times the dtype size.
func MemoryStats(dev Device) MemoryStatistics {
	if r, ok := dev.(MemoryReporter); ok {
		return r.MemoryStats()
	}
	return MemoryStatistics{}
}

// ResetPeakMemoryStats sets every peak of dev's statistics to its live value.
func ResetPeakMemoryStats(dev Device) {
	if r, ok := dev.(MemoryReporter); ok {
		r.ResetPeakMemoryStats()
	}
}

func (cpuDevice) MemoryStats() MemoryStatistics {
	s := cpuMem.stats()
	recycler.Lock()
	s.Cached = int64(recycler.bytes)
	recycler.Unlock()
	s.Cached += poolCached.Load()
	return s
}

func (cpuDevice) ResetPeakMemoryStats() { cpuMem.resetPeak() }

// memCounters are the atomic counters behind MemoryStatistics.
type memCounters struct {
	cat                [NumMemoryCategories]memUse
	model, total       memUse
	allocs, allocBytes atomic.Int64
}

type memUse struct{ live, peak atomic.Int64 }

func (u *memUse) add(n int64) {
	v := u.live.Add(n)
	for {
		p := u.peak.Load()
		if v <= p || u.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

func (u *memUse) get() MemoryUse { return MemoryUse{u.live.Load(), u.peak.Load()} }
func (u *memUse) reset()         { u.peak.Store(u.live.Load()) }

// charge counts n new bytes (negative: freed) in category c.
func (m *memCounters) charge(c MemoryCategory, n int64) {
	m.cat[c].add(n)
	if c.modelState() {
		m.model.add(n)
	}
	m.total.add(n)
	if n > 0 {
		m.allocs.Add(1)
		m.allocBytes.Add(n)
	}
}

// move moves n bytes from category from to category to.
func (m *memCounters) move(from, to MemoryCategory, n int64) {
	m.cat[to].add(n)
	m.cat[from].add(-n)
	switch {
	case to.modelState() && !from.modelState():
		m.model.add(n)
	case from.modelState() && !to.modelState():
		m.model.add(-n)
	}
}

func (m *memCounters) stats() MemoryStatistics {
	var s MemoryStatistics
	for i := range m.cat {
		s.Category[i] = m.cat[i].get()
	}
	s.ModelState, s.Total = m.model.get(), m.total.get()
	s.Allocs, s.AllocatedBytes = m.allocs.Load(), m.allocBytes.Load()
	return s
}

func (m *memCounters) resetPeak() {
	for i := range m.cat {
		m.cat[i].reset()
	}
	m.model.reset()
	m.total.reset()
}

// cpuMem counts the CPU device's buffers.
var cpuMem memCounters

// MemoryLedger counts a subset of a device's buffers: those charged to it
// with Charge (and, through ChargeMemoryLike, the gradients and optimizer
// state of its parameters). The ranks of an in-process data-parallel job
// share the CPU device; each keeps a ledger to report its own bytes.
type MemoryLedger struct {
	c memCounters
}

// NewMemoryLedger returns an empty ledger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{} }

// Stats returns the ledger's counts (Cached is zero).
func (l *MemoryLedger) Stats() MemoryStatistics { return l.c.stats() }

// ResetPeak sets the ledger's peaks to the live values.
func (l *MemoryLedger) ResetPeak() { l.c.resetPeak() }

// Charge puts t's buffer in category c and counts it in l (nil l: in no
// ledger), as well as in the device's statistics.
func (l *MemoryLedger) Charge(t *Tensor, c MemoryCategory) { setMemory(t, c, l, true) }

// SetMemoryCategory puts t's buffer (the whole storage t views) in category
// c, keeping its ledger. Only CPU buffers are counted; on other devices it
// does nothing.
func SetMemoryCategory(t *Tensor, c MemoryCategory) { setMemory(t, c, nil, false) }

// ChargeMemoryLike puts t's buffer in category c and in the ledger of
// like's buffer (e.g. a parameter's optimizer state in the parameter's
// ledger).
func ChargeMemoryLike(t *Tensor, c MemoryCategory, like *Tensor) {
	var l *MemoryLedger
	if like != nil {
		if s, ok := like.st.(*cpuStorage); ok {
			memMu.Lock()
			if s.acct != nil {
				l = s.acct.ledger
			}
			memMu.Unlock()
		}
	}
	setMemory(t, c, l, true)
}

// MemoryCategoryOf returns the category of t's buffer.
func MemoryCategoryOf(t *Tensor) MemoryCategory {
	s, ok := t.st.(*cpuStorage)
	if !ok {
		return MemoryOther
	}
	memMu.Lock()
	defer memMu.Unlock()
	if s.acct == nil {
		return MemoryOther
	}
	return s.acct.cat
}

// memTrack is set while every CPU allocation is counted.
var memTrack atomic.Bool

// SetMemoryTracking turns the counting of every CPU allocation on or off
// and returns the previous setting. Off (the default), only categorized
// buffers are counted and an allocation pays one atomic load; on, every
// new buffer is counted (in MemoryOther until categorized) at the cost of
// a cleanup per buffer (about a microsecond), and autograd marks the
// outputs of recorded ops as activations.
func SetMemoryTracking(on bool) bool { return memTrack.Swap(on) }

// MemoryTracking reports whether SetMemoryTracking is on.
func MemoryTracking() bool { return memTrack.Load() }

// memAcct is the accounting of one counted CPU storage. memMu guards cat
// and ledger (changes are rare: categorizations).
type memAcct struct {
	bytes  int64
	cat    MemoryCategory
	ledger *MemoryLedger
}

var memMu sync.Mutex

// release uncounts a storage that became garbage (a cleanup).
func (a *memAcct) release() {
	memMu.Lock()
	cat, l := a.cat, a.ledger
	memMu.Unlock()
	cpuMem.charge(cat, -a.bytes)
	if l != nil {
		l.c.charge(cat, -a.bytes)
	}
}

func (s *cpuStorage) bytes() int64 { return int64(s.Len()) * int64(s.dt.Size()) }

// noteAlloc counts a new CPU buffer while SetMemoryTracking is on. Every
// place that makes a cpuStorage around a newly allocated buffer calls it.
func (s *cpuStorage) noteAlloc() {
	if memTrack.Load() {
		s.track()
	}
}

func (s *cpuStorage) track() {
	n := s.bytes()
	if n == 0 {
		return
	}
	a := &memAcct{bytes: n}
	s.acct = a
	cpuMem.charge(MemoryOther, n)
	runtime.AddCleanup(s, (*memAcct).release, a)
}

// setMemory sets the category of t's storage and, when setLedger, its
// ledger.
func setMemory(t *Tensor, c MemoryCategory, l *MemoryLedger, setLedger bool) {
	if c >= NumMemoryCategories {
		panic(Errorf("tensor.SetMemoryCategory", "unknown category %d", c))
	}
	s, ok := t.st.(*cpuStorage)
	if !ok {
		return
	}
	memMu.Lock()
	defer memMu.Unlock()
	a := s.acct
	if a == nil {
		n := s.bytes()
		if n == 0 {
			return
		}
		a = &memAcct{bytes: n, cat: c}
		if setLedger {
			a.ledger = l
		}
		s.acct = a
		cpuMem.charge(c, n)
		if a.ledger != nil {
			a.ledger.c.charge(c, n)
		}
		runtime.AddCleanup(s, (*memAcct).release, a)
		return
	}
	old, oldL := a.cat, a.ledger
	if !setLedger {
		l = oldL
	}
	if old == c && oldL == l {
		return
	}
	a.cat, a.ledger = c, l
	cpuMem.move(old, c, a.bytes)
	if oldL == l {
		if l != nil {
			l.c.move(old, c, a.bytes)
		}
		return
	}
	if l != nil {
		l.c.charge(c, a.bytes)
	}
	if oldL != nil {
		oldL.c.charge(old, -a.bytes)
	}
}

// MarkActivation puts t's buffer in MemoryActivations when it is counted
// and in MemoryOther (a view of a parameter stays a parameter). Autograd
// calls it for the outputs of recorded ops; without SetMemoryTracking it
// does nothing for uncounted buffers, so it costs an atomic load.
func MarkActivation(t *Tensor) {
	s, ok := t.st.(*cpuStorage)
	if !ok || !memTrack.Load() {
		return
	}
	memMu.Lock()
	defer memMu.Unlock()
	if a := s.acct; a != nil && a.cat == MemoryOther {
		a.cat = MemoryActivations
		cpuMem.move(MemoryOther, MemoryActivations, a.bytes)
		if a.ledger != nil {
			a.ledger.c.move(MemoryOther, MemoryActivations, a.bytes)
		}
	}
}
