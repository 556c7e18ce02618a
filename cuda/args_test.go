package cuda

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgsLayout(t *testing.T) {
	a := NewArgs()
	a.Add(DevicePtr(0x1122334455667788)).Add(int32(-3)).Add(float64(2.5)).Add(float32(1.5)).
		Add(StructArg{Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Align: 8}).Add(uint32(7))
	require.NoError(t, a.Err())
	assert.Equal(t, []int32{0, 8, 16, 24, 32, 44}, a.Offsets())
	b := a.Bytes()
	assert.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(b[0:]))
	assert.Equal(t, int32(-3), int32(binary.LittleEndian.Uint32(b[8:])))
	assert.Equal(t, 2.5, math.Float64frombits(binary.LittleEndian.Uint64(b[16:])))
	assert.Equal(t, float32(1.5), math.Float32frombits(binary.LittleEndian.Uint32(b[24:])))
	assert.Equal(t, byte(1), b[32])
	assert.Equal(t, uint32(7), binary.LittleEndian.Uint32(b[44:]))
	assert.Equal(t, 48, a.Size())
	assert.Equal(t, 6, a.Len())
}

func TestArgsErrors(t *testing.T) {
	assert.Error(t, NewArgs().Add(3).Err(), "plain int is ambiguous")
	assert.Error(t, NewArgs().Struct([]byte{1}, 3).Err())
	big := NewArgs()
	for i := 0; i < MaxParamBytes/8+1; i++ {
		big.U64(1)
	}
	assert.Error(t, big.Err())
	a := NewArgs().Add("x").Add(int32(1))
	assert.Error(t, a.Err())
	assert.NoError(t, a.Reset().Add(int32(1)).Err())
}
