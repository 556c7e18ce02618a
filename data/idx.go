package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// IDXType is the element type code of an IDX file (the third magic byte).
type IDXType byte

// The IDX element types.
const (
	IDXUint8   IDXType = 0x08 // unsigned byte; Data is []uint8
	IDXInt8    IDXType = 0x09 // signed byte; Data is []int8
	IDXInt16   IDXType = 0x0B // big-endian int16; Data is []int16
	IDXInt32   IDXType = 0x0C // big-endian int32; Data is []int32
	IDXFloat32 IDXType = 0x0D // big-endian float32; Data is []float32
	IDXFloat64 IDXType = 0x0E // big-endian float64; Data is []float64
)

// Size returns the width in bytes of one element, or 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "uint8"
	case IDXInt8:
		return "int8"
	case IDXInt16:
		return "int16"
	case IDXInt32:
		return "int32"
	case IDXFloat32:
		return "float32"
	case IDXFloat64:
		return "float64"
	}
	return fmt.Sprintf("IDXType(0x%02x)", byte(t))
}

// IDX is the contents of an IDX file, the format of MNIST and
// Fashion-MNIST: a 4-byte magic (0, 0, type, number of dimensions), one
// big-endian uint32 per dimension, then the elements, big-endian, row-major.
type IDX struct {
	Type IDXType
	Dims []int
	// Data holds the elements in a slice of the Go type that Type names:
	// []uint8, []int8, []int16, []int32, []float32 or []float64.
	Data any
}

// Len returns the number of elements (the product of Dims).
func (x *IDX) Len() int { return prod(x.Dims) }

// Float32 returns the elements converted to float32 (no scaling).
func (x *IDX) Float32() []float32 {
	switch d := x.Data.(type) {
	case []uint8:
		return convert[float32](d)
	case []int8:
		return convert[float32](d)
	case []int16:
		return convert[float32](d)
	case []int32:
		return convert[float32](d)
	case []float32:
		return append([]float32(nil), d...)
	case []float64:
		return convert[float32](d)
	}
	return nil
}

// Int64 returns the elements converted to int64 (floats are truncated).
func (x *IDX) Int64() []int64 {
	switch d := x.Data.(type) {
	case []uint8:
		return convert[int64](d)
	case []int8:
		return convert[int64](d)
	case []int16:
		return convert[int64](d)
	case []int32:
		return convert[int64](d)
	case []float32:
		return convert[int64](d)
	case []float64:
		return convert[int64](d)
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

// ReadIDX reads one IDX file from r, raw or gzip-compressed (detected by the
// gzip magic bytes). It returns an error wrapping ErrFormat for a bad magic,
// an unknown element type, a truncated file or data after the last element;
// it allocates no more than the input really holds.
func ReadIDX(r io.Reader) (*IDX, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, ioErr("idx", "magic number", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, formatErr("idx", "bad magic number % x (want 00 00 type ndim)", magic)
	}
	typ := IDXType(magic[2])
	size := typ.Size()
	if size == 0 {
		return nil, formatErr("idx", "unknown element type 0x%02x", magic[2])
	}
	ndim := int(magic[3])
	dimBytes, err := readN(r, uint64(4*ndim))
	if err != nil {
		return nil, ioErr("idx", "dimensions", err)
	}
	dims := make([]int, ndim)
	count := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if uint64(d) > math.MaxInt {
			return nil, formatErr("idx", "dimension %d is too large", d)
		}
		dims[i] = int(d)
		var hi uint64
		hi, count = bits.Mul64(count, uint64(d))
		if hi != 0 {
			return nil, formatErr("idx", "dimensions %v overflow", dims[:i+1])
		}
	}
	hi, nbytes := bits.Mul64(count, uint64(size))
	if hi != 0 || nbytes > math.MaxInt {
		return nil, formatErr("idx", "dimensions %v are too large", dims)
	}
	raw, err := readN(r, nbytes)
	if err != nil {
		return nil, ioErr("idx", fmt.Sprintf("data (dimensions %v of %s need %d bytes)", dims, typ, nbytes), err)
	}
	if err := expectEOF(r); err == errTrailing {
		return nil, formatErr("idx", "data after the %d elements of dimensions %v", count, dims)
	} else if err != nil {
		return nil, ioErr("idx", "end of file", err)
	}
	x := &IDX{Type: typ, Dims: dims}
	n := int(count)
	be := binary.BigEndian
	switch typ {
	case IDXUint8:
		x.Data = raw
	case IDXInt8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(raw[i])
		}
		x.Data = d
	case IDXInt16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(be.Uint16(raw[2*i:]))
		}
		x.Data = d
	case IDXInt32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(be.Uint32(raw[4*i:]))
		}
		x.Data = d
	case IDXFloat32:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(be.Uint32(raw[4*i:]))
		}
		x.Data = d
	case IDXFloat64:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(be.Uint64(raw[8*i:]))
		}
		x.Data = d
	}
	return x, nil
}

// ReadIDXFile reads the IDX file at path (raw or gzip-compressed).
func ReadIDXFile(path string) (*IDX, error) {
	return withFile(path, ReadIDX)
}

// WriteIDX writes x to w as an uncompressed IDX file. x.Data must be the
// slice type that x.Type names and hold the product of x.Dims elements.
func WriteIDX(w io.Writer, x *IDX) error {
	if len(x.Dims) > 255 {
		return fmt.Errorf("data: idx: %d dimensions, at most 255", len(x.Dims))
	}
	count := 1
	for _, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("data: idx: dimension %d out of range", d)
		}
		count *= d
	}
	var n int
	var body []byte
	be := binary.BigEndian
	switch d := x.Data.(type) {
	case []uint8:
		n, body = len(d), d
	case []int8:
		n = len(d)
		for _, v := range d {
			body = append(body, byte(v))
		}
	case []int16:
		n = len(d)
		for _, v := range d {
			body = be.AppendUint16(body, uint16(v))
		}
	case []int32:
		n = len(d)
		for _, v := range d {
			body = be.AppendUint32(body, uint32(v))
		}
	case []float32:
		n = len(d)
		for _, v := range d {
			body = be.AppendUint32(body, math.Float32bits(v))
		}
	case []float64:
		n = len(d)
		for _, v := range d {
			body = be.AppendUint64(body, math.Float64bits(v))
		}
	default:
		return fmt.Errorf("data: idx: unsupported Data type %T", x.Data)
	}
	if want := dataType(x.Data); want != x.Type {
		return fmt.Errorf("data: idx: Type %v does not match Data of type %T", x.Type, x.Data)
	}
	if n != count {
		return fmt.Errorf("data: idx: %d elements for dimensions %v", n, x.Dims)
	}
	hdr := []byte{0, 0, byte(x.Type), byte(len(x.Dims))}
	for _, d := range x.Dims {
		hdr = be.AppendUint32(hdr, uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

func dataType(d any) IDXType {
	switch d.(type) {
	case []uint8:
		return IDXUint8
	case []int8:
		return IDXInt8
	case []int16:
		return IDXInt16
	case []int32:
		return IDXInt32
	case []float32:
		return IDXFloat32
	case []float64:
		return IDXFloat64
	}
	return 0
}
