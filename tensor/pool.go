package tensor

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Pool caches small contiguous CPU tensors for a caller that knows when a
// buffer is dead: autograd's backward temporaries (a gradient that one
// rule produced and the next consumed), in the spirit of PyTorch's caching
// allocator. Get returns a tensor (with its storage, in one object) from
// the cache, dirty, or a new one; Put gives one back for the next Get of
// the same dtype and element count, which then costs no allocation.
//
// Put is a promise: neither t nor any view of its storage, nor a slice
// from HostData, is used again by anyone. The cache cannot check that; it
// checks only what it can (the tensor is one Get could have returned: a
// whole contiguous CPU tensor made with its storage, small, and not
// counted by the memory statistics) and refuses the rest. Counted buffers
// (SetMemoryTracking on, or categorized) are never cached, so the
// statistics stay those of a fresh allocation; a tensor that Get takes
// from the cache while tracking is on is counted from then on, like a new
// one. The bytes a Pool holds are in MemoryStatistics.Cached.
//
// A Pool is safe for concurrent use; its zero value is empty and ready.
// Buffers of more than PoolMaxBytes, and tensors on other devices, are not
// cached; Get returns large ones from the CPU device's own recycling of
// large buffers (see allocDirty), as the ops that overwrite their output do.
type Pool struct {
	mu    sync.Mutex
	free  map[poolKey][]*cpuTensor
	bytes int64
}

type poolKey struct {
	dt DType
	n  int
}

const (
	// PoolMaxBytes is the largest buffer a Pool caches.
	PoolMaxBytes = 64 << 10
	// poolPerKey bounds the tensors kept for one (dtype, length).
	poolPerKey = 16
	// poolCap bounds the bytes one Pool holds.
	poolCap = 8 << 20
)

// poolCached is the bytes held by every Pool (MemoryStatistics.Cached).
var poolCached atomic.Int64

// Get returns a contiguous CPU tensor of dtype dt and the given shape whose
// elements are unspecified (the caller writes every one).
func (p *Pool) Get(dt DType, shape ...int) *Tensor {
	const op = "tensor.Pool.Get"
	n := checkAlloc(op, dt, shape)
	if n*dt.Size() <= PoolMaxBytes && n > 0 {
		k := poolKey{dt, n}
		p.mu.Lock()
		if l := p.free[k]; len(l) > 0 {
			c := l[len(l)-1]
			l[len(l)-1] = nil
			p.free[k] = l[:len(l)-1]
			b := int64(n * dt.Size())
			p.bytes -= b
			p.mu.Unlock()
			poolCached.Add(-b)
			c.t.offset = 0
			c.t.setLayout(shape, nil)
			c.s.noteAlloc()
			return &c.t
		}
		p.mu.Unlock()
	}
	// a new tensor, or for a large one a recycled buffer (allocDirty)
	return allocDirty(op, CPU, dt, shape)
}

// GetLike is Get with t's dtype and shape (t must be on the CPU).
func (p *Pool) GetLike(t *Tensor) *Tensor {
	if t.Device() != CPU {
		fail("tensor.Pool.GetLike", "tensor %s is not on the CPU", t.describe())
	}
	return p.Get(t.DType(), t.shape...)
}

// Put gives the storage of t (t or any view of it) back to the cache (see
// Pool for the promise it makes) and reports whether it was kept; storage
// it refuses is left to the garbage collector as before.
func (p *Pool) Put(t *Tensor) bool {
	if t == nil {
		return false
	}
	s, ok := t.st.(*cpuStorage)
	if !ok || !s.inTensor {
		// only a tensor made together with its storage (newCPUTensor) is
		// cached, not storage wrapped from elsewhere
		return false
	}
	c := (*cpuTensor)(unsafe.Add(unsafe.Pointer(s), -int(unsafe.Offsetof(cpuTensor{}.s))))
	n := s.Len()
	b := int64(n * s.dt.Size())
	if b == 0 || b > PoolMaxBytes {
		return false
	}
	memMu.Lock()
	counted := s.acct != nil
	memMu.Unlock()
	if counted {
		return false
	}
	k := poolKey{s.dt, n}
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.free[k]
	if len(l) >= poolPerKey || p.bytes+b > poolCap {
		return false
	}
	if p.free == nil {
		p.free = map[poolKey][]*cpuTensor{}
	}
	p.free[k] = append(l, c)
	p.bytes += b
	poolCached.Add(b)
	return true
}

// Cached returns the bytes p holds.
func (p *Pool) Cached() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// Clear drops every cached tensor.
func (p *Pool) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.free)
	poolCached.Add(-p.bytes)
	p.bytes = 0
}
