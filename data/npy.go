package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Float16 is an IEEE 754 half-precision number, as stored in .npy files of
// dtype '<f2'.
type Float16 uint16

// Float32 converts h to float32 exactly.
func (h Float16) Float32() float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = frac * 2^-24.
		f := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// NPY is an array read from a NumPy .npy file.
type NPY struct {
	// Shape is the array's shape; empty for a 0-d array.
	Shape []int
	// DType is the NumPy type string, e.g. "<f4", "<i8", "|u1", "|b1".
	DType string
	// Fortran reports that the file stored the array in Fortran (column-major)
	// order. Data is always in C (row-major) order.
	Fortran bool
	// Data holds the elements in C order in a slice of the Go type that
	// DType names: []bool (|b1), []int8 (|i1), []uint8 (|u1), []int16 (<i2),
	// []uint16 (<u2), []int32 (<i4), []uint32 (<u4), []int64 (<i8),
	// []uint64 (<u8), []Float16 (<f2), []float32 (<f4) or []float64 (<f8).
	Data any
}

// Len returns the number of elements.
func (a *NPY) Len() int { return prod(a.Shape) }

// Float32 returns the elements converted to float32 (bools as 0 and 1).
func (a *NPY) Float32() []float32 { return convertAll[float32](a.Data) }

// Int64 returns the elements converted to int64 (floats truncated, bools as
// 0 and 1).
func (a *NPY) Int64() []int64 { return convertAll[int64](a.Data) }

const (
	npyMagic         = "\x93NUMPY"
	npyMaxHeader     = 1 << 20 // header bytes accepted by ReadNPY
	npyAlign         = 64
	npyGrowthDigits  = 21
	npyHeaderV1Limit = math.MaxUint16
)

func parseDescr(descr string) (elemKind, string, error) {
	if len(descr) < 2 {
		return elemKind{}, "", fmt.Errorf("unsupported dtype %q", descr)
	}
	order, rest := descr[0], descr[1:]
	if order != '<' && order != '>' && order != '|' && order != '=' {
		order, rest = '|', descr
	}
	if strings.HasPrefix(rest, "O") {
		return elemKind{}, "", fmt.Errorf("object arrays (dtype %q) are not supported: they hold pickled Python objects", descr)
	}
	if len(rest) < 2 {
		return elemKind{}, "", fmt.Errorf("unsupported dtype %q", descr)
	}
	size, err := strconv.Atoi(rest[1:])
	if err != nil {
		return elemKind{}, "", fmt.Errorf("unsupported dtype %q", descr)
	}
	k := elemKind{rest[0], size}
	switch k {
	case elemKind{'b', 1}, elemKind{'i', 1}, elemKind{'u', 1}:
		return k, "|" + rest, nil
	case elemKind{'i', 2}, elemKind{'u', 2}, elemKind{'i', 4}, elemKind{'u', 4},
		elemKind{'i', 8}, elemKind{'u', 8}, elemKind{'f', 2}, elemKind{'f', 4}, elemKind{'f', 8}:
		switch order {
		case '<':
			return k, "<" + rest, nil
		case '>':
			return elemKind{}, "", fmt.Errorf("big-endian arrays (dtype %q) are not supported; convert with arr.astype(arr.dtype.newbyteorder('<'))", descr)
		}
		return elemKind{}, "", fmt.Errorf("dtype %q has no explicit little-endian byte order", descr)
	}
	return elemKind{}, "", fmt.Errorf("unsupported dtype %q (supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8, little-endian)", descr)
}

