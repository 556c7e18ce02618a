package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
)

// allocBudget is the most a reader may allocate per byte of data
// (issue 11 item 11: peak at most 1.5 times the data).
const allocBudget = 1.5

// TestReadersAllocateAtMostOneAndAHalfTimesTheData: reading a 16 MiB
// float32 IDX file, .npy file, and the same IDX gzip-compressed (size not
// known in advance), allocates at most 1.5 times the data's size in all
// (the doubling buffer used to allocate about 3 times, and keep twice).
func TestReadersAllocateAtMostOneAndAHalfTimesTheData(t *testing.T) {
	const n = 4 << 20 // float32 elements: 16 MiB
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%251) - 100
	}
	dataBytes := float64(4 * n)
	dir := t.TempDir()

	var idx bytes.Buffer
	require.NoError(t, WriteIDX(&idx, &IDX{Type: IDXFloat32, Dims: []int{n / 1024, 1024}, Data: vals}))
	idxPath := filepath.Join(dir, "x.idx")
	require.NoError(t, os.WriteFile(idxPath, idx.Bytes(), 0o644))
	zipped := gz(t, idx.Bytes())
	var npy bytes.Buffer
	require.NoError(t, WriteNPY(&npy, []int{n}, vals))
	npyPath := filepath.Join(dir, "x.npy")
	require.NoError(t, os.WriteFile(npyPath, npy.Bytes(), 0o644))
	idx.Reset()
	npy.Reset()

	check := func(name string, read func() (any, error)) {
		var got any
		var err error
		b := memtest.Allocated(func() { got, err = read() })
		require.NoError(t, err, name)
		require.Equal(t, vals, got, name)
		t.Logf("%s: allocated %.2f x the data (%d bytes)", name, float64(b)/dataBytes, b)
		assert.LessOrEqual(t, float64(b), allocBudget*dataBytes, "%s allocated %d bytes for %v bytes of data", name, b, dataBytes)
	}
	check("ReadIDXFile", func() (any, error) {
		x, err := ReadIDXFile(idxPath)
		if err != nil {
			return nil, err
		}
		return x.Data, nil
	})
	check("ReadIDX(gzip)", func() (any, error) {
		x, err := ReadIDX(bytes.NewReader(zipped))
		if err != nil {
			return nil, err
		}
		return x.Data, nil
	})
	check("ReadNPYFile", func() (any, error) {
		x, err := ReadNPYFile(npyPath)
		if err != nil {
			return nil, err
		}
		return x.Data, nil
	})
}
