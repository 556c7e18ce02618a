// Package readall is the one reader behind Tessera's file formats (data's
// IDX, .npy and CSV readers, safetensors): it reads a declared number of
// bytes into one buffer of exactly that size, sized from the input when
// the input can tell how much it holds, and otherwise grown so that an
// honest input costs at most 4/3 of its size and a header that lies about
// a short input costs a bounded multiple of what the input really holds.
//
// Buffers come back aligned to 8 bytes, so that As can view them as
// slices of fixed-size numbers without a copy.
package readall

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"unsafe"
)

// Chunk is the size up to which ReadN allocates the declared size at once,
// whatever the input; above it, an input of unknown size must first
// deliver part of the declared size (see ReadN).
const Chunk = 1 << 20

// ErrTooLarge is returned for a declared size that does not fit in memory
// addressable by this program (more than math.MaxInt bytes).
var ErrTooLarge = errors.New("declared size exceeds the address space")

// Sizer is implemented by readers that know how many bytes they have left
// (for example a reader that wraps an *os.File in a bufio.Reader).
type Sizer interface {
	// Remaining returns the number of bytes left and whether it is known.
	Remaining() (int64, bool)
}

// Remaining returns the number of bytes r has left when r can tell: a
// Sizer, *bytes.Reader, *bytes.Buffer, *strings.Reader, *io.SectionReader
// or an *os.File that is a regular file.
func Remaining(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case Sizer:
		return v.Remaining()
	case *bytes.Reader:
		return int64(v.Len()), true
	case *bytes.Buffer:
		return int64(v.Len()), true
	case *strings.Reader:
		return int64(v.Len()), true
	case *io.SectionReader:
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return max(v.Size()-pos, 0), true
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return max(fi.Size()-pos, 0), true
	}
	return 0, false
}

// ReadN reads exactly n bytes from r and returns them in a new buffer of
// length n aligned to 8 bytes. It returns io.ErrUnexpectedEOF when r ends
// first (also at once, without reading, when r tells that it holds fewer
// than n bytes), ErrTooLarge when n exceeds math.MaxInt, and r's other
// errors as they are.
//
// Memory: when r's size is known (see Remaining) or n <= Chunk, ReadN
// allocates n bytes once. Otherwise it reads the first third of n into
// chunks, then allocates the n-byte buffer and copies them in: at most 4/3
// n bytes in all for an input that holds n, and for an input that holds
// only m < n bytes at most about 4m (a header cannot make a short input
// allocate memory it does not have the bytes to justify).
func ReadN(r io.Reader, n uint64) ([]byte, error) {
	if n > math.MaxInt {
		return nil, ErrTooLarge
	}
	if rem, ok := Remaining(r); ok {
		if uint64(rem) < n {
			return nil, io.ErrUnexpectedEOF
		}
		return readFull(r, Alloc(int(n)))
	}
	if n <= Chunk {
		return readFull(r, Alloc(int(n)))
	}
	trust := int(n / 3)
	var chunks [][]byte
	got := 0
	for size := Chunk; got < trust; size *= 2 {
		c := make([]byte, min(size, trust-got))
		k, err := io.ReadFull(r, c)
		got += k
		if err != nil {
			return nil, eof(err)
		}
		chunks = append(chunks, c)
	}
	buf := Alloc(int(n))
	off := 0
	for i, c := range chunks {
		off += copy(buf[off:], c)
		chunks[i] = nil
	}
	if _, err := readFull(r, buf[off:]); err != nil {
		return nil, err
	}
	return buf, nil
}

func readFull(r io.Reader, b []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, eof(err)
	}
	return b, nil
}

// eof turns io.EOF (nothing read where bytes were expected) into
// io.ErrUnexpectedEOF.
func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Alloc returns a zeroed buffer of n bytes aligned to 8 bytes.
func Alloc(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}

// Number is a fixed-size type that As and Bytes may view memory as.
type Number interface {
	~bool | ~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~float32 | ~float64
}

// As returns the memory of b as a []T without copying, or nil and false
// when b is not aligned for T or its length is not a multiple of T's size.
// For T = bool every byte of b must be 0 or 1.
func As[T Number](b []byte) ([]T, bool) {
	var z T
	size := int(unsafe.Sizeof(z))
	if len(b)%size != 0 {
		return nil, false
	}
	if len(b) == 0 {
		return []T{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(z) != 0 {
		return nil, false
	}
	return unsafe.Slice((*T)(p), len(b)/size), true
}

// Bytes returns the memory of s as bytes, without copying.
func Bytes[T Number](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// LittleEndian reports whether this machine stores numbers little-endian
// (then the bytes of little-endian files are already in native order).
var LittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Swap reverses the byte order of every size-byte element of b in place
// (size 1, 2, 4 or 8; len(b) a multiple of size).
func Swap(b []byte, size int) {
	switch size {
	case 2:
		if v, ok := As[uint16](b); ok {
			for i, x := range v {
				v[i] = bits.ReverseBytes16(x)
			}
			return
		}
	case 4:
		if v, ok := As[uint32](b); ok {
			for i, x := range v {
				v[i] = bits.ReverseBytes32(x)
			}
			return
		}
	case 8:
		if v, ok := As[uint64](b); ok {
			for i, x := range v {
				v[i] = bits.ReverseBytes64(x)
			}
			return
		}
	default:
		return
	}
	for i := 0; i+size <= len(b); i += size {
		slices.Reverse(b[i : i+size])
	}
}
