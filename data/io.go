package data

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tessera-ml/tessera/internal/readall"
)

// ErrFormat is wrapped by every error that reports malformed input; test for
// it with errors.Is.
var ErrFormat = errors.New("data: malformed input")

func formatErr(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, kind, fmt.Sprintf(format, args...))
}

// readN reads exactly n bytes from r (see readall.ReadN: sized from the
// input when it can tell, at most 4/3 n otherwise, and bounded by what a
// short input really holds). It returns io.ErrUnexpectedEOF when r ends
// first.
func readN(r io.Reader, n uint64) ([]byte, error) {
	b, err := readall.ReadN(r, n)
	if errors.Is(err, readall.ErrTooLarge) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// expectEOF returns nil when r has no more bytes and ends cleanly (for gzip,
// with a valid checksum), errTrailing when more bytes follow, and the read
// error otherwise.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return errTrailing
	}
	if err == io.EOF {
		return nil
	}
	return err
}

var errTrailing = errors.New("trailing data")

// maybeGunzip returns a reader of r's contents, decompressed when they start
// with the gzip magic bytes 0x1f 0x8b.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
		return zr, nil
	}
	return sizedReader{br, r}, nil
}

// sizedReader is a bufio.Reader over src that still tells how many bytes
// are left when src can, so that readN sizes its buffer from the file.
type sizedReader struct {
	*bufio.Reader
	src io.Reader
}

func (s sizedReader) Remaining() (int64, bool) {
	n, ok := readall.Remaining(s.src)
	return n + int64(s.Buffered()), ok
}

// withFile opens path and calls read on its (possibly gunzipped) contents,
// prefixing errors with the path.
func withFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// ioErr converts an error from reading a declared amount of data into a
// format error naming what was truncated, keeping other I/O errors.
func ioErr(kind, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(kind, "truncated %s", what)
	}
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt) {
		return fmt.Errorf("%w: %s: %s: %v", ErrFormat, kind, what, err)
	}
	return fmt.Errorf("data: %s: reading %s: %w", kind, what, err)
}