// ReadNPY reads a NumPy .npy file (format version 1.0, 2.0 or 3.0; raw or
// gzip-compressed) from r. It supports little-endian boolean, integer and
// floating-point arrays in C or Fortran order; big-endian, object and
// structured arrays are an error wrapping ErrFormat, as are truncated files.
// It allocates no more than the input really holds.
func ReadNPY(r io.Reader) (*NPY, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, ioErr("npy", "magic string", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, formatErr("npy", "not a .npy file (bad magic string %q)", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen uint64
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, ioErr("npy", "header length", err)
		}
		hlen = uint64(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, ioErr("npy", "header length", err)
		}
		hlen = uint64(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, formatErr("npy", "unsupported format version %d.%d", major, minor)
	}
	if minor != 0 {
		return nil, formatErr("npy", "unsupported format version %d.%d", major, minor)
	}
	if hlen > npyMaxHeader {
		return nil, formatErr("npy", "header of %d bytes exceeds the limit of %d", hlen, npyMaxHeader)
	}
	hdr, err := readN(r, hlen)
	if err != nil {
		return nil, ioErr("npy", "header", err)
	}
	descr, fortran, shape, err := parseNPYHeader(hdr)
	if err != nil {
		return nil, formatErr("npy", "header %q: %v", hdr, err)
	}
	kind, dtype, err := parseDescr(descr)
	if err != nil {
		return nil, formatErr("npy", "%v", err)
	}
	count := uint64(1)
	for _, d := range shape {
		var hi uint64
		hi, count = bits.Mul64(count, uint64(d))
		if hi != 0 {
			return nil, formatErr("npy", "shape %v overflows", shape)
		}
	}
	hi, nbytes := bits.Mul64(count, uint64(kind.size))
	if hi != 0 || nbytes > math.MaxInt {
		return nil, formatErr("npy", "shape %v is too large", shape)
	}
	raw, err := readN(r, nbytes)
	if err != nil {
		return nil, ioErr("npy", fmt.Sprintf("data (shape %v of %s needs %d bytes)", shape, dtype, nbytes), err)
	}
	if err := expectEOF(r); err == errTrailing {
		return nil, formatErr("npy", "data after the %d elements of shape %v", count, shape)
	} else if err != nil {
		return nil, ioErr("npy", "end of file", err)
	}
	if fortran && len(shape) > 1 {
		raw = transposeFortran(raw, shape, kind.size)
	}
	return &NPY{Shape: shape, DType: dtype, Fortran: fortran, Data: decodeElems(kind, raw, true)}, nil
}

// ReadNPYFile reads the .npy file at path.
func ReadNPYFile(path string) (*NPY, error) {
	return withFile(path, ReadNPY)
}

// parseNPYHeader parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYHeader(h []byte) (descr string, fortran bool, shape []int, err error) {
	p := &pyParser{s: h}
	p.skipSpace()
	if !p.eat('{') {
		return "", false, nil, fmt.Errorf("expected '{' at offset %d", p.i)
	}
	var haveDescr, haveOrder, haveShape bool
	for {
		p.skipSpace()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		p.skipSpace()
		if !p.eat(':') {
			return "", false, nil, fmt.Errorf("expected ':' at offset %d", p.i)
		}
		p.skipSpace()
		switch key {
		case "descr":
			if haveDescr {
				return "", false, nil, fmt.Errorf("duplicate key 'descr'")
			}
			if p.peek() == '[' {
				return "", false, nil, fmt.Errorf("structured arrays are not supported")
			}
			descr, err = p.str()
			haveDescr = true
		case "fortran_order":
			if haveOrder {
				return "", false, nil, fmt.Errorf("duplicate key 'fortran_order'")
			}
			fortran, err = p.boolean()
			haveOrder = true
		case "shape":
			if haveShape {
				return "", false, nil, fmt.Errorf("duplicate key 'shape'")
			}
			shape, err = p.tuple()
			haveShape = true
		default:
			return "", false, nil, fmt.Errorf("unexpected key %q", key)
		}
		if err != nil {
			return "", false, nil, err
		}
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		p.skipSpace()
		if !p.eat('}') {
			return "", false, nil, fmt.Errorf("expected ',' or '}' at offset %d", p.i)
		}
		break
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return "", false, nil, fmt.Errorf("unexpected data after the dict at offset %d", p.i)
	}
	if !haveDescr || !haveOrder || !haveShape {
		return "", false, nil, fmt.Errorf("missing one of the keys 'descr', 'fortran_order', 'shape'")
	}
	return descr, fortran, shape, nil
}

