package cudatensor

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

func init() { tensor.RegisterDevice("cuda", open) }

var (
	openMu sync.Mutex
	opened = map[int]*Device{}
)

// open is the tensor.RegisterDevice hook: tensor.GetDevice("cuda:N").
func open(ordinal int) (tensor.Device, error) {
	d, err := Open(ordinal)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Open returns the tensor device for CUDA device ordinal. The same *Device
// is returned for the same ordinal (tensor compares devices with ==). On a
// machine without a usable GPU the error wraps cuda.ErrUnavailable.
func Open(ordinal int) (*Device, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if d := opened[ordinal]; d != nil {
		return d, nil
	}
	cd, err := cuda.Open(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cudatensor: opening cuda:%d: %w", ordinal, err)
	}
	d := newDevice(&realBackend{d: cd}, fmt.Sprintf("cuda:%d", ordinal))
	d.cuda = cd
	opened[ordinal] = d
	return d, nil
}

// Device is a tensor.Device (and tensor.MatMulAdder) on one CUDA GPU. Every
// op is queued on the device's legacy default stream; ToHost waits for the
// queued work. It is safe for concurrent use.
type Device struct {
	be   backend
	name string
	cuda *cuda.Device // nil for test backends

	errMu sync.Mutex
	// errFlag is the 4-byte flag for index/division errors. The device
	// holds the *Storage, not just its buffer: the buffer is freed by a
	// cleanup attached to the Storage, so keeping only the buffer would
	// free the flag while it is still in use (and hand its memory to
	// other tensors, which the flag's memset and kernel writes would then
	// corrupt).
	errFlag *Storage

	// TF32 lets float32 MatMul use TF32 tensor cores (faster, about 10
	// bits of mantissa in the products). Off by default, so float32
	// results match the CPU's to float32 accuracy.
	TF32 atomic.Bool
}

func newDevice(be backend, name string) *Device { return &Device{be: be, name: name} }

// CUDA returns the underlying cuda.Device (nil for a test backend).
func (d *Device) CUDA() *cuda.Device { return d.cuda }

// Name implements tensor.Device ("cuda:0").
func (d *Device) Name() string { return d.name }

// buffer is device memory from the caching allocator. It is freed once,
// by Release or by the cleanup that runs when its Storage is unreachable.
type buffer struct {
	be    backend
	ptr   cuda.DevicePtr
	bytes int64
	freed atomic.Bool
}

func (b *buffer) free() {
	if b.freed.Swap(true) || b.ptr == 0 {
		return
	}
	b.be.free(b.ptr)
}

// Storage is device memory holding n elements of one dtype.
type Storage struct {
	d   *Device
	dt  tensor.DType
	n   int
	buf *buffer
}

// Device implements tensor.Storage.
func (s *Storage) Device() tensor.Device { return s.d }

// DType implements tensor.Storage.
func (s *Storage) DType() tensor.DType { return s.dt }

// Len implements tensor.Storage.
func (s *Storage) Len() int { return s.n }

// Ptr returns the device address of element 0. It panics if the storage
// was released.
func (s *Storage) Ptr() cuda.DevicePtr {
	if s.buf.freed.Load() && s.buf.ptr != 0 {
		panic(fmt.Sprintf("cudatensor: use of released storage (%v[%d] on %s)", s.dt, s.n, s.d.name))
	}
	return s.buf.ptr
}

// Bytes is the size of the storage in bytes.
func (s *Storage) Bytes() int64 { return int64(s.n) * int64(s.dt.Size()) }

// Release frees t's device memory now instead of when the garbage
// collector finds it unreachable. Every view of the same storage becomes
// unusable. Tensors on other devices are left alone; releasing twice is a
// no-op. The memory goes back to the caching allocator and may be reused
// by work queued after this call (stream order makes that safe).
func Release(t *tensor.Tensor) {
	if t == nil {
		return
	}
	ReleaseStorage(t.Storage())
}

// ReleaseStorage is Release for a storage.
func ReleaseStorage(st tensor.Storage) {
	if s, ok := st.(*Storage); ok {
		s.buf.free()
	}
}

// oomError marks a device allocation that ran out of memory as
// tensor.ErrOutOfMemory too, so one errors.Is check covers host and GPU.
type oomError struct{ error }

func (e oomError) Unwrap() []error { return []error{e.error, tensor.ErrOutOfMemory} }

// Alloc implements tensor.Device: zeroed storage for n elements, or an
// error (wrapping cuda.ErrOutOfMemory and tensor.ErrOutOfMemory when the
// allocator, after collecting garbage and releasing its cache, still has
// no room).
func (d *Device) Alloc(dt tensor.DType, n int) (tensor.Storage, error) {
	s, err := d.alloc(dt, n, true)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *Device) alloc(dt tensor.DType, n int, zero bool) (*Storage, error) {
	if n < 0 {
		return nil, fmt.Errorf("cudatensor: negative allocation of %d elements", n)
	}
	if _, ok := dtypeName[dt]; !ok {
		return nil, fmt.Errorf("cudatensor: cannot allocate dtype %v", dt)
	}
	bytes := int64(n) * int64(dt.Size())
	b := &buffer{be: d.be, bytes: bytes}
	if bytes > 0 {
		p, err := d.be.malloc(bytes)
		if err != nil {
			err = fmt.Errorf("cudatensor: allocating %d %v elements (%d bytes) on %s: %w", n, dt, bytes, d.name, err)
			if errors.Is(err, cuda.ErrOutOfMemory) {
				err = oomError{err}
			}
			return nil, err
		}
		b.ptr = p
		if zero {
			if err := d.be.memsetZero(p, bytes); err != nil {
				b.free()
				return nil, fmt.Errorf("cudatensor: zeroing a new allocation on %s: %w", d.name, err)
			}
		}
	}
	s := &Storage{d: d, dt: dt, n: n, buf: b}
	runtime.AddCleanup(s, func(b *buffer) { b.free() }, b)
	return s, nil
}

// temp allocates uninitialised scratch storage for an op; it panics on
// failure (ops have no error return). Free it with release when the work
// that uses it has been queued.
func (d *Device) temp(op string, dt tensor.DType, n int) *Storage {
	s, err := d.alloc(dt, n, false)
	if err != nil {
		panic(&tensor.Error{Op: op, Msg: "scratch memory", Err: err})
	}
	return s
}

func (s *Storage) release() { s.buf.free() }

// hostSlice returns a new Go slice for n elements of dt and its bytes.
func hostSlice(dt tensor.DType, n int) (any, []byte) {
	switch dt {
	case tensor.Float32:
		b := make([]float32, n)
		return b, cuda.AsBytes(b)
	case tensor.Float64:
		b := make([]float64, n)
		return b, cuda.AsBytes(b)
	case tensor.BFloat16, tensor.Float16:
		b := make([]uint16, n)
		return b, cuda.AsBytes(b)
	case tensor.Int32:
		b := make([]int32, n)
		return b, cuda.AsBytes(b)
	case tensor.Int64:
		b := make([]int64, n)
		return b, cuda.AsBytes(b)
	case tensor.Bool:
		b := make([]bool, n)
		if n == 0 {
			return b, nil
		}
		return b, unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), n)
	}
	panic(fmt.Sprintf("cudatensor: dtype %v", dt))
}

