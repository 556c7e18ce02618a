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

// idxKinds maps the IDX element types to their element kinds.
var idxKinds = map[IDXType]elemKind{
	IDXUint8: kindU8, IDXInt8: kindI8, IDXInt16: kindI16,
	IDXInt32: kindI32, IDXFloat32: kindF32, IDXFloat64: kindF64,
}

// Size returns the width in bytes of one element, or 0 for an unknown type.
func (t IDXType) Size() int { return idxKinds[t].size }

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
func (x *IDX) Float32() []float32 { return convertAll[float32](x.Data) }

// Int64 returns the elements converted to int64 (floats are truncated).
func (x *IDX) Int64() []int64 { return convertAll[int64](x.Data) }

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
	return &IDX{Type: typ, Dims: dims, Data: decodeElems(idxKinds[typ], raw, false)}, nil
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
	k, body, ok := encodeElems(x.Data, false)
	if !ok || dataType(x.Data) == 0 {
		return fmt.Errorf("data: idx: unsupported Data type %T", x.Data)
	}
	if idxKinds[x.Type] != k {
		return fmt.Errorf("data: idx: Type %v does not match Data of type %T", x.Type, x.Data)
	}
	if n := len(body) / k.size; n != count {
		return fmt.Errorf("data: idx: %d elements for dimensions %v", n, x.Dims)
	}
	be := binary.BigEndian
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

// dataType returns the IDX type of a Data slice, 0 for a type IDX lacks.
func dataType(d any) IDXType {
	k, _, ok := encodeElems(d, false)
	if !ok {
		return 0
	}
	for t, tk := range idxKinds {
		if tk == k {
			return t
		}
	}
	return 0
}
