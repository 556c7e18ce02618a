package nccl_test

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/nccl"
	"github.com/tessera-ml/tessera/internal/testutil"
)

func TestElementSize(t *testing.T) {
	assert.Equal(t, 4, nccl.ElementSize(nccl.Float32))
	assert.Equal(t, 2, nccl.ElementSize(nccl.Bfloat16))
	assert.Equal(t, 8, nccl.ElementSize(nccl.Float64))
	assert.Equal(t, 1, nccl.ElementSize(nccl.Uint8))
}

func TestErrorType(t *testing.T) {
	e := &nccl.Error{Call: "ncclAllReduce", Code: 6, Name: "ncclRemoteError", Msg: "peer died"}
	assert.True(t, errors.Is(e, nccl.ErrRemote))
	assert.Contains(t, e.Error(), "ncclAllReduce failed: ncclRemoteError (6): peer died")
}

func TestLoadWithoutNCCL(t *testing.T) {
	if nccl.Load() == nil {
		t.Skip("NCCL is installed here")
	}
	err := nccl.Load()
	assert.True(t, errors.Is(err, cuda.ErrUnavailable), "%v", err)
	_, err = nccl.GetUniqueID()
	assert.Error(t, err)
	info := cuda.Info()
	assert.Empty(t, info.NCCLVersion)
	if os.Getenv("CGO_ENABLED") != "0" {
		assert.NotEmpty(t, info.NCCLError)
	}
}

// One rank on one GPU (NCCL refuses two ranks on the same device).
func TestGPUOneRankCollectives(t *testing.T) {
	d := testutil.RequireGPU(t)
	testutil.RequireGPUProbe(t, nccl.Load)
	v, path, err := nccl.Version()
	require.NoError(t, err)
	t.Logf("NCCL %d from %s", v, path)
	id, err := nccl.GetUniqueID()
	require.NoError(t, err)
	c, err := nccl.InitRank(d, 1, id, 0)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Destroy()) }()
	assert.Equal(t, 0, c.Rank())
	assert.Equal(t, 1, c.Size())

	x := []float32{1, 2, 3, 4, 5}
	send, err := d.Alloc(20, nil)
	require.NoError(t, err)
	recv, err := d.Alloc(20, nil)
	require.NoError(t, err)
	require.NoError(t, cuda.CopyToDevice(d, send, x))
	s, err := d.NewStream(true)
	require.NoError(t, err)
	defer s.Destroy()

	check := func() {
		require.NoError(t, s.Sync())
		got := make([]float32, 5)
		require.NoError(t, cuda.CopyFromDevice(d, got, recv))
		assert.Equal(t, x, got)
		require.NoError(t, d.MemsetD8Async(recv, 0, 20, s))
	}
	require.NoError(t, c.AllReduce(send, recv, 5, nccl.Float32, nccl.Sum, s))
	check()
	require.NoError(t, c.Broadcast(send, recv, 5, nccl.Float32, 0, s))
	check()
	require.NoError(t, c.Reduce(send, recv, 5, nccl.Float32, nccl.Max, 0, s))
	check()
	require.NoError(t, c.AllGather(send, recv, 5, nccl.Float32, s))
	check()
	require.NoError(t, c.ReduceScatter(send, recv, 5, nccl.Float32, nccl.Sum, s))
	check()
	require.NoError(t, nccl.Group(func() error {
		if err := c.Send(send, 5, nccl.Float32, 0, s); err != nil {
			return err
		}
		return c.Recv(recv, 5, nccl.Float32, 0, s)
	}))
	check()
	assert.NoError(t, c.AsyncError())
	require.NoError(t, d.Free(send, s))
	require.NoError(t, d.Free(recv, s))
	t.Logf("\n%s", cuda.Info())
}