// ToHost implements tensor.Device. It waits for the work queued on the
// device (the copy is ordered after it) and returns CPU storage.
func (d *Device) ToHost(st tensor.Storage) (tensor.Storage, error) {
	s, ok := st.(*Storage)
	if !ok || s.d != d {
		return nil, fmt.Errorf("cudatensor: ToHost on %s got storage of %s", d.name, st.Device().Name())
	}
	buf, b := hostSlice(s.dt, s.n)
	if len(b) > 0 {
		if err := d.be.dtoh(b, s.Ptr()); err != nil {
			return nil, fmt.Errorf("cudatensor: copying %d bytes from %s: %w", len(b), d.name, err)
		}
		runtime.KeepAlive(s)
	}
	if s.dt == tensor.Bool {
		// The kernels write 0 or 1, but never hand Go a bool byte that is neither.
		for i, v := range b {
			if v > 1 {
				b[i] = 1
			}
		}
	}
	return tensor.NewHostStorage(s.dt, buf), nil
}

// FromHost implements tensor.Device: a new device storage with a copy of
// CPU storage s (storage of another device is brought through the host).
func (d *Device) FromHost(st tensor.Storage) (tensor.Storage, error) {
	if st.Device() != tensor.CPU {
		h, err := st.Device().ToHost(st)
		if err != nil {
			return nil, err
		}
		st = h
	}
	s, err := d.alloc(st.DType(), st.Len(), false)
	if err != nil {
		return nil, err
	}
	if b := tensor.HostBytes(st); len(b) > 0 {
		if err := d.be.htod(s.Ptr(), b); err != nil {
			s.release()
			return nil, fmt.Errorf("cudatensor: copying %d bytes to %s: %w", len(b), d.name, err)
		}
	}
	return s, nil
}

// Synchronize waits for all work queued on the device.
func (d *Device) Synchronize() error { return d.be.sync() }

// storageOf returns the device storage of a view, panicking (a programming
// error) when it lives elsewhere.
func (d *Device) storageOf(op string, v tensor.View) *Storage {
	s, ok := v.Storage.(*Storage)
	if !ok || s.d != d {
		panic(&tensor.Error{Op: "cudatensor." + op, Msg: fmt.Sprintf("%s got storage of %s", d.name, v.Storage.Device().Name())})
	}
	return s
}

// ptrOf is the device address of a view's first element.
func (d *Device) ptrOf(op string, v tensor.View) cuda.DevicePtr {
	s := d.storageOf(op, v)
	return s.Ptr().Add(int64(v.Offset) * int64(s.dt.Size()))
}

// keepAlive keeps the views' storages reachable until it runs. Each op
// defers it: an op takes raw device pointers from its views early, and the
// caller may hold no other reference to a storage (y := x.Exp() with x
// unused afterwards), so without it the garbage collector could run the
// storage's cleanup, returning the memory to the caching allocator, before
// the kernel that reads it is queued; a scratch allocation in the same op
// could then receive the same memory. Once the work is queued, freeing is
// safe: the allocator's reuse is stream-ordered.
func keepAlive(vs ...tensor.View) {
	for _, v := range vs {
		runtime.KeepAlive(v.Storage)
	}
}

// check panics with a tensor.Error when a device call failed.
func check(op string, err error) {
	if err != nil {
		panic(&tensor.Error{Op: "cudatensor." + op, Msg: "device error", Err: err})
	}
}

// withErrFlag runs f with the device's 4-byte error flag cleared (for
// kernels that report bad indices or integer division by zero), then reads
// the flag back, which waits for the queued work. It reports whether a
// kernel set the flag.
func (d *Device) withErrFlag(op string, f func(flag cuda.DevicePtr)) bool {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	if d.errFlag == nil {
		d.errFlag = d.temp(op, tensor.Int32, 1)
	}
	p := d.errFlag.Ptr()
	check(op, d.be.memsetZero(p, 4))
	f(p)
	var b [4]byte
	check(op, d.be.dtoh(b[:], p))
	return b != [4]byte{}
}
