package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// DevicePtr is a device address (CUdeviceptr). It is an integer, not a Go
// pointer, so it may be stored anywhere and passed to C freely.
type DevicePtr uint64

// Add returns p advanced by n bytes.
func (p DevicePtr) Add(n int64) DevicePtr { return DevicePtr(int64(p) + n) }

// Dim3 is a grid or block shape.
type Dim3 struct{ X, Y, Z uint32 }

// D1 is a one-dimensional Dim3.
func D1(x int) Dim3 { return Dim3{uint32(x), 1, 1} }

var (
	// driverLibPath is the libcuda file opened, kept for Info even when
	// cuInit then fails.
	driverLibPath string

	loadOnce sync.Once
	drvAPI   driverAPI
	drvErr   error
)

// driver returns the process-wide driver binding, loading it on first use.
func driver() (driverAPI, error) {
	loadOnce.Do(func() { drvAPI, drvErr = openDriver(dl.OSEnv()) })
	return drvAPI, drvErr
}

// Available reports whether a CUDA driver could be loaded and initialised
// and at least one device is present. It never panics; the reason for a
// false answer is Load's error.
func Available() bool { return Load() == nil }

// Load loads and initialises the driver if needed and reports why CUDA is
// unusable (an error wrapping ErrUnavailable), or nil.
func Load() error {
	api, err := driver()
	if err != nil {
		return err
	}
	n, r := api.deviceCount()
	if r != Success {
		return fmt.Errorf("%w: %v", ErrUnavailable, newError(api, "cuDeviceGetCount", r))
	}
	if n == 0 {
		return fmt.Errorf("%w: the driver reports no devices", ErrUnavailable)
	}
	return nil
}

// DeviceCount returns the number of CUDA devices (0 with an error when
// CUDA is unavailable).
func DeviceCount() (int, error) {
	api, err := driver()
	if err != nil {
		return 0, err
	}
	n, r := api.deviceCount()
	return n, newError(api, "cuDeviceGetCount", r)
}

// Properties describes a device.
type Properties struct {
	Ordinal            int
	Name               string
	Major, Minor       int // compute capability
	TotalMem           uint64
	MultiProcessors    int
	MaxThreadsPerBlock int
	WarpSize           int
	SharedMemPerBlock  int
	L2CacheBytes       int
	PCIBusID           int
}

// CUdevice_attribute values (cuda.h).
const (
	attrMaxThreadsPerBlock = 1
	attrSharedMemPerBlock  = 8
	attrWarpSize           = 10
	attrMultiProcessors    = 16
	attrPCIBusID           = 33
	attrL2CacheSize        = 38
	attrComputeMajor       = 75
	attrComputeMinor       = 76
)

func queryProperties(api driverAPI, ordinal int, dev int32) (Properties, error) {
	p := Properties{Ordinal: ordinal}
	var r Result
	if p.Name, r = api.deviceName(dev); r != Success {
		return p, newError(api, "cuDeviceGetName", r)
	}
	if p.TotalMem, r = api.deviceTotalMem(dev); r != Success {
		return p, newError(api, "cuDeviceTotalMem_v2", r)
	}
	for _, q := range []struct {
		attr int
		dst  *int
	}{
		{attrComputeMajor, &p.Major}, {attrComputeMinor, &p.Minor},
		{attrMultiProcessors, &p.MultiProcessors}, {attrMaxThreadsPerBlock, &p.MaxThreadsPerBlock},
		{attrWarpSize, &p.WarpSize}, {attrSharedMemPerBlock, &p.SharedMemPerBlock},
		{attrL2CacheSize, &p.L2CacheBytes}, {attrPCIBusID, &p.PCIBusID},
	} {
		if *q.dst, r = api.deviceAttribute(dev, q.attr); r != Success {
			return p, newError(api, "cuDeviceGetAttribute", r)
		}
	}
	return p, nil
}

// Device is one GPU with its primary context, default stream and caching
// allocator. Devices are process-wide singletons: Open returns the same
// *Device for the same ordinal. All methods are safe for concurrent use.
type Device struct {
	api   driverAPI
	ord   int
	dev   int32
	ctx   handle
	props Properties
	alloc *Allocator

	mu      sync.Mutex
	blas    *Blas
	kernels *Kernels
	closed  bool
	streams map[StreamID]*Stream
}

var (
	devMu   sync.Mutex
	devices = map[int]*Device{}
)

