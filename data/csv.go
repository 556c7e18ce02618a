package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// CSVOptions configures ReadCSV. The zero value reads comma-separated rows
// with no header whose first column is the label.
type CSVOptions struct {
	// Comma is the field separator; 0 means ','.
	Comma rune
	// Comment, if not 0, starts lines that are skipped.
	Comment rune
	// Header says that the first row holds column names.
	Header bool
	// LabelColumn is the 0-based index of the integer label column;
	// a negative index counts from the end (-1 is the last column).
	LabelColumn int
	// NoLabel says that there is no label column: every column is a feature.
	NoLabel bool
	// MaxRowBytes bounds the bytes of one row (record) of the input; a
	// longer row is an error wrapping ErrFormat, found after reading at most
	// MaxRowBytes plus 4 KiB of it. 0 means DefaultCSVMaxRowBytes; a
	// negative value means no limit. (encoding/csv, which parses the rows,
	// holds about 50 bytes per field of the row being read, so a row of
	// tiny fields costs up to about 50 times its size while it is read.)
	MaxRowBytes int
}

// DefaultCSVMaxRowBytes is the row limit of ReadCSV when
// CSVOptions.MaxRowBytes is 0: 4 MiB, a row of a million 3-digit values.
const DefaultCSVMaxRowBytes = 4 << 20

// csvReadAhead is how far encoding/csv's bufio.Reader reads ahead.
const csvReadAhead = 4096

var errRowTooLong = errors.New("row too long")

// rowLimiter fails a read once the record being parsed has taken more
// than limit bytes (plus encoding/csv's read-ahead) from the input.
type rowLimiter struct {
	r     io.Reader
	cr    *csv.Reader
	read  int64
	limit int64
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.read-l.cr.InputOffset() > l.limit+csvReadAhead {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}

// Table is a numeric CSV file: Rows rows of Cols feature columns, and one
// label per row unless CSVOptions.NoLabel was set.
type Table struct {
	// Names are the feature columns' names from the header (nil without one).
	Names []string
	// LabelName is the label column's name from the header.
	LabelName  string
	Rows, Cols int
	// X holds the features row-major: Rows*Cols values.
	X []float32
	// Y holds the labels (nil with NoLabel).
	Y []int64
}

// Dataset returns the table as a dataset of samples of shape [Cols]. It
// shares the table's slices. Without labels every target is 0.
func (t *Table) Dataset() *ArrayDataset {
	y := t.Y
	if y == nil {
		y = make([]int64, t.Rows)
	}
	return &ArrayDataset{X: t.X, Shape: []int{t.Cols}, Y: y}
}

// ReadCSV reads a CSV file of numbers (raw or gzip-compressed). Every row
// must have the same number of fields; features parse as float32 and the
// label as an integer (written "3" or "3.0"). Errors wrap ErrFormat and
// give the line and column of the offending field.
func ReadCSV(r io.Reader, opts CSVOptions) (*Table, error) {
	r, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	limit := int64(opts.MaxRowBytes)
	if limit == 0 {
		limit = DefaultCSVMaxRowBytes
	}
	lim := &rowLimiter{r: r, limit: limit}
	var cr *csv.Reader
	if limit > 0 {
		cr = csv.NewReader(lim)
		lim.cr = cr
	} else {
		cr = csv.NewReader(r)
	}
	records := 0 // records read so far
	tooLong := func() error {
		return formatErr("csv", "record %d is longer than %d bytes (CSVOptions.MaxRowBytes)", records+1, limit)
	}
	if opts.Comma != 0 {
		cr.Comma = opts.Comma
	}
	cr.Comment = opts.Comment
	cr.ReuseRecord = true
	t := &Table{}
	label := -1
	first := true
	prevEnd := int64(0)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errRowTooLong) {
			return nil, tooLong()
		}
		if err == nil && limit > 0 {
			end := cr.InputOffset()
			if end-prevEnd > limit {
				return nil, tooLong()
			}
			prevEnd = end
		}
		if err == nil {
			records++
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, formatErr("csv", "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
			}
			return nil, ioErr("csv", "rows", err)
		}
		if first {
			first = false
			if !opts.NoLabel {
				label = opts.LabelColumn
				if label < 0 {
					label += len(rec)
				}
				if label < 0 || label >= len(rec) {
					line, _ := cr.FieldPos(0)
					return nil, formatErr("csv", "line %d: label column %d out of range for %d columns", line, opts.LabelColumn, len(rec))
				}
				t.Cols = len(rec) - 1
			} else {
				t.Cols = len(rec)
			}
			if opts.Header {
				for i, name := range rec {
					if i == label {
						t.LabelName = name
					} else {
						t.Names = append(t.Names, name)
					}
				}
				continue
			}
		}
		for i, field := range rec {
			s := strings.TrimSpace(field)
			if i == label {
				y, err := parseLabel(s)
				if err != nil {
					line, col := cr.FieldPos(i)
					return nil, formatErr("csv", "line %d, column %d (field %d): label %s: %v", line, col, i+1, quoteShort(field), err)
				}
				t.Y = append(t.Y, y)
				continue
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				line, col := cr.FieldPos(i)
				return nil, formatErr("csv", "line %d, column %d (field %d): %s is not a number", line, col, i+1, quoteShort(field))
			}
			t.X = append(t.X, float32(v))
		}
		t.Rows++
	}
	if opts.NoLabel {
		t.Y = nil
	} else if t.Y == nil {
		t.Y = []int64{}
	}
	return t, nil
}

// quoteShort quotes a field for an error message, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) <= 40 {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:40]) + fmt.Sprintf("... (%d bytes)", len(s))
}

func parseLabel(s string) (int64, error) {
	if y, err := strconv.ParseInt(s, 10, 64); err == nil {
		return y, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errors.New("not an integer")
	}
	return int64(f), nil
}
