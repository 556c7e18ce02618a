package data

import (
	"encoding/csv"
	"errors"
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
	cr := csv.NewReader(r)
	if opts.Comma != 0 {
		cr.Comma = opts.Comma
	}
	cr.Comment = opts.Comment
	cr.ReuseRecord = true
	t := &Table{}
	label := -1
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
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
					return nil, formatErr("csv", "line %d, column %d (field %d): label %q: %v", line, col, i+1, field, err)
				}
				t.Y = append(t.Y, y)
				continue
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				line, col := cr.FieldPos(i)
				return nil, formatErr("csv", "line %d, column %d (field %d): %q is not a number", line, col, i+1, field)
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
