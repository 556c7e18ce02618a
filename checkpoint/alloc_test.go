package checkpoint

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
	"github.com/tessera-ml/tessera/tensor"
)

// TestLoadAllocatesAtMostOneAndAHalfTimesTheData: Load of a checkpoint of
// 16 MiB of float32 (one big tensor and a few small ones) allocates at most
// 1.5 times the tensor data (issue 11 item 11: it used to allocate the file
// in a doubling buffer and then copy every tensor out of it).
func TestLoadAllocatesAtMostOneAndAHalfTimesTheData(t *testing.T) {
	g := tensor.NewGenerator(5)
	model := map[string]*tensor.Tensor{
		"big":   g.Normal(0, 1, tensor.Float32, 1024, 4096),
		"bias":  g.Normal(0, 1, tensor.Float32, 4096),
		"steps": tensor.FromSlice([]int64{1, 2, 3}, 3),
	}
	data := 0
	for _, v := range model {
		data += v.NumElements() * v.DType().Size()
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	require.NoError(t, Save(path, model, nil, Meta{Step: 1}))
	var c *Checkpoint
	var err error
	b := memtest.Allocated(func() { c, err = Load(path) })
	require.NoError(t, err)
	for k, v := range model {
		require.True(t, tensor.Equal(v, c.Model[k]), k)
	}
	t.Logf("Load: allocated %.2f x the data (%d bytes for %d)", float64(b)/float64(data), b, data)
	assert.LessOrEqual(t, float64(b), 1.5*float64(data))
}
