package tensor

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Recycled buffers for the large CPU outputs of the convolution and pooling
// ops. A training step allocates the same large activations and gradients
// every time; a fresh Go allocation of them is zeroed (memclr) and, once the
// runtime has returned the pages to the OS, faulted in again by whichever
// kernel touches it first. Instead, a buffer whose last reference has gone
// comes back here through a finalizer on its backing array (the finalizer
// receives the array, so it may keep it) and is handed out again, dirty, to
// an op that overwrites its output completely.
//
// Only the array's reachability matters: a slice obtained through HostData,
// or any view, keeps the array alive and so out of the pool.

const (
	// recycleMin is the smallest buffer (in bytes) worth recycling.
	recycleMin = 256 << 10
	// recycleCap bounds the bytes held for reuse; beyond it a dead buffer is
	// left to the garbage collector.
	recycleCap = 256 << 20
	// recyclePerSize bounds the buffers held for one (dtype, length).
	recyclePerSize = 8
)

type recycleKey struct {
	dt DType
	n  int
}

var recycler = struct {
	sync.Mutex
	free  map[recycleKey][]any
	bytes int
}{free: map[recycleKey][]any{}}

func recyclable(dev Device, dt DType, n int) bool {
	if _, ok := dev.(cpuDevice); !ok {
		return false
	}
	switch dt {
	case Float32, Int32:
		return 4*n >= recycleMin
	case Float64:
		return 8*n >= recycleMin
	}
	return false
}

// allocDirty returns a contiguous tensor of the given shape whose contents
// are unspecified: a recycled buffer on the CPU for large float32, float64
// and int32 tensors, a zeroed allocation otherwise. The caller must
// overwrite every element.
func allocDirty(op string, dev Device, dt DType, shape []int) *Tensor {
	n := checkAlloc(op, dt, shape)
	if !recyclable(dev, dt, n) {
		return alloc(op, dev, dt, shape)
	}
	if err := hostAllocErr(n, dt.Size()); err != nil {
		panic(&Error{Op: op, Msg: fmt.Sprintf("allocating %s%v on %s", dt, shapeCopy(shape), dev.Name()), Err: err})
	}
	var buf any
	switch dt {
	case Float32:
		buf = takeBuffer[float32](dt, n)
	case Float64:
		buf = takeBuffer[float64](dt, n)
	case Int32:
		buf = takeBuffer[int32](dt, n)
	}
	return newCPUTensor(dt, buf, shape)
}

// allocZeroed is allocDirty with the elements set to zero (the clearing
// touches memory that is already mapped and likely cached).
func allocZeroed(op string, dev Device, dt DType, shape []int) *Tensor {
	t := allocDirty(op, dev, dt, shape)
	if recyclable(dev, dt, t.NumElements()) {
		switch b := t.st.(*cpuStorage).buf.(type) {
		case []float32:
			clearParallel(b)
		case []float64:
			clearParallel(b)
		case []int32:
			clearParallel(b)
		}
	}
	return t
}

func clearParallel[T float32 | float64 | int32](b []T) {
	parallelFor(len(b), workers(len(b), 1), func(lo, hi int) { clear(b[lo:hi]) })
}

// takeBuffer returns a recycled slice of length n, or a new one, with a
// finalizer that brings its array back when it becomes unreachable.
func takeBuffer[T float32 | float64 | int32](dt DType, n int) []T {
	k := recycleKey{dt, n}
	var b []T
	recycler.Lock()
	if l := recycler.free[k]; len(l) > 0 {
		b = l[len(l)-1].([]T)
		recycler.free[k] = l[:len(l)-1]
		recycler.bytes -= n * int(unsafe.Sizeof(b[0]))
	}
	recycler.Unlock()
	if b == nil {
		b = makeHost[T](n)
	}
	// The finalizer goes on the start of the allocation, hostPad elements
	// before b.
	off := hostPad[T](n) * int(unsafe.Sizeof(b[0]))
	base := (*T)(unsafe.Add(unsafe.Pointer(&b[0]), -off))
	runtime.SetFinalizer(base, func(p *T) {
		giveBuffer(k, unsafe.Slice((*T)(unsafe.Add(unsafe.Pointer(p), off)), n))
	})
	return b
}

// giveBuffer keeps b for reuse when there is room (it runs on the
// finalizer goroutine, after b's array became unreachable).
func giveBuffer[T float32 | float64 | int32](k recycleKey, b []T) {
	size := len(b) * int(unsafe.Sizeof(b[0]))
	recycler.Lock()
	defer recycler.Unlock()
	if l := recycler.free[k]; len(l) < recyclePerSize && recycler.bytes+size <= recycleCap {
		recycler.free[k] = append(l, b)
		recycler.bytes += size
	}
}
