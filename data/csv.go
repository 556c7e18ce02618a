package data

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
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
	// longer row is an error wrapping ErrFormat, found after reading at
	// most MaxRowBytes of it. 0 means DefaultCSVMaxRowBytes; a negative
	// value means no limit. Reading holds the longest row once (plus the
	// parsed values), not a structure per field.
	MaxRowBytes int
}

// DefaultCSVMaxRowBytes is the row limit of ReadCSV when
// CSVOptions.MaxRowBytes is 0: 16 MiB, a row of four million 3-digit
// values.
const DefaultCSVMaxRowBytes = 16 << 20

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
	sc, err := newCSVScanner(r, opts.Comma, opts.Comment, limit)
	if err != nil {
		return nil, formatErr("csv", "%v", err)
	}
	t := &Table{}
	label := -1
	first := true
	records := 0 // records read so far
	for {
		rec, recLine, err := sc.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errRecordTooLong) {
			return nil, formatErr("csv", "record %d (line %d) is longer than %d bytes (CSVOptions.MaxRowBytes)", records+1, recLine, limit)
		}
		if err != nil {
			return nil, ioErr("csv", "rows", err)
		}
		records++
		nf, err := sc.fields(rec, recLine, nil)
		if err != nil {
			return nil, formatErr("csv", "%v", err)
		}
		if !first && nf != t.Cols+btoi(label >= 0) {
			return nil, formatErr("csv", "line %d, column 1: wrong number of fields", recLine)
		}
		if first {
			first = false
			if !opts.NoLabel {
				label = opts.LabelColumn
				if label < 0 {
					label += nf
				}
				if label < 0 || label >= nf {
					return nil, formatErr("csv", "line %d: label column %d out of range for %d columns", recLine, opts.LabelColumn, nf)
				}
				t.Cols = nf - 1
			} else {
				t.Cols = nf
			}
			if opts.Header {
				sc.fields(rec, recLine, func(i int, field []byte, _, _ int) error {
					if i == label {
						t.LabelName = string(field)
					} else {
						t.Names = append(t.Names, string(field))
					}
					return nil
				})
				continue
			}
		}
		t.X = slices.Grow(t.X, t.Cols)
		_, err = sc.fields(rec, recLine, func(i int, fb []byte, line, col int) error {
			// A view of the record buffer, used only during this call
			// (strconv copies what it keeps in its errors).
			field := unsafe.String(unsafe.SliceData(fb), len(fb))
			s := strings.TrimSpace(field)
			if i == label {
				y, err := parseLabel(s)
				if err != nil {
					return formatErr("csv", "line %d, column %d (field %d): label %s: %v", line, col, i+1, quoteShort(field), err)
				}
				t.Y = append(t.Y, y)
				return nil
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return formatErr("csv", "line %d, column %d (field %d): %s is not a number", line, col, i+1, quoteShort(field))
			}
			t.X = append(t.X, float32(v))
			return nil
		})
		if err != nil {
			return nil, err
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

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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
