package stcodec

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// randomOf returns a random tensor of dtype dt (never all zeros).
func randomOf(g *tensor.Generator, dt tensor.DType, shape ...int) *tensor.Tensor {
	switch {
	case dt.IsFloat():
		return g.Normal(0, 3, tensor.Float64, shape...).Cast(dt)
	case dt == tensor.Bool:
		return tensor.Gt(g.Normal(0, 1, tensor.Float32, shape...), tensor.Scalar(0, tensor.Float32))
	}
	return g.RandInt(-1000, 1000, shape...).Cast(dt)
}

// TestRoundTripPerDType: every dtype survives Encode, the container and
// Read/ReadFile/Decode bit for bit and keeps its dtype and shape, from
// contiguous and strided (transposed, narrowed) tensors and empty ones.
func TestRoundTripPerDType(t *testing.T) {
	g := tensor.NewGenerator(21)
	for dt, name := range names {
		m := map[string]*tensor.Tensor{
			"plain":   randomOf(g, dt, 3, 5),
			"strided": randomOf(g, dt, 4, 6).T().Narrow(0, 1, 3),
			"scalar":  randomOf(g, dt),
			"empty":   tensor.Zeros(dt, 0, 2),
		}
		var buf bytes.Buffer
		require.NoError(t, Write(&buf, m, map[string]string{"k": "v"}))
		f, err := safetensors.Parse(buf.Bytes())
		require.NoError(t, err)
		copied, err := DecodeAll(f)
		require.NoError(t, err)
		read, md, err := Read(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		require.Equal(t, "v", md["k"])
		for k, want := range m {
			require.Equal(t, name, f.Tensors[k].DType, "%v %s", dt, k)
			for _, got := range []*tensor.Tensor{copied[k], read[k]} {
				require.Equal(t, dt, got.DType(), "%v %s", dt, k)
				require.True(t, want.Shape().Equal(got.Shape()), "%v %s", dt, k)
				require.True(t, tensor.Equal(want, got), "%v %s: bit for bit (the data hold no NaN)", dt, k)
			}
		}
	}
}

// TestDecodeCopies: Decode shares no memory with the TensorInfo (writing
// the bytes afterwards leaves the tensor as it was).
func TestDecodeCopies(t *testing.T) {
	info, err := Encode(tensor.FromSlice([]float32{1, 2, 3}, 3))
	require.NoError(t, err)
	x, err := Decode(info)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(info.Data, math.Float32bits(9))
	require.Equal(t, []float32{1, 2, 3}, x.Float32s())
}

// TestWidenAndReject: the narrow integer dtypes widen with their values,
// a U64 above MaxInt64 and the dtypes Tessera lacks are errors, and
// DecodeAs casts (BF16 to Float64 exactly).
func TestWidenAndReject(t *testing.T) {
	u8, _ := safetensors.Encode([]uint8{0, 255}, 2)
	i8, _ := safetensors.Encode([]int8{-128, 127}, 2)
	u16, _ := safetensors.Encode([]uint16{65535, 1}, 2)
	i16, _ := safetensors.Encode([]int16{-32768, 5}, 2)
	u32, _ := safetensors.Encode([]uint32{math.MaxUint32, 0}, 2)
	u64, _ := safetensors.Encode([]uint64{math.MaxInt64, 3}, 2)
	for info, want := range map[*safetensors.TensorInfo][]int64{
		&u8: {0, 255}, &i8: {-128, 127}, &u16: {65535, 1}, &i16: {-32768, 5}, &u32: {math.MaxUint32, 0}, &u64: {math.MaxInt64, 3},
	} {
		x, err := Decode(*info)
		require.NoError(t, err, info.DType)
		wantDT, _ := DType(info.DType)
		require.Equal(t, wantDT, x.DType(), info.DType)
		require.Equal(t, want, x.Cast(tensor.Int64).Int64s(), info.DType)
	}
	big, _ := safetensors.Encode([]uint64{math.MaxInt64 + 1}, 1)
	_, err := Decode(big)
	require.ErrorContains(t, err, "does not fit")
	_, err = Decode(safetensors.TensorInfo{DType: "F8_E4M3", Shape: []int{1}, Data: []byte{1}})
	require.ErrorContains(t, err, "F8_E4M3")
	_, err = Decode(safetensors.TensorInfo{DType: "F32", Shape: []int{2}, Data: []byte{1, 2, 3}})
	require.Error(t, err)

	bf := tensor.FromSlice([]float32{1.5, -3.25e5, 7e-3}, 3).Cast(tensor.BFloat16)
	info, err := Encode(bf)
	require.NoError(t, err)
	require.Equal(t, "BF16", info.DType)
	x, err := DecodeAs(info, tensor.Float64)
	require.NoError(t, err)
	require.Equal(t, tensor.Float64, x.DType())
	require.Equal(t, bf.Cast(tensor.Float64).Float64s(), x.Float64s())
	_, err = Encode(nil)
	require.Error(t, err)
}
