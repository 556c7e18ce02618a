package readall

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
)

// opaque hides a reader's type so that its size is unknown.
type opaque struct{ r io.Reader }

func (o opaque) Read(p []byte) (int, error) { return o.r.Read(p) }

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// TestReadNContents: ReadN returns exactly the bytes, aligned to 8, from
// readers of known and unknown size, one byte at a time too, and
// io.ErrUnexpectedEOF for every truncation (also when nothing at all
// follows, where the old copies disagreed: one returned io.EOF).
func TestReadNContents(t *testing.T) {
	for _, n := range []int{0, 1, 7, 4096, Chunk - 1, Chunk + 5, 5*Chunk + 3} {
		want := pattern(n)
		for name, r := range map[string]io.Reader{
			"bytes.Reader": bytes.NewReader(want),
			"opaque":       opaque{bytes.NewReader(want)},
			"onebyte":      iotest.OneByteReader(bytes.NewReader(want)),
		} {
			got, err := ReadN(r, uint64(n))
			require.NoError(t, err, "%s n=%d", name, n)
			require.Equal(t, want, got, "%s n=%d", name, n)
			if n > 0 {
				_, ok := As[uint64](got[:n/8*8])
				require.True(t, ok, "aligned to 8")
			}
		}
		if n == 0 {
			continue
		}
		for _, short := range []int{0, n / 4, n / 2, n - 1} {
			for _, r := range []io.Reader{bytes.NewReader(want[:short]), opaque{bytes.NewReader(want[:short])}} {
				_, err := ReadN(r, uint64(n))
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "n=%d short=%d %T", n, short, r)
			}
		}
	}
	_, err := ReadN(bytes.NewReader(nil), math.MaxInt+1)
	require.ErrorIs(t, err, ErrTooLarge)
	boom := errors.New("boom")
	_, err = ReadN(opaque{iotest.ErrReader(boom)}, 10)
	require.ErrorIs(t, err, boom)
}

// TestReadNAllocation: ReadN of n bytes allocates n bytes when the size is
// known (a regular file, a bytes.Reader), at most 4/3 n when it is not;
// a header declaring 1 GiB on a 1 MiB stream allocates a few MiB at most.
func TestReadNAllocation(t *testing.T) {
	const n = 24 << 20
	want := pattern(n)
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, want, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	cases := []struct {
		name  string
		r     io.Reader
		ratio float64
	}{
		{"file", f, 1.01},
		{"bytes.Reader", bytes.NewReader(want), 1.01},
		{"unknown size", opaque{bytes.NewReader(want)}, 4.0/3 + 0.01},
	}
	for _, c := range cases {
		var got []byte
		var err error
		b := memtest.Allocated(func() { got, err = ReadN(c.r, n) })
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got))
		t.Logf("%s: allocated %.3f x", c.name, float64(b)/n)
		require.LessOrEqual(t, float64(b), c.ratio*n, c.name)
	}
	var err2 error
	b := memtest.Allocated(func() { _, err2 = ReadN(opaque{bytes.NewReader(want[:1<<20])}, 1<<30) })
	require.ErrorIs(t, err2, io.ErrUnexpectedEOF)
	require.Less(t, b, uint64(4<<20), "a lying header on a 1 MiB stream")
}

func TestAsBytesSwap(t *testing.T) {
	b := Alloc(16)
	copy(b, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	_, ok := As[uint32](b[1:5])
	require.False(t, ok, "misaligned")
	_, ok = As[uint32](b[:6])
	require.False(t, ok, "not a whole number of elements")
	Swap(b, 4)
	require.Equal(t, []byte{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13}, b)
	odd := []byte{0, 1, 2, 3, 4}
	Swap(odd[1:], 2) // misaligned: the byte-wise path
	require.Equal(t, []byte{0, 2, 1, 4, 3}, odd)
	f := []float64{1.5, -2}
	require.Len(t, Bytes(f), 16)
	g, ok := As[float64](Bytes(f))
	require.True(t, ok)
	require.Equal(t, f, g)
	e, ok := As[float32](nil)
	require.True(t, ok)
	require.Empty(t, e)
}
