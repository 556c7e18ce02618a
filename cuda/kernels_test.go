package cuda

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/kernels/cudakernels"
)

// Every kernel the Go side can launch exists in the embedded PTX, and
// every kernel of the core modules is known to the Go side.
func TestKernelNamesExist(t *testing.T) {
	inPTX := map[string]string{}
	core := map[string]bool{}
	for _, m := range CoreModules {
		core[m] = true
	}
	for _, m := range cudakernels.Modules() {
		b, err := cudakernels.PTX(m)
		require.NoError(t, err)
		for _, e := range cudakernels.Entries(b) {
			require.NotContains(t, inPTX, e, "kernel %s defined twice", e)
			inPTX[e] = m
		}
	}
	names := KernelNames()
	for _, n := range names {
		assert.Contains(t, inPTX, n, "the Go side launches %s but no PTX defines it", n)
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for e, m := range inPTX {
		if core[m] {
			assert.True(t, known[e], "PTX kernel %s is missing from KernelNames", e)
		}
	}
	for _, m := range CoreModules {
		assert.Contains(t, cudakernels.Modules(), m)
	}
}

func TestStridedLayout(t *testing.T) {
	assert.Equal(t, 264, StridedSize)
	s := Strided{Shape: []int64{2, 3}, Strides: [3][]int64{{3, 1}, {0, 1}, {1, 0}}}
	b, err := s.Bytes()
	require.NoError(t, err)
	require.Len(t, b, StridedSize)
	assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(b[0:]))
	assert.Equal(t, uint64(3), binary.LittleEndian.Uint64(b[16:]))
	off := func(k, i int) int { return 8 + 8*MaxDims + 8*(k*MaxDims+i) }
	assert.Equal(t, uint64(3), binary.LittleEndian.Uint64(b[off(0, 0):]))
	assert.Equal(t, uint64(0), binary.LittleEndian.Uint64(b[off(1, 0):]))
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(b[off(2, 0):]))
	assert.Equal(t, int64(6), s.Numel())

	a := NewArgs().Add(int64(6)).Add(s).Add(DevicePtr(1))
	require.NoError(t, a.Err())
	assert.Equal(t, []int32{0, 8, 8 + StridedSize}, a.Offsets())

	_, err = Strided{Shape: make([]int64, 9)}.Bytes()
	assert.Error(t, err)
	_, err = Strided{Shape: []int64{2}, Strides: [3][]int64{{1, 1}}}.Bytes()
	assert.Error(t, err)
	assert.Equal(t, []int64{12, 4, 1}, Contiguous([]int64{2, 3, 4}))
}
