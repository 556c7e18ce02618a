package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/tessera-ml/tessera/internal/readall"
)

// MaxHeaderSize is the largest header (in bytes) that Read and Parse accept
// by default (DefaultLimits.HeaderSize), the same bound as the reference
// implementation (100 MB).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key for the free-form string map.
const metadataKey = "__metadata__"

// ErrInvalid is wrapped by every error that reports a malformed file or an
// invalid tensor given to Write; test for it with errors.Is.
var ErrInvalid = errors.New("safetensors: invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// TensorInfo is one tensor: its dtype name as the format spells it ("F32",
// "BF16", "I64", ...), its shape (an empty shape is a scalar) and its raw
// little-endian, row-major bytes.
type TensorInfo struct {
	DType string
	Shape []int
	Data  []byte
}

// File is a parsed safetensors file.
type File struct {
	// Metadata is the header's "__metadata__" map; nil when the header has none.
	Metadata map[string]string
	// Tensors maps each tensor's name to its dtype, shape and bytes.
	Tensors map[string]TensorInfo
	// Names lists the tensor names in the order of their bytes in the buffer.
	Names []string
}

// byteSize returns the number of bytes that a tensor of the given dtype and
// shape occupies, or an error when the shape is invalid, the size overflows,
// or the element count times the width is not a whole number of bytes.
func byteSize(dtype string, shape []int) (uint64, error) {
	d, ok := dtypes[dtype]
	if !ok {
		return 0, invalidf("unknown dtype %q", dtype)
	}
	n := uint64(1)
	for _, s := range shape {
		if s < 0 {
			return 0, invalidf("negative dimension %d in shape %v", s, shape)
		}
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 {
			return 0, invalidf("shape %v overflows", shape)
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, uint64(d.bits))
	if hi != 0 {
		return 0, invalidf("shape %v of %s overflows", shape, dtype)
	}
	if nbits%8 != 0 {
		return 0, invalidf("shape %v of %s is not a whole number of bytes", shape, dtype)
	}
	return nbits / 8, nil
}

// headerEntry is one tensor entry of a parsed header.
type headerEntry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// Parse parses a whole safetensors file held in b. The returned tensors'
// Data slices alias b (no copy is made). The header must keep within
// DefaultLimits.
func Parse(b []byte) (*File, error) { return ParseLimits(b, DefaultLimits) }

// ParseLimits is Parse with other limits on the header.
func ParseLimits(b []byte, lim Limits) (*File, error) {
	if len(b) < 8 {
		return nil, invalidf("file of %d bytes is shorter than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > lim.HeaderSize {
		return nil, invalidf("header length %d exceeds the limit of %d bytes", n, lim.HeaderSize)
	}
	if n > uint64(len(b)-8) {
		return nil, invalidf("header length %d exceeds the %d bytes that follow it", n, len(b)-8)
	}
	entries, meta, bufLen, err := parseHeader(b[8:8+n], lim)
	if err != nil {
		return nil, err
	}
	buf := b[8+n:]
	if bufLen != uint64(len(buf)) {
		return nil, invalidf("tensors cover %d bytes but the buffer holds %d", bufLen, len(buf))
	}
	return buildFile(entries, meta, buf), nil
}

// Read reads a safetensors file from r until EOF. Each tensor's Data is a
// buffer of its own, aligned to 8 bytes. Read sizes its buffers from r when
// r can tell its size (an *os.File, a *bytes.Reader, ...) and otherwise
// allocates no more than about 4/3 of what r really delivers, whatever the
// header declares.
//
// The header must keep within DefaultLimits.
func Read(r io.Reader) (*File, error) { return ReadLimits(r, DefaultLimits) }

// ReadLimits is Read with other limits on the header.
func ReadLimits(r io.Reader, lim Limits) (*File, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, readErr("header length", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > lim.HeaderSize {
		return nil, invalidf("header length %d exceeds the limit of %d bytes", n, lim.HeaderSize)
	}
	hdr, err := readN(r, n)
	if err != nil {
		return nil, readErr("header", err)
	}
	entries, meta, bufLen, err := parseHeader(hdr, lim)
	if err != nil {
		return nil, err
	}
	if rem, ok := readall.Remaining(r); ok && uint64(rem) < bufLen {
		return nil, readErr("tensor buffer", io.ErrUnexpectedEOF)
	}
	f := &File{Metadata: meta, Tensors: make(map[string]TensorInfo, len(entries)), Names: make([]string, 0, len(entries))}
	for _, e := range entries {
		data, err := readN(r, e.end-e.begin)
		if err != nil {
			return nil, readErr("tensor buffer", err)
		}
		f.Tensors[e.name] = TensorInfo{DType: e.dtype, Shape: e.shape, Data: data}
		f.Names = append(f.Names, e.name)
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k != 0 {
		return nil, invalidf("data after the %d-byte tensor buffer", bufLen)
	}
	return f, nil
}

// ReadFile reads and parses the safetensors file at path.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidf("truncated %s", what)
	}
	return fmt.Errorf("safetensors: reading %s: %w", what, err)
}

// readN reads exactly n bytes from r into an 8-byte aligned buffer (the
// reader shared with package data; see readall.ReadN).
func readN(r io.Reader, n uint64) ([]byte, error) {
	b, err := readall.ReadN(r, n)
	if errors.Is(err, readall.ErrTooLarge) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

func buildFile(entries []headerEntry, meta map[string]string, buf []byte) *File {
	f := &File{Metadata: meta, Tensors: make(map[string]TensorInfo, len(entries))}
	for _, e := range entries {
		f.Tensors[e.name] = TensorInfo{DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
		f.Names = append(f.Names, e.name)
	}
	return f
}

// parseHeader validates the JSON header and returns the tensor entries sorted
// by offset, the metadata map and the length of the buffer they cover.
func parseHeader(h []byte, lim Limits) ([]headerEntry, map[string]string, uint64, error) {
	if !utf8.Valid(h) {
		return nil, nil, 0, invalidf("header is not valid UTF-8")
	}
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, 0, invalidf("header does not start with '{'")
	}
	p := &hparser{s: h, lim: lim}
	entries, meta, err := p.header()
	if err != nil {
		return nil, nil, 0, headerErr(err)
	}
	// Order by offsets as the reference reader does, then require the
	// tensors to tile the buffer from 0 without holes or overlaps.
	slices.SortStableFunc(entries, func(a, b headerEntry) int {
		if a.begin != b.begin {
			return cmpU64(a.begin, b.begin)
		}
		return cmpU64(a.end, b.end)
	})
	var pos uint64
	for _, e := range entries {
		if e.begin != pos {
			if e.begin < pos {
				return nil, nil, 0, invalidf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (ends at %d)", e.name, e.begin, e.end, pos)
			}
			return nil, nil, 0, invalidf("tensor %q: data_offsets [%d, %d] leave a hole after offset %d", e.name, e.begin, e.end, pos)
		}
		if e.end < e.begin {
			return nil, nil, 0, invalidf("tensor %q: data_offsets [%d, %d] end before they begin", e.name, e.begin, e.end)
		}
		size, err := byteSize(e.dtype, e.shape)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("tensor %q: %w", e.name, err)
		}
		if e.end-e.begin != size {
			return nil, nil, 0, invalidf("tensor %q: dtype %s and shape %v need %d bytes but data_offsets [%d, %d] span %d",
				e.name, e.dtype, e.shape, size, e.begin, e.end, e.end-e.begin)
		}
		pos = e.end
	}
	return entries, meta, pos, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// headerErr wraps a header parsing error so that it always wraps ErrInvalid.
func headerErr(err error) error {
	if errors.Is(err, ErrInvalid) {
		return err
	}
	return invalidf("header: %v", err)
}
