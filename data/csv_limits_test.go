package data

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
)

// TestCSVRowLimit: a row longer than CSVOptions.MaxRowBytes is an error
// wrapping ErrFormat, found after reading about the limit (issue 11 item
// 12: one 50 MB row took 2.4 GB; here a 2 MiB row of tiny fields under a
// 64 KiB limit allocates under 8 MiB, and under the default 4 MiB limit an
// 8 MiB row is refused). Rows within the limit read; a negative limit
// turns it off; error messages quote at most 40 bytes of a field.
func TestCSVRowLimit(t *testing.T) {
	long := "0," + strings.Repeat("1,", 1<<20) + "2\n" // 2 MiB, one row
	var err error
	b := memtest.Allocated(func() { _, err = ReadCSV(strings.NewReader(long), CSVOptions{MaxRowBytes: 64 << 10}) })
	require.ErrorIs(t, err, ErrFormat)
	require.ErrorContains(t, err, "record 1 is longer than 65536 bytes")
	t.Logf("2 MiB row, 64 KiB limit: allocated %d bytes", b)
	require.Less(t, b, uint64(8<<20))

	// A long record in a later row, and a quoted field spanning lines.
	rows := "1,2\n3,4\n5,\"" + strings.Repeat("6\n", 40<<10) + "\"\n"
	_, err = ReadCSV(strings.NewReader(rows), CSVOptions{MaxRowBytes: 32 << 10})
	require.ErrorContains(t, err, "record 3 is longer")

	huge := "0," + strings.Repeat("1,", 4<<20) + "2\n" // 8 MiB
	_, err = ReadCSV(strings.NewReader(huge), CSVOptions{})
	require.ErrorContains(t, err, "longer than 4194304 bytes")

	tab, err := ReadCSV(strings.NewReader(long), CSVOptions{MaxRowBytes: -1})
	require.NoError(t, err)
	require.Equal(t, 1<<20+1, tab.Cols)

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
