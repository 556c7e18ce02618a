package tensor

import (
	"fmt"
	"unsafe"
)

// cpuStorage is a Go slice: []float32, []float64, []uint16 (BFloat16 and
// Float16 bit patterns), []int32, []int64 or []bool.
type cpuStorage struct {
	dt DType
	// inTensor: the storage is the s field of a cpuTensor (newCPUTensor),
	// so Pool may cache the pair.
	inTensor bool
	buf      any
	acct     *memAcct // memory accounting (memstats.go), nil when not counted
}

func (s *cpuStorage) Device() Device { return CPU }
func (s *cpuStorage) DType() DType   { return s.dt }
func (s *cpuStorage) Len() int {
	switch b := s.buf.(type) {
	case []float32:
		return len(b)
	case []float64:
		return len(b)
	case []uint16:
		return len(b)
	case []int32:
		return len(b)
	case []int64:
		return len(b)
	case []bool:
		return len(b)
	}
	panic(Errorf("tensor", "corrupt CPU storage"))
}

func newCPUStorage(dt DType, n int) *cpuStorage {
	s := &cpuStorage{dt: dt, buf: newHostBuf(dt, n)}
	s.noteAlloc()
	return s
}

// cpuTensor is a new contiguous CPU tensor together with its storage, in
// one allocation (with the Tensor's inline shape and strides, a small
// tensor costs three: this, the boxed slice header and the elements).
type cpuTensor struct {
	t Tensor
	s cpuStorage
}

// newCPUTensor wraps buf (a new slice from newHostBuf or takeBuffer, of
// dtype dt) as a contiguous tensor of the given shape. The storage is
// counted like any new buffer (noteAlloc): its cleanup, attached to the
// storage inside the combined object, runs when neither this tensor nor a
// view of it is reachable, the same moment a separate storage would die.
func newCPUTensor(dt DType, buf any, shape []int) *Tensor {
	c := &cpuTensor{s: cpuStorage{dt: dt, inTensor: true, buf: buf}}
	c.s.noteAlloc()
	c.t.st = &c.s
	c.t.setLayout(shape, nil)
	return &c.t
}

// newHostBuf returns a zeroed host slice of n elements of dtype dt.
func newHostBuf(dt DType, n int) any {
	var buf any
	switch dt {
	case Float32:
		buf = makeHost[float32](n)
	case Float64:
		buf = makeHost[float64](n)
	case BFloat16, Float16:
		buf = makeHost[uint16](n)
	case Int32:
		buf = makeHost[int32](n)
	case Int64:
		buf = makeHost[int64](n)
	case Bool:
		buf = makeHost[bool](n)
	default:
		panic(Errorf("tensor", "cannot allocate dtype %v", dt))
	}
	return buf
}

// Large host buffers start hostPageOffset bytes past a page boundary.
//
// Go puts every allocation above 32 KiB on a page boundary, so all large
// tensors would share the same address bits below 4 KiB with each other and
// with page-aligned buffers of other libraries. Open MPI's shared-memory
// all-reduce measured 25-30% slower on page-aligned buffers than on the
// same buffers moved by 64 bytes (32 and 64 MiB, 2 ranks; glibc's malloc
// gives large blocks a 16-byte offset, which is why plain C programs do not
// see it): see bench/results/collectives.md. The offset keeps 64-byte (cache
// line, AVX-512) alignment.
const (
	hostPageOffset = 64
	hostOffsetMin  = 64 << 10 // buffers smaller than this are left as Go places them
)

// hostPad is the number of T elements that makeHost skips for n elements.
func hostPad[T any](n int) int {
	var z T
	sz := int(unsafe.Sizeof(z))
	if n*sz < hostOffsetMin {
		return 0
	}
	return hostPageOffset / sz
}

// makeHost returns a zeroed slice of n elements (see hostPageOffset). It
// panics with a *Error wrapping ErrOutOfMemory when the host cannot give
// them (the ops check before they get here, with their own names).
func makeHost[T any](n int) []T {
	var z T
	if err := hostAllocErr(n, int(unsafe.Sizeof(z))); err != nil {
		panic(&Error{Op: "tensor", Msg: fmt.Sprintf("host buffer of %d elements", n), Err: err})
	}
	pad := hostPad[T](n)
	if pad == 0 {
		return make([]T, n)
	}
	return make([]T, pad+n)[pad : pad+n : pad+n]
}

// HostData returns the Go slice behind a CPU storage ([]float32, []float64,
// []uint16 for the 16-bit floats, []int32, []int64 or []bool), or nil for
// storage on another device. Writes through it are seen by every view.
func HostData(s Storage) any {
	if c, ok := s.(*cpuStorage); ok {
		return c.buf
	}
	return nil
}

// NewHostStorage wraps a Go slice (see HostData for the types) as CPU storage
// of dtype dt without copying. Backends use it to hand data back from ToHost.
func NewHostStorage(dt DType, buf any) Storage {
	ok := false
	switch buf.(type) {
	case []float32:
		ok = dt == Float32
	case []float64:
		ok = dt == Float64
	case []uint16:
		ok = dt == BFloat16 || dt == Float16
	case []int32:
		ok = dt == Int32
	case []int64:
		ok = dt == Int64
	case []bool:
		ok = dt == Bool
	}
	if !ok {
		panic(Errorf("tensor.NewHostStorage", "%T cannot hold %v", buf, dt))
	}
	return &cpuStorage{dt: dt, buf: buf}
}

// HostBytes returns the bytes of a CPU storage (little-endian on the
// platforms Go supports for Tessera), aliasing it.
func HostBytes(s Storage) []byte {
	c, ok := s.(*cpuStorage)
	if !ok {
		return nil
	}
	n := c.Len() * c.dt.Size()
	if n == 0 {
		return []byte{}
	}
	var p unsafe.Pointer
	switch b := c.buf.(type) {
	case []float32:
		p = unsafe.Pointer(&b[0])
	case []float64:
		p = unsafe.Pointer(&b[0])
	case []uint16:
		p = unsafe.Pointer(&b[0])
	case []int32:
		p = unsafe.Pointer(&b[0])
	case []int64:
		p = unsafe.Pointer(&b[0])
	case []bool:
		p = unsafe.Pointer(&b[0])
	}
	return unsafe.Slice((*byte)(p), n)
}
