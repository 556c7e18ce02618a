package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// csvScanner splits CSV input (RFC 4180, as encoding/csv reads it: quoted
// fields with "" escapes that may span lines, \r\n line ends, comment
// lines, empty lines skipped) into records held in one reused buffer, and
// a record into fields, without allocating per field: reading costs the
// longest record once, however many fields it has (encoding/csv keeps
// about 50 bytes per field).
type csvScanner struct {
	br      *bufio.Reader
	comma   []byte
	comment []byte
	limit   int64 // most bytes of one record; <= 0: no limit
	line    int   // number of the next physical line
	rec     []byte
	scratch []byte // an unescaped quoted field
}

var errRecordTooLong = errors.New("record too long")

// csvError is a parse error at a line and column (1-based, in bytes).
type csvError struct {
	line, col int
	msg       string
}

func (e *csvError) Error() string { return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.msg) }

func newCSVScanner(r io.Reader, comma, comment rune, limit int64) (*csvScanner, error) {
	if comma == 0 {
		comma = ','
	}
	bad := func(c rune) bool {
		return c == '"' || c == '\r' || c == '\n' || c == utf8.RuneError || !utf8.ValidRune(c)
	}
	if bad(comma) || (comment != 0 && (bad(comment) || comment == comma)) {
		return nil, fmt.Errorf("invalid field or comment delimiter")
	}
	s := &csvScanner{br: bufio.NewReaderSize(r, 64<<10), comma: utf8.AppendRune(nil, comma), limit: limit, line: 1}
	if comment != 0 {
		s.comment = utf8.AppendRune(nil, comment)
	}
	return s, nil
}

// next returns the next record (without its final line end, \r\n turned
// into \n inside it) and the number of its first line, or io.EOF.
func (s *csvScanner) next() ([]byte, int, error) {
	for {
		s.rec = s.rec[:0]
		start := s.line
		quotes := 0
		for {
			from := len(s.rec)
			err := s.readLine()
			if err != nil && err != io.EOF {
				return nil, start, err
			}
			part := s.rec[from:]
			if len(part) == 0 && err == io.EOF {
				if len(s.rec) == 0 {
					return nil, 0, io.EOF
				}
				break
			}
			s.line++
			quotes += bytes.Count(part, []byte{'"'})
			if quotes%2 == 0 || err == io.EOF {
				break
			}
		}
		// Drop the final line end; skip empty and comment lines.
		s.rec = bytes.TrimSuffix(s.rec, []byte{'\n'})
		if len(s.rec) == 0 || (s.comment != nil && bytes.HasPrefix(s.rec, s.comment)) {
			continue
		}
		return s.rec, start, nil
	}
}

// readLine appends one physical line to s.rec (with its '\n' if any,
// "\r\n" made "\n"), keeping the record within the limit.
func (s *csvScanner) readLine() error {
	for {
		b, err := s.br.ReadSlice('\n')
		if s.limit > 0 && int64(len(s.rec)+len(b)) > s.limit+1 {
			return errRecordTooLong
		}
		if need := len(s.rec) + len(b); need > cap(s.rec) {
			// Double (append grows large slices by 1.25, which allocates
			// about 5 times the final size along the way).
			grown := make([]byte, len(s.rec), max(need, 2*cap(s.rec)))
			copy(grown, s.rec)
			s.rec = grown
		}
		s.rec = append(s.rec, b...)
		if err == bufio.ErrBufferFull {
			continue
		}
		// Only a line end read by this call: at EOF nothing was appended,
		// and the record's last "\r\n" was already made "\n" (converting
		// "\r\n" again, when a lone '\r' preceded it, shrank the record).
		if n := len(s.rec); err == nil && n >= 2 && s.rec[n-2] == '\r' && s.rec[n-1] == '\n' {
			s.rec[n-2] = '\n'
			s.rec = s.rec[:n-1]
		}
		return err
	}
}

// fields splits rec (whose first line is line) into fields, calling f (if
// not nil) with each field's index, unquoted contents and position, and
// returns the number of fields. The field slice is valid only during f.
func (s *csvScanner) fields(rec []byte, line int, f func(i int, field []byte, line, col int) error) (int, error) {
	n := 0
	pos := 0
	lineStart := 0 // index in rec of the current physical line's start
	for {
		col := pos - lineStart + 1
		var field []byte
		if pos < len(rec) && rec[pos] == '"' {
			// Quoted field: up to the closing quote, "" is one quote.
			s.scratch = s.scratch[:0]
			i := pos + 1
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 {
					return n, &csvError{line, col, `extraneous or missing " in quoted-field`}
				}
				chunk := rec[i : i+j]
				if k := bytes.LastIndexByte(chunk, '\n'); k >= 0 {
					line += bytes.Count(chunk, []byte{'\n'})
					lineStart = i + k + 1
				}
				s.scratch = append(s.scratch, chunk...)
				i += j + 1
				if i < len(rec) && rec[i] == '"' {
					s.scratch = append(s.scratch, '"')
					i++
					continue
				}
				break
			}
			field = s.scratch
			pos = i
			if pos < len(rec) && !bytes.HasPrefix(rec[pos:], s.comma) {
				return n, &csvError{line, pos - lineStart + 1, `extraneous or missing " in quoted-field`}
			}
		} else {
			end := bytes.Index(rec[pos:], s.comma)
			if end < 0 {
				end = len(rec)
			} else {
				end += pos
			}
			field = rec[pos:end]
			if q := bytes.IndexByte(field, '"'); q >= 0 {
				return n, &csvError{line, col + q, `bare " in non-quoted-field`}
			}
			if k := bytes.IndexByte(field, '\n'); k >= 0 {
				// A line end outside quotes cannot occur in a record
				// (next splits there) unless quotes were unbalanced.
				return n, &csvError{line, col + k, `bare " in non-quoted-field`}
			}
			pos = end
		}
		if f != nil {
			if err := f(n, field, line, col); err != nil {
				return n, err
			}
		}
		n++
		if pos >= len(rec) {
			return n, nil
		}
		pos += len(s.comma)
	}
}
