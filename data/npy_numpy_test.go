package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files in testdata/npy were written by NumPy 1.24.2 (testdata/npy/gen.py).
func TestNPYAgainstNumpyFiles(t *testing.T) {
	cases := []struct {
		file    string
		shape   []int
		data    any
		fortran bool
		same    bool // WriteNPY reproduces the file byte for byte
	}{
		{"f4_2x3.npy", []int{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}, false, true},
		{"f4_2x3_v2.npy", []int{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}, false, false},
		{"f4_2x3_v3.npy", []int{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}, false, false},
		{"f8_fortran_2x3x4.npy", []int{2, 3, 4}, seqF64(24), true, false},
		{"i8_5.npy", []int{5}, []int64{-2, -1, 0, 1, 1 << 40}, false, true},
		{"i4_scalar.npy", []int{}, []int32{7}, false, true},
		{"u1_2x2.npy", []int{2, 2}, []uint8{0, 1, 254, 255}, false, true},
		{"b1_3.npy", []int{3}, []bool{true, false, true}, false, true},
		{"f2_4.npy", []int{4}, []Float16{0x3c00, 0xc000, 0x7bff, 0x3800}, false, true},
		{"f4_0x5.npy", []int{0, 5}, []float32{}, false, true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "npy", c.file))
			require.NoError(t, err)
			a, err := ReadNPY(bytes.NewReader(raw))
			require.NoError(t, err)
			assert.Equal(t, c.shape, a.Shape)
			assert.Equal(t, c.data, a.Data)
			assert.Equal(t, c.fortran, a.Fortran)
			if c.same {
				var buf bytes.Buffer
				require.NoError(t, WriteNPY(&buf, c.shape, c.data))
				assert.Equal(t, raw, buf.Bytes(), "WriteNPY output differs from numpy.save")
			}
		})
	}
	for file, msg := range map[string]string{"f4_big_endian.npy": "big-endian", "object.npy": "object arrays"} {
		_, err := ReadNPYFile(filepath.Join("testdata", "npy", file))
		require.ErrorIs(t, err, ErrFormat)
		assert.Contains(t, err.Error(), msg)
	}
}

func seqF64(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}