// Open returns device ordinal, retaining its primary context on first use.
// The context is made current per call (see doc.go), so a *Device can be
// used from any goroutine.
func Open(ordinal int) (*Device, error) {
	api, err := driver()
	if err != nil {
		return nil, err
	}
	devMu.Lock()
	defer devMu.Unlock()
	if d := devices[ordinal]; d != nil {
		return d, nil
	}
	n, r := api.deviceCount()
	if r != Success {
		return nil, newError(api, "cuDeviceGetCount", r)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda: device ordinal %d out of range (have %d): %w", ordinal, n, ErrUnavailable)
	}
	dev, r := api.deviceGet(ordinal)
	if r != Success {
		return nil, newError(api, "cuDeviceGet", r)
	}
	props, err := queryProperties(api, ordinal, dev)
	if err != nil {
		return nil, err
	}
	ctx, r := api.primaryCtxRetain(dev)
	if r != Success {
		return nil, newError(api, "cuDevicePrimaryCtxRetain", r)
	}
	d := &Device{api: api, ord: ordinal, dev: dev, ctx: ctx, props: props, streams: map[StreamID]*Stream{}}
	d.alloc = NewAllocator(&deviceBackend{d: d}, AllocatorOptions{GC: DefaultGCHook})
	devices[ordinal] = d
	return d, nil
}

// Ordinal is the device number.
func (d *Device) Ordinal() int { return d.ord }

// Properties returns the device description queried at Open.
func (d *Device) Properties() Properties { return d.props }

// Allocator returns the device's caching allocator.
func (d *Device) Allocator() *Allocator { return d.alloc }

// Context returns the raw CUcontext (the primary context) for interop.
func (d *Device) Context() unsafe.Pointer { return d.ctx }

// MakeCurrent makes the device's primary context current on the calling
// OS thread. Package functions do this per call; it is needed only before
// calling other CUDA libraries (NCCL) directly, with runtime.LockOSThread
// held across both.
func (d *Device) MakeCurrent() error {
	return newError(d.api, "cuCtxSetCurrent", d.api.setCurrent(d.ctx))
}

// Synchronize waits for all work on the device (cuCtxSynchronize).
func (d *Device) Synchronize() error {
	return newError(d.api, "cuCtxSynchronize", d.api.ctxSynchronize(d.ctx))
}

// MemInfo returns free and total device memory (cuMemGetInfo_v2).
func (d *Device) MemInfo() (free, total uint64, err error) {
	f, t, r := d.api.memGetInfo(d.ctx)
	return f, t, newError(d.api, "cuMemGetInfo_v2", r)
}

// Alloc returns n bytes of device memory from the caching allocator, for
// use on stream s (nil: the default stream).
func (d *Device) Alloc(n int64, s *Stream) (DevicePtr, error) {
	return d.alloc.Malloc(n, s.id())
}

// Free returns p to the caching allocator. It may be reused at once by
// work on stream s (nil: the default stream) and by other streams after
// the work queued on s before Free has finished.
func (d *Device) Free(p DevicePtr, s *Stream) error { return d.alloc.Free(p, s.id()) }

// EmptyCache releases every unused cached segment to the driver.
func (d *Device) EmptyCache() error { return d.alloc.EmptyCache() }

// MallocRaw allocates without the cache (cuMemAlloc_v2).
func (d *Device) MallocRaw(n int64) (DevicePtr, error) {
	p, r := d.api.memAlloc(d.ctx, uint64(n))
	return p, newError(d.api, "cuMemAlloc_v2", r)
}

// FreeRaw frees memory from MallocRaw (cuMemFree_v2).
func (d *Device) FreeRaw(p DevicePtr) error {
	return newError(d.api, "cuMemFree_v2", d.api.memFree(d.ctx, p))
}

// Close frees the device's cached memory, its cuBLAS handle and its
// streams, and releases the primary context. The *Device must not be used
// afterwards; a later Open starts afresh.
func (d *Device) Close() error {
	devMu.Lock()
	defer devMu.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	b := d.blas
	d.blas = nil
	k := d.kernels
	d.kernels = nil
	var ss []*Stream
	for _, s := range d.streams {
		ss = append(ss, s)
	}
	d.mu.Unlock()
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	keep(d.Synchronize())
	if b != nil {
		keep(b.destroy())
	}
	if k != nil {
		for _, m := range k.mods {
			keep(m.Unload())
		}
	}
	keep(d.alloc.EmptyCache())
	for _, s := range ss {
		keep(s.Destroy())
	}
	keep(newError(d.api, "cuDevicePrimaryCtxRelease_v2", d.api.primaryCtxRelease(d.dev)))
	delete(devices, d.ord)
	return first
}

// DefaultGCHook runs the Go garbage collector twice with a pause between,
// so that runtime.AddCleanup functions that free device memory get to run
// before the allocator retries an allocation that ran out of memory.
func DefaultGCHook() {
	runtime.GC()
	time.Sleep(time.Millisecond)
	runtime.GC()
	time.Sleep(time.Millisecond)
}
