package data

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
)

// TestCSVRowLimit: a row longer than CSVOptions.MaxRowBytes is an error
// wrapping ErrFormat, found after reading about the limit (issue 11 item
// 12: one 50 MB row took 12.8 s and 2.4 GB through encoding/csv, about 50
// bytes per field). A 2 MiB row of 1M tiny fields under a 64 KiB limit
// allocates under 1 MiB; without a limit it reads in under 10 times its
// size (the row buffer and the float32 values, both grown by doubling:
// about 8x, a little more under -race; encoding/csv takes 46-80x).
// The default limit is DefaultCSVMaxRowBytes; a negative limit turns it
// off; error messages quote at most 40 bytes of a field.
func TestCSVRowLimit(t *testing.T) {
	long := "0," + strings.Repeat("1,", 1<<20) + "2\n" // 2 MiB, one row
	var err error
	b := memtest.Allocated(func() { _, err = ReadCSV(strings.NewReader(long), CSVOptions{MaxRowBytes: 64 << 10}) })
	require.ErrorIs(t, err, ErrFormat)
	require.ErrorContains(t, err, "record 1 (line 1) is longer than 65536 bytes")
	t.Logf("2 MiB row, 64 KiB limit: allocated %d bytes", b)
	require.Less(t, b, uint64(1<<20))
	var tab *Table
	b = memtest.Allocated(func() { tab, err = ReadCSV(strings.NewReader(long), CSVOptions{MaxRowBytes: -1}) })
	require.NoError(t, err)
	require.Equal(t, 1<<20+1, tab.Cols)
	require.Equal(t, 1, tab.Rows)
	t.Logf("2 MiB row, no limit: allocated %.2f x the row", float64(b)/float64(len(long)))
	require.Less(t, float64(b), 10*float64(len(long)))

	// A long record in a later row, and a quoted field spanning lines.
	rows := "1,2\n3,4\n5,\"" + strings.Repeat("6\n", 40<<10) + "\"\n"
	_, err = ReadCSV(strings.NewReader(rows), CSVOptions{MaxRowBytes: 32 << 10})
	require.ErrorContains(t, err, "record 3 (line 3) is longer")

	huge := "0," + strings.Repeat("1", DefaultCSVMaxRowBytes) + "\n"
	_, err = ReadCSV(strings.NewReader(huge), CSVOptions{})
	require.ErrorContains(t, err, fmt.Sprintf("longer than %d bytes", DefaultCSVMaxRowBytes))

	// Many rows within the limit: reading allocates in proportion to the
	// input (1k and 4k rows of 100 fields: at most 4 x 1.6 times).
	mk := func(n int) string {
		return strings.Repeat("7,"+strings.Repeat("1.5,", 99)+"2.5\n", n)
	}
	a1 := memtest.Allocated(func() { _, err = ReadCSV(strings.NewReader(mk(1000)), CSVOptions{MaxRowBytes: 1 << 10}) })
	require.NoError(t, err)
	a4 := memtest.Allocated(func() { _, err = ReadCSV(strings.NewReader(mk(4000)), CSVOptions{MaxRowBytes: 1 << 10}) })
	require.NoError(t, err)
	require.LessOrEqual(t, float64(a4), 4*1.6*float64(a1))

	field := "0," + strings.Repeat("9", 1<<20) + "x\n"
	_, err = ReadCSV(bytes.NewReader([]byte(field)), CSVOptions{MaxRowBytes: -1})
	require.ErrorIs(t, err, ErrFormat)
	require.Less(t, len(err.Error()), 200, "the message quotes a prefix of the field")
	require.ErrorContains(t, err, "(1048577 bytes)")
}
