package data

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadMNISTDir(t *testing.T) {
	dir := t.TempDir()
	ip, lp := writeMNIST(t, dir, 3, true)
	require.NoError(t, os.Rename(ip, filepath.Join(dir, "t10k-images-idx3-ubyte.gz")))
	require.NoError(t, os.Rename(lp, filepath.Join(dir, "t10k-labels.idx1-ubyte")))
	ds, err := LoadMNISTDir(dir, false)
	require.NoError(t, err)
	assert.Equal(t, 3, ds.Len())
	_, err = LoadMNISTDir(dir, true)
	assert.Error(t, err)
}

func TestLoadCIFAR10Dir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for i := 1; i <= 5; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)), cifarRecords(byte(i)), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarRecords(0, 0), 0o644))
	train, err := LoadCIFAR10Dir(root, true)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, train.Y)
	test, err := LoadCIFAR10Dir(dir, false)
	require.NoError(t, err)
	assert.Equal(t, 2, test.Len())
	_, err = LoadCIFAR10Dir(t.TempDir(), true)
	assert.Error(t, err)
}
