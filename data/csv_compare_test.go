package data

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// refCSV reads in with encoding/csv (the reader ReadCSV used before it had
// its own scanner) into features and labels, label in column 0.
func refCSV(in string, comma, comment rune) ([]float32, []int64, error) {
	cr := csv.NewReader(strings.NewReader(in))
	if comma != 0 {
		cr.Comma = comma
	}
	cr.Comment = comment
	var x []float32
	var y []int64
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return x, y, nil
		}
		if err != nil {
			return nil, nil, err
		}
		for i, f := range rec {
			s := strings.TrimSpace(f)
			if i == 0 {
				v, err := parseLabel(s)
				if err != nil {
					return nil, nil, err
				}
				y = append(y, v)
				continue
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, nil, err
			}
			x = append(x, float32(v))
		}
	}
}

// TestCSVScannerMatchesEncodingCSV: on inputs that exercise quoting,
// escapes, CRLF, comments, blank lines, multi-byte separators and the
// errors, ReadCSV accepts what encoding/csv accepts with the same values
// and rejects what it rejects.
func TestCSVScannerMatchesEncodingCSV(t *testing.T) {
	cases := []struct {
		in             string
		comma, comment rune
	}{
		{"1,2,3\n4,5,6\n", 0, 0},
		{"1,2,3\r\n4,5,6\r\n", 0, 0},
		{"1,2,3\n\n\n4,5,6", 0, 0},
		{"\"1\",\"2.5\",3\n4,\"5\",\"6\"\n", 0, 0},
		{"# c\n1,2,3\n#x,y\n4,5,6\n", 0, '#'},
		{"1;2;3\n4;5;6\n", ';', 0},
		{"1；2；3\n4；5；6\n", '；', 0},
		{" 1 , 2 ,3 \n", 0, 0},
		{"1,2,\n", 0, 0},
		{"1,\"2\"\"\",3\n", 0, 0},
		{"1,\"2\n3\",4\n", 0, 0},
		{"1,2\"x,3\n", 0, 0},
		{"1,\"2\"x,3\n", 0, 0},
		{"1,\"2,3\n", 0, 0},
		{"1,2,3\n4,5\n", 0, 0},
		{"1,2,3\n4,5,6,7\n", 0, 0},
		{"1,2,3\r4,5,6\n", 0, 0},
		{"1,\"\",3\n", 0, 0},
		{"1,2e3,-Inf\n2,NaN,0x1p-2\n", 0, 0},
		{"", 0, 0},
		{"\n\n", 0, 0},
	}
	for _, c := range cases {
		x, y, refErr := refCSV(c.in, c.comma, c.comment)
		tab, err := ReadCSV(strings.NewReader(c.in), CSVOptions{Comma: c.comma, Comment: c.comment})
		if refErr != nil {
			require.Error(t, err, "%q: encoding/csv says %v", c.in, refErr)
			require.ErrorIs(t, err, ErrFormat, "%q", c.in)
			continue
		}
		require.NoError(t, err, "%q", c.in)
		require.Equal(t, len(y), tab.Rows, "%q", c.in)
		if len(x) > 0 {
			require.Equal(t, len(x), len(tab.X), "%q", c.in)
			for i := range x {
				require.True(t, x[i] == tab.X[i] || (x[i] != x[i] && tab.X[i] != tab.X[i]), "%q value %d", c.in, i)
			}
		}
		if len(y) > 0 {
			require.Equal(t, y, tab.Y, "%q", c.in)
		}
	}
	_, err := ReadCSV(strings.NewReader("1,2\n"), CSVOptions{Comma: '"'})
	require.ErrorIs(t, err, ErrFormat)
}
