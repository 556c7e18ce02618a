package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cifarRecords(labels ...byte) []byte {
	var b []byte
	for r, l := range labels {
		b = append(b, l)
		for i := 0; i < cifarPixels; i++ {
			b = append(b, byte(i+r))
		}
	}
	return b
}

func TestReadCIFAR10(t *testing.T) {
	in := cifarRecords(3, 9, 0)
	ds, err := ReadCIFAR10(bytes.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, 3, ds.Len())
	assert.Equal(t, []int{3, 32, 32}, ds.SampleShape())
	assert.Equal(t, []int64{3, 9, 0}, ds.Y)
	x := make([]float32, cifarPixels)
	ds.Sample(1, x)
	// CHW: channel 1 (green), row 0, column 0 is pixel byte 1024 of record 1.
	assert.Equal(t, float32((1024+1)%256)/255, x[1024])
	assert.Equal(t, float32(6)/255, x[5])

	ds, err = ReadCIFAR10(bytes.NewReader(gz(t, in)))
	require.NoError(t, err)
	assert.Equal(t, 3, ds.Len())

	empty, err := ReadCIFAR10(bytes.NewReader(nil))
	require.NoError(t, err)
	assert.Equal(t, 0, empty.Len())
}

func TestReadCIFAR10Errors(t *testing.T) {
	in := cifarRecords(1, 2)
	for n := 1; n < len(in); n++ {
		if n == cifarRecord {
			continue
		}
		_, err := ReadCIFAR10(bytes.NewReader(in[:n]))
		require.ErrorIs(t, err, ErrFormat, "truncated to %d", n)
		require.Contains(t, err.Error(), "partial record")
	}
	_, err := ReadCIFAR10(bytes.NewReader(cifarRecords(1, 10)))
	assert.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "record 1: label 10")
}

func TestLoadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "data_batch_1.bin"), filepath.Join(dir, "data_batch_2.bin")
	require.NoError(t, os.WriteFile(p1, cifarRecords(1, 2), 0o644))
	require.NoError(t, os.WriteFile(p2, cifarRecords(7), 0o644))
	ds, err := LoadCIFAR10(p1, p2)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 7}, ds.Y)
	assert.Len(t, ds.X, 3*cifarPixels)

	bad := filepath.Join(dir, "bad.bin")
	require.NoError(t, os.WriteFile(bad, cifarRecords(1)[:100], 0o644))
	_, err = LoadCIFAR10(p1, bad)
	assert.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "bad.bin")
	_, err = LoadCIFAR10(filepath.Join(dir, "missing"))
	assert.Error(t, err)
}
