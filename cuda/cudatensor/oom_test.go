package cudatensor

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// oomBackend is a backend whose allocations fail as the caching allocator's
// final failure does.
type oomBackend struct{ backend }

func (oomBackend) malloc(n int64) (cuda.DevicePtr, error) {
	return 0, &cuda.OOMError{Requested: n, Segment: n, Err: errors.New("CUDA_ERROR_OUT_OF_MEMORY (test)")}
}

// A GPU allocation that runs out of memory is, like a host one, a
// *tensor.Error from the op that wraps tensor.ErrOutOfMemory (and
// cuda.ErrOutOfMemory) (issue 11, item 4).
func TestDeviceOutOfMemoryMatchesHost(t *testing.T) {
	d := &Device{be: oomBackend{}, name: "cuda:test"}
	_, err := d.Alloc(tensor.Float32, 1<<20)
	require.ErrorIs(t, err, cuda.ErrOutOfMemory)
	require.ErrorIs(t, err, tensor.ErrOutOfMemory)
	err = tensor.Try(func() { tensor.EmptyOn(d, tensor.Float32, 1024, 1024) })
	var te *tensor.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, "tensor.EmptyOn", te.Op)
	require.ErrorIs(t, err, tensor.ErrOutOfMemory)
	require.ErrorIs(t, err, cuda.ErrOutOfMemory)
	require.Contains(t, err.Error(), "4194304 bytes")
}
