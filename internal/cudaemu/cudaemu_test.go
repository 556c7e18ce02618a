package cudaemu

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The buffer protocol round-trips bytes at offsets, reports unknown kernels
// and bad pointers as errors, and a second Build with the same sources
// reuses the cached binary.
func TestBufferProtocol(t *testing.T) {
	e, err := Build("tensordev")
	require.NoError(t, err)
	p, err := e.Alloc(8)
	require.NoError(t, err)
	assert.NotZero(t, p>>32, "pointers carry the buffer id in the high word")
	got, err := e.Read(p, -1)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xcd, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd}, got, "fresh buffers hold 0xcd")
	require.NoError(t, e.Write(p+2, []byte{1, 2, 3}))
	require.NoError(t, e.Zero(p+6, 2))
	got, err = e.Read(p, 8)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xcd, 0xcd, 1, 2, 3, 0xcd, 0, 0}, got)
	got, err = e.Read(p+5, -1)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xcd, 0, 0}, got)

	assert.ErrorContains(t, e.Launch("tess_no_such_kernel", nil, nil), "nokernel")

	src, err := Source("tensordev")
	require.NoError(t, err)
	assert.Contains(t, src, filepath.Join(KernelDir(), "tensordev.cu"))
	assert.Contains(t, src, "k[\"tess_td_")

	// A read past the end ends the emulator; the call reports it.
	_, err = e.Read(p, 9)
	assert.ErrorContains(t, err, "emulator died")
}

func TestKernelDir(t *testing.T) {
	_, err := os.Stat(filepath.Join(KernelDir(), "tensordev.cu"))
	require.NoError(t, err)
}
