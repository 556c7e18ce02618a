package data

import (
	"bytes"
	"fmt"

	"github.com/tessera-ml/tessera/internal/readall"
)

// elemKind is one element type of the binary array formats (IDX and .npy):
// NumPy's kind letter ('b' bool, 'i' signed, 'u' unsigned, 'f' float) and
// the width in bytes. Both formats decode and encode their elements here,
// each with its byte order.
type elemKind struct {
	kind byte
	size int
}

var (
	kindBool = elemKind{'b', 1}
	kindI8   = elemKind{'i', 1}
	kindU8   = elemKind{'u', 1}
	kindI16  = elemKind{'i', 2}
	kindU16  = elemKind{'u', 2}
	kindF16  = elemKind{'f', 2}
	kindI32  = elemKind{'i', 4}
	kindU32  = elemKind{'u', 4}
	kindF32  = elemKind{'f', 4}
	kindI64  = elemKind{'i', 8}
	kindU64  = elemKind{'u', 8}
	kindF64  = elemKind{'f', 8}
)

func (k elemKind) String() string { return fmt.Sprintf("%c%d", k.kind, k.size) }

// decodeElems returns the elements held in raw (a whole number of them,
// in the byte order the file declares: little or big endian) as a slice of
// k's Go type. It converts in place and returns a slice that shares raw's
// memory, so raw must be aligned to 8 bytes (as readall's buffers are) and
// not used afterwards.
func decodeElems(k elemKind, raw []byte, little bool) any {
	if little != readall.LittleEndian {
		readall.Swap(raw, k.size)
	}
	switch k {
	case kindBool:
		for i, v := range raw {
			if v > 1 {
				raw[i] = 1
			}
		}
		return view[bool](raw)
	case kindI8:
		return view[int8](raw)
	case kindU8:
		return raw[:len(raw):len(raw)]
	case kindI16:
		return view[int16](raw)
	case kindU16:
		return view[uint16](raw)
	case kindF16:
		return view[Float16](raw)
	case kindI32:
		return view[int32](raw)
	case kindU32:
		return view[uint32](raw)
	case kindF32:
		return view[float32](raw)
	case kindI64:
		return view[int64](raw)
	case kindU64:
		return view[uint64](raw)
	case kindF64:
		return view[float64](raw)
	}
	panic(fmt.Sprintf("data: decodeElems: unknown element kind %v", k))
}

// view returns raw's memory as []T, copying only if raw is misaligned.
func view[T readall.Number](raw []byte) []T {
	if v, ok := readall.As[T](raw); ok {
		return v[:len(v):len(v)]
	}
	b := readall.Alloc(len(raw))
	copy(b, raw)
	v, _ := readall.As[T](b)
	return v
}

// encodeElems returns the kind of data's elements (one of the slice types
// of NPY.Data) and their bytes in the requested byte order, or false for
// another type. The bytes share data's memory when no conversion is needed.
func encodeElems(data any, little bool) (elemKind, []byte, bool) {
	var k elemKind
	var b []byte
	switch d := data.(type) {
	case []bool:
		k, b = kindBool, readall.Bytes(d)
	case []int8:
		k, b = kindI8, readall.Bytes(d)
	case []uint8:
		k, b = kindU8, d
	case []int16:
		k, b = kindI16, readall.Bytes(d)
	case []uint16:
		k, b = kindU16, readall.Bytes(d)
	case []Float16:
		k, b = kindF16, readall.Bytes(d)
	case []int32:
		k, b = kindI32, readall.Bytes(d)
	case []uint32:
		k, b = kindU32, readall.Bytes(d)
	case []float32:
		k, b = kindF32, readall.Bytes(d)
	case []int64:
		k, b = kindI64, readall.Bytes(d)
	case []uint64:
		k, b = kindU64, readall.Bytes(d)
	case []float64:
		k, b = kindF64, readall.Bytes(d)
	default:
		return elemKind{}, nil, false
	}
	if little != readall.LittleEndian && k.size > 1 {
		b = bytes.Clone(b)
		readall.Swap(b, k.size)
	}
	return k, b, true
}

// convertAll returns the elements of data (one of the slice types of
// NPY.Data) converted to D: bools as 0 and 1, half floats exactly, floats
// truncated toward zero for an integer D. It always returns a new slice.
func convertAll[D float32 | int64](data any) []D {
	switch d := data.(type) {
	case []bool:
		out := make([]D, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out
	case []Float16:
		out := make([]D, len(d))
		for i, v := range d {
			out[i] = D(v.Float32())
		}
		return out
	case []int8:
		return convert[D](d)
	case []uint8:
		return convert[D](d)
	case []int16:
		return convert[D](d)
	case []uint16:
		return convert[D](d)
	case []int32:
		return convert[D](d)
	case []uint32:
		return convert[D](d)
	case []int64:
		return convert[D](d)
	case []uint64:
		return convert[D](d)
	case []float32:
		return convert[D](d)
	case []float64:
		return convert[D](d)
	}
	return nil
}

type number interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~float32 | ~float64
}

func convert[D, S number](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}

// transposeFortran reorders the elements in raw (column-major, of the given
// shape and element size) to row-major, into a new aligned buffer.
func transposeFortran(raw []byte, shape []int, size int) []byte {
	out := readall.Alloc(len(raw))
	switch size {
	case 1:
		transposeF(out, raw, shape)
	case 2:
		transposeF(view[uint16](out), view[uint16](raw), shape)
	case 4:
		transposeF(view[uint32](out), view[uint32](raw), shape)
	case 8:
		transposeF(view[uint64](out), view[uint64](raw), shape)
	}
	return out
}

// transposeF writes column-major in of the given shape to out row-major.
func transposeF[T any](out, in []T, shape []int) {
	if len(in) == 0 {
		return
	}
	nd := len(shape)
	fstride := make([]int, nd) // strides of the Fortran layout
	s := 1
	for i := 0; i < nd; i++ {
		fstride[i] = s
		s *= shape[i]
	}
	idx := make([]int, nd)
	src := 0
	for c := range out {
		out[c] = in[src]
		// Advance the row-major multi-index, updating the Fortran offset.
		for ax := nd - 1; ax >= 0; ax-- {
			idx[ax]++
			src += fstride[ax]
			if idx[ax] < shape[ax] {
				break
			}
			src -= idx[ax] * fstride[ax]
			idx[ax] = 0
		}
	}
}