type pyParser struct {
	s []byte
	i int
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// str parses a simple quoted string literal without escapes.
func (p *pyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a string at offset %d", p.i)
	}
	end := bytes.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at offset %d", p.i)
	}
	s := string(p.s[p.i+1 : p.i+1+end])
	if strings.ContainsRune(s, '\\') {
		return "", fmt.Errorf("escapes in strings are not supported")
	}
	p.i += end + 2
	return s, nil
}

func (p *pyParser) boolean() (bool, error) {
	rest := p.s[p.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("True")):
		p.i += 4
		return true, nil
	case bytes.HasPrefix(rest, []byte("False")):
		p.i += 5
		return false, nil
	}
	return false, fmt.Errorf("expected True or False at offset %d", p.i)
}

// tuple parses a tuple of non-negative integers: (), (3,), (3, 4) or (3L, 4L).
func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("expected a tuple at offset %d", p.i)
	}
	out := []int{}
	for {
		p.skipSpace()
		if p.eat(')') {
			return out, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if start == p.i {
			return nil, fmt.Errorf("expected a non-negative integer at offset %d", p.i)
		}
		v, err := strconv.ParseInt(string(p.s[start:p.i]), 10, 64)
		if err != nil || v > math.MaxInt {
			return nil, fmt.Errorf("dimension %s is too large", p.s[start:p.i])
		}
		p.eat('L')
		out = append(out, int(v))
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		p.skipSpace()
		if !p.eat(')') {
			return nil, fmt.Errorf("expected ',' or ')' at offset %d", p.i)
		}
		if len(out) == 1 {
			return nil, fmt.Errorf("a 1-tuple needs a trailing comma")
		}
		return out, nil
	}
}

// WriteNPY writes data with the given shape to w as a NumPy .npy file in C
// order, byte for byte as numpy.save writes it (format 1.0, or 2.0 when the
// header needs more than 65535 bytes). data is one of the slice types listed
// for NPY.Data and must hold the product of shape elements.
func WriteNPY(w io.Writer, shape []int, data any) error {
	k, body, ok := encodeElems(data, true)
	if !ok {
		return fmt.Errorf("data: npy: unsupported data type %T", data)
	}
	descr := "<" + k.String()
	if k.size == 1 {
		descr = "|" + k.String()
	}
	n := len(body) / k.size
	count := 1
	for _, s := range shape {
		if s < 0 {
			return fmt.Errorf("data: npy: negative dimension in shape %v", shape)
		}
		count *= s
	}
	if count != n {
		return fmt.Errorf("data: npy: shape %v holds %d elements, data has %d", shape, count, n)
	}
	if _, err := w.Write(npyHeader(descr, shape)); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// npyHeader returns the magic, version, header length and padded header
// exactly as numpy.lib.format writes them.
func npyHeader(descr string, shape []int) []byte {
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(descr)
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, s := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	if len(shape) > 0 {
		// Spare room so the first axis can grow in place (numpy >= 1.24).
		sb.WriteString(strings.Repeat(" ", max(0, npyGrowthDigits-len(strconv.Itoa(shape[0])))))
	}
	h := sb.String()
	for _, v := range []struct {
		major   byte
		lenSize int
	}{{1, 2}, {2, 4}} {
		hlen := len(h) + 1
		pad := npyAlign - (len(npyMagic)+2+v.lenSize+hlen)%npyAlign
		total := hlen + pad
		if v.major == 1 && total > npyHeaderV1Limit {
			continue
		}
		out := append([]byte(npyMagic), v.major, 0)
		if v.lenSize == 2 {
			out = binary.LittleEndian.AppendUint16(out, uint16(total))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(total))
		}
		out = append(out, h...)
		out = append(out, bytes.Repeat([]byte{' '}, pad)...)
		return append(out, '\n')
	}
	return nil // unreachable: a 2.0 header holds any shape we can write
}
