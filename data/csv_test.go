package data

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCSV(t *testing.T) {
	in := "a,b,label\n1,2.5,0\n-3, 4e1 ,2\n"
	tab, err := ReadCSV(strings.NewReader(in), CSVOptions{Header: true, LabelColumn: -1})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, tab.Names)
	assert.Equal(t, "label", tab.LabelName)
	assert.Equal(t, 2, tab.Rows)
	assert.Equal(t, 2, tab.Cols)
	assert.Equal(t, []float32{1, 2.5, -3, 40}, tab.X)
	assert.Equal(t, []int64{0, 2}, tab.Y)
	ds := tab.Dataset()
	assert.Equal(t, []int{2}, ds.SampleShape())

	// Label in column 0, semicolons, comments, label written as a float.
	tab, err = ReadCSV(strings.NewReader("# comment\n3.0;1;2\n4;5;6\n"), CSVOptions{Comma: ';', Comment: '#'})
	require.NoError(t, err)
	assert.Equal(t, []int64{3, 4}, tab.Y)
	assert.Equal(t, []float32{1, 2, 5, 6}, tab.X)

	// No label; gzip input.
	tab, err = ReadCSV(strings.NewReader(string(gz(t, []byte("1,2\n3,4\n")))), CSVOptions{NoLabel: true})
	require.NoError(t, err)
	assert.Nil(t, tab.Y)
	assert.Equal(t, 2, tab.Cols)
	assert.Equal(t, []int64{0, 0}, tab.Dataset().Y)

	tab, err = ReadCSV(strings.NewReader(""), CSVOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, tab.Rows)
}

func TestReadCSVErrors(t *testing.T) {
	cases := []struct {
		name, in string
		opts     CSVOptions
		msg      string
	}{
		{"bad number", "1,2,0\n1,x,0\n", CSVOptions{LabelColumn: 2}, `line 2, column 3 (field 2): "x" is not a number`},
		{"empty field", "1,,0\n", CSVOptions{LabelColumn: 2}, "line 1, column 3 (field 2)"},
		{"label not integer", "1,2,0.5\n", CSVOptions{LabelColumn: -1}, "line 1, column 5 (field 3): label \"0.5\": not an integer"},
		{"label not number", "1,2,z\n", CSVOptions{LabelColumn: -1}, "label \"z\": not a number"},
		{"ragged", "1,2,3\n1,2\n", CSVOptions{}, "line 2, column 1: wrong number of fields"},
		{"bad quote", "1,\"2\n", CSVOptions{}, "line 1"},
		{"label column out of range", "1,2\n", CSVOptions{LabelColumn: 5}, "label column 5 out of range"},
		{"negative label column out of range", "1,2\n", CSVOptions{LabelColumn: -3}, "out of range"},
		{"huge value", "1e50,1\n", CSVOptions{LabelColumn: -1}, "not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(c.in), c.opts)
			require.ErrorIs(t, err, ErrFormat)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}
