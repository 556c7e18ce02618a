package data

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrFormat is wrapped by every error that reports malformed input; test for
// it with errors.Is.
var ErrFormat = errors.New("data: malformed input")

func formatErr(kind, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, kind, fmt.Sprintf(format, args...))
}

// readChunk is the step by which readN grows its buffer.
const readChunk = 1 << 20

// readN reads exactly n bytes from r. Its buffer grows only as bytes arrive,
// so a header that declares a huge size on a short stream cannot make it
// allocate more than about twice what the stream really holds. It returns
// io.ErrUnexpectedEOF when r ends first.
func readN(r io.Reader, n uint64) ([]byte, error) {
	if n > math.MaxInt {
		return nil, io.ErrUnexpectedEOF
	}
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(readChunk)
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		if err == io.EOF && uint64(got) < n {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
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
	return br, nil
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
