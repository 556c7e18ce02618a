package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Element is a Go type with a fixed safetensors dtype.
type Element interface {
	bool | uint8 | int8 | uint16 | int16 | uint32 | int32 | float32 | uint64 | int64 | float64
}

// DTypeOf returns the safetensors dtype name of the Go type T.
func DTypeOf[T Element]() string {
	var z T
	switch any(z).(type) {
	case bool:
		return "BOOL"
	case uint8:
		return "U8"
	case int8:
		return "I8"
	case uint16:
		return "U16"
	case int16:
		return "I16"
	case uint32:
		return "U32"
	case int32:
		return "I32"
	case float32:
		return "F32"
	case uint64:
		return "U64"
	case int64:
		return "I64"
	default: // float64
		return "F64"
	}
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Encode returns a TensorInfo holding v as little-endian bytes with the
// dtype of T. It returns an error if the shape does not hold len(v) elements.
func Encode[T Element](v []T, shape ...int) (TensorInfo, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return TensorInfo{}, invalidf("negative dimension in shape %v", shape)
		}
		n *= s
	}
	if n != len(v) {
		return TensorInfo{}, invalidf("shape %v holds %d elements, got %d", shape, n, len(v))
	}
	dt := DTypeOf[T]()
	b := encode(v)
	return TensorInfo{DType: dt, Shape: append([]int{}, shape...), Data: b}, nil
}

// Decode returns the elements of t as a new []T. It returns an error if
// t's dtype is not T's dtype or its Data does not match its shape.
func Decode[T Element](t TensorInfo) ([]T, error) {
	dt := DTypeOf[T]()
	if t.DType != dt {
		return nil, fmt.Errorf("safetensors: tensor has dtype %s, not %s", t.DType, dt)
	}
	size, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return nil, err
	}
	if uint64(len(t.Data)) != size {
		return nil, invalidf("dtype %s and shape %v need %d bytes, Data has %d", t.DType, t.Shape, size, len(t.Data))
	}
	return decode[T](t.Data), nil
}

// encode converts a whole slice to little-endian bytes.
func encode[T Element](v []T) []byte {
	le := binary.LittleEndian
	switch d := any(v).(type) {
	case []bool:
		b := make([]byte, len(d))
		for i, x := range d {
			if x {
				b[i] = 1
			}
		}
		return b
	case []uint8:
		return append([]byte{}, d...)
	case []int8:
		b := make([]byte, len(d))
		for i, x := range d {
			b[i] = byte(x)
		}
		return b
	case []uint16:
		return appendEach(d, 2, func(b []byte, x uint16) { le.PutUint16(b, x) })
	case []int16:
		return appendEach(d, 2, func(b []byte, x int16) { le.PutUint16(b, uint16(x)) })
	case []uint32:
		return appendEach(d, 4, func(b []byte, x uint32) { le.PutUint32(b, x) })
	case []int32:
		return appendEach(d, 4, func(b []byte, x int32) { le.PutUint32(b, uint32(x)) })
	case []float32:
		return appendEach(d, 4, func(b []byte, x float32) { le.PutUint32(b, math.Float32bits(x)) })
	case []uint64:
		return appendEach(d, 8, func(b []byte, x uint64) { le.PutUint64(b, x) })
	case []int64:
		return appendEach(d, 8, func(b []byte, x int64) { le.PutUint64(b, uint64(x)) })
	case []float64:
		return appendEach(d, 8, func(b []byte, x float64) { le.PutUint64(b, math.Float64bits(x)) })
	}
	return nil
}

func appendEach[T any](v []T, w int, put func([]byte, T)) []byte {
	b := make([]byte, len(v)*w)
	for i, x := range v {
		put(b[i*w:], x)
	}
	return b
}

// decode converts little-endian bytes (a whole number of elements) to []T.
func decode[T Element](b []byte) []T {
	le := binary.LittleEndian
	var out any
	switch any([]T(nil)).(type) {
	case []bool:
		d := make([]bool, len(b))
		for i, x := range b {
			d[i] = x != 0
		}
		out = d
	case []uint8:
		out = append([]uint8{}, b...)
	case []int8:
		out = getEach(b, 1, func(b []byte) int8 { return int8(b[0]) })
	case []uint16:
		out = getEach(b, 2, le.Uint16)
	case []int16:
		out = getEach(b, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case []uint32:
		out = getEach(b, 4, le.Uint32)
	case []int32:
		out = getEach(b, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case []float32:
		out = getEach(b, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case []uint64:
		out = getEach(b, 8, le.Uint64)
	case []int64:
		out = getEach(b, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case []float64:
		out = getEach(b, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
	return out.([]T)
}

func getEach[T any](b []byte, w int, get func([]byte) T) []T {
	out := make([]T, len(b)/w)
	for i := range out {
		out[i] = get(b[i*w:])
	}
	return out
}
