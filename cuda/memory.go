package cuda

import (
	"fmt"
	"unsafe"
)

// Copies. The synchronous forms return when the copy is complete. The
// Async forms are ordered on stream s (nil: default stream); with pageable
// (ordinary Go) host memory the driver stages the data and returns only
// once the host buffer is no longer needed, so passing Go slices is safe
// and the copy is then effectively synchronous with respect to the host.
// For truly asynchronous copies use pinned memory from NewHostBuffer and
// keep it alive (and unmodified) until the stream has reached the copy.

// MemcpyHtoD copies len(src) bytes from host to device.
func (d *Device) MemcpyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyHtoD_v2", d.api.memcpyHtoD(d.ctx, dst, unsafe.Pointer(&src[0]), uint64(len(src)), nil, false))
}

// MemcpyDtoH copies len(dst) bytes from device to host.
func (d *Device) MemcpyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyDtoH_v2", d.api.memcpyDtoH(d.ctx, unsafe.Pointer(&dst[0]), src, uint64(len(dst)), nil, false))
}

// MemcpyDtoD copies n bytes between device buffers.
func (d *Device) MemcpyDtoD(dst, src DevicePtr, n int64) error {
	if n == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyDtoD_v2", d.api.memcpyDtoD(d.ctx, dst, src, uint64(n), nil, false))
}

// MemcpyHtoDAsync queues a host-to-device copy on s.
func (d *Device) MemcpyHtoDAsync(dst DevicePtr, src []byte, s *Stream) error {
	if len(src) == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyHtoDAsync_v2", d.api.memcpyHtoD(d.ctx, dst, unsafe.Pointer(&src[0]), uint64(len(src)), s.Handle(), true))
}

// MemcpyDtoHAsync queues a device-to-host copy on s.
func (d *Device) MemcpyDtoHAsync(dst []byte, src DevicePtr, s *Stream) error {
	if len(dst) == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyDtoHAsync_v2", d.api.memcpyDtoH(d.ctx, unsafe.Pointer(&dst[0]), src, uint64(len(dst)), s.Handle(), true))
}

// MemcpyDtoDAsync queues a device-to-device copy on s.
func (d *Device) MemcpyDtoDAsync(dst, src DevicePtr, n int64, s *Stream) error {
	if n == 0 {
		return nil
	}
	return newError(d.api, "cuMemcpyDtoDAsync_v2", d.api.memcpyDtoD(d.ctx, dst, src, uint64(n), s.Handle(), true))
}

// MemsetD8Async sets n bytes at dst to v, ordered on s.
func (d *Device) MemsetD8Async(dst DevicePtr, v uint8, n int64, s *Stream) error {
	return newError(d.api, "cuMemsetD8Async", d.api.memsetD8(d.ctx, dst, v, uint64(n), s.Handle()))
}

// MemsetD32Async sets n 32-bit words at dst to v, ordered on s.
func (d *Device) MemsetD32Async(dst DevicePtr, v uint32, n int64, s *Stream) error {
	return newError(d.api, "cuMemsetD32Async", d.api.memsetD32(d.ctx, dst, v, uint64(n), s.Handle()))
}

// Scalar is the element types that can be copied with the typed helpers.
type Scalar interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~float32 | ~float64
}

// AsBytes views a slice of scalars as bytes (no copy).
func AsBytes[T Scalar](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// CopyToDevice copies a host slice to dst.
func CopyToDevice[T Scalar](d *Device, dst DevicePtr, src []T) error {
	return d.MemcpyHtoD(dst, AsBytes(src))
}

// CopyFromDevice copies len(dst) elements from src to a host slice.
func CopyFromDevice[T Scalar](d *Device, dst []T, src DevicePtr) error {
	return d.MemcpyDtoH(AsBytes(dst), src)
}

// HostBuffer is page-locked ("pinned") host memory from cuMemHostAlloc. It
// is C memory: it may be handed to asynchronous copies and kept by the
// driver. Free it with Free.
type HostBuffer struct {
	d *Device
	p unsafe.Pointer
	n int
}

// cuMemHostAlloc flags.
const (
	HostAllocPortable      = 1 // pinned for all contexts
	HostAllocDeviceMap     = 2 // mapped into the device address space
	HostAllocWriteCombined = 4 // write-combined (fast HtoD, slow host reads)
)

// NewHostBuffer allocates n bytes of pinned host memory (cuMemHostAlloc).
func (d *Device) NewHostBuffer(n int, flags uint32) (*HostBuffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: NewHostBuffer: size %d", n)
	}
	p, r := d.api.memHostAlloc(d.ctx, uint64(n), flags)
	if r != Success {
		return nil, newError(d.api, "cuMemHostAlloc", r)
	}
	return &HostBuffer{d: d, p: p, n: n}, nil
}

// Bytes views the buffer as a byte slice. The slice is invalid after Free.
func (h *HostBuffer) Bytes() []byte { return unsafe.Slice((*byte)(h.p), h.n) }

// Len is the size in bytes.
func (h *HostBuffer) Len() int { return h.n }

// Free releases the buffer (cuMemFreeHost).
func (h *HostBuffer) Free() error {
	if h.p == nil {
		return nil
	}
	err := newError(h.d.api, "cuMemFreeHost", h.d.api.memFreeHost(h.d.ctx, h.p))
	h.p, h.n = nil, 0
	return err
}

// HostSlice views a pinned buffer as a slice of T.
func HostSlice[T Scalar](h *HostBuffer) []T {
	var z T
	return unsafe.Slice((*T)(h.p), h.n/int(unsafe.Sizeof(z)))
}
