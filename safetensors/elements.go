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
	w := dtypes[dt].bits / 8
	b := make([]byte, len(v)*w)
	for i, x := range v {
		putElem(b[i*w:], any(x))
	}
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
	w := dtypes[dt].bits / 8
	out := make([]T, len(t.Data)/w)
	for i := range out {
		out[i] = getElem[T](t.Data[i*w:])
	}
	return out, nil
}

func putElem(b []byte, x any) {
	le := binary.LittleEndian
	switch v := x.(type) {
	case bool:
		if v {
			b[0] = 1
		} else {
			b[0] = 0
		}
	case uint8:
		b[0] = v
	case int8:
		b[0] = byte(v)
	case uint16:
		le.PutUint16(b, v)
	case int16:
		le.PutUint16(b, uint16(v))
	case uint32:
		le.PutUint32(b, v)
	case int32:
		le.PutUint32(b, uint32(v))
	case float32:
		le.PutUint32(b, math.Float32bits(v))
	case uint64:
		le.PutUint64(b, v)
	case int64:
		le.PutUint64(b, uint64(v))
	case float64:
		le.PutUint64(b, math.Float64bits(v))
	}
}

func getElem[T Element](b []byte) T {
	le := binary.LittleEndian
	var z T
	var v any
	switch any(z).(type) {
	case bool:
		v = b[0] != 0
	case uint8:
		v = b[0]
	case int8:
		v = int8(b[0])
	case uint16:
		v = le.Uint16(b)
	case int16:
		v = int16(le.Uint16(b))
	case uint32:
		v = le.Uint32(b)
	case int32:
		v = int32(le.Uint32(b))
	case float32:
		v = math.Float32frombits(le.Uint32(b))
	case uint64:
		v = le.Uint64(b)
	case int64:
		v = int64(le.Uint64(b))
	case float64:
		v = math.Float64frombits(le.Uint64(b))
	}
	return v.(T)
}
