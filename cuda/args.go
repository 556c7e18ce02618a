package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Kernel parameter limits: cuLaunchKernel historically accepts 4 KiB of
// parameters; the C side builds the kernelParams array on its stack.
const (
	MaxParamBytes = 4096
	MaxParams     = 256
)

// Args packs kernel arguments into one byte block (no Go pointers inside)
// plus the offset of each argument. At launch the block is copied to C
// stack memory and cuLaunchKernel gets a void** array pointing into that
// copy, so no Go pointer is ever stored in C memory. Each value is placed at
// its natural alignment, as the kernel's parameter list expects. An Args
// can be reused after Reset.
type Args struct {
	buf  []byte
	offs []int32
	err  error
}

// NewArgs returns an empty argument pack.
func NewArgs() *Args { return &Args{buf: make([]byte, 0, 256), offs: make([]int32, 0, 16)} }

// Reset empties the pack, keeping its storage.
func (a *Args) Reset() *Args {
	a.buf, a.offs, a.err = a.buf[:0], a.offs[:0], nil
	return a
}

// Len is the number of arguments.
func (a *Args) Len() int { return len(a.offs) }

// Size is the size of the packed block in bytes.
func (a *Args) Size() int { return len(a.buf) }

// Offsets returns each argument's byte offset in the block (for tests).
func (a *Args) Offsets() []int32 { return append([]int32(nil), a.offs...) }

// Bytes returns the packed block (for tests).
func (a *Args) Bytes() []byte { return append([]byte(nil), a.buf...) }

// Err is the first packing error (too many or too large arguments, a bad
// alignment, an unsupported type).
func (a *Args) Err() error { return a.err }

func (a *Args) slot(size, align int) []byte {
	if a.err != nil {
		return make([]byte, size)
	}
	if align <= 0 || align&(align-1) != 0 || align > 16 {
		a.err = fmt.Errorf("cuda: kernel argument %d: alignment %d is not a power of two <= 16", len(a.offs), align)
		return make([]byte, size)
	}
	off := (len(a.buf) + align - 1) &^ (align - 1)
	if off+size > MaxParamBytes || len(a.offs) >= MaxParams {
		a.err = fmt.Errorf("cuda: kernel arguments exceed %d bytes or %d parameters", MaxParamBytes, MaxParams)
		return make([]byte, size)
	}
	for len(a.buf) < off+size {
		a.buf = append(a.buf, 0)
	}
	a.offs = append(a.offs, int32(off))
	return a.buf[off : off+size]
}

// Ptr appends a device pointer (CUdeviceptr, 8 bytes; a T* in the kernel).
func (a *Args) Ptr(p DevicePtr) *Args { return a.U64(uint64(p)) }

// U64 appends an unsigned 64-bit integer (also for size_t / uintptr).
func (a *Args) U64(v uint64) *Args {
	binary.LittleEndian.PutUint64(a.slot(8, 8), v)
	return a
}

// I64 appends a 64-bit integer (long long).
func (a *Args) I64(v int64) *Args { return a.U64(uint64(v)) }

// U32 appends an unsigned 32-bit integer.
func (a *Args) U32(v uint32) *Args {
	binary.LittleEndian.PutUint32(a.slot(4, 4), v)
	return a
}

// I32 appends a 32-bit integer (int).
func (a *Args) I32(v int32) *Args { return a.U32(uint32(v)) }

// F32 appends a float.
func (a *Args) F32(v float32) *Args { return a.U32(math.Float32bits(v)) }

// F64 appends a double.
func (a *Args) F64(v float64) *Args { return a.U64(math.Float64bits(v)) }

// Struct appends a by-value struct parameter given as its bytes in the
// kernel's layout (little-endian), with the struct's alignment.
func (a *Args) Struct(b []byte, align int) *Args {
	copy(a.slot(len(b), align), b)
	return a
}

// StructArg is a by-value struct kernel argument for Function.Launch.
type StructArg struct {
	Data  []byte
	Align int
}

// ArgPacker is implemented by values that know how to append themselves
// (e.g. a shape/stride descriptor).
type ArgPacker interface {
	PackArg(a *Args)
}

// Add appends a Go value: DevicePtr, uintptr, int32, uint32, int64, uint64,
// float32, float64, StructArg or an ArgPacker. A plain int is rejected
// because C's int is 32 bits and the kernel may want 64: say which.
func (a *Args) Add(v any) *Args {
	switch x := v.(type) {
	case DevicePtr:
		return a.Ptr(x)
	case uintptr:
		return a.U64(uint64(x))
	case int32:
		return a.I32(x)
	case uint32:
		return a.U32(x)
	case int64:
		return a.I64(x)
	case uint64:
		return a.U64(x)
	case float32:
		return a.F32(x)
	case float64:
		return a.F64(x)
	case StructArg:
		return a.Struct(x.Data, x.Align)
	case ArgPacker:
		x.PackArg(a)
		return a
	}
	if a.err == nil {
		a.err = fmt.Errorf("cuda: kernel argument %d: unsupported type %T (use int32/int64/uint32/uint64/float32/float64/DevicePtr)", len(a.offs), v)
	}
	return a
}
