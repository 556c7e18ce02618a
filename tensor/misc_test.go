package tensor_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func TestShapeHelpers(t *testing.T) {
	s, err := tensor.BroadcastShapes([]int{3, 1, 5}, []int{4, 1}, []int{})
	require.NoError(t, err)
	assert.Equal(t, []int{3, 4, 5}, s)
	s, err = tensor.BroadcastShapes([]int{0, 1}, []int{1, 3})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 3}, s)
	_, err = tensor.BroadcastShapes([]int{2, 3}, []int{4})
	assert.EqualError(t, err, "shapes [2 3] and [4] do not broadcast")
	sh := tensor.Shape{2, 3, 4}
	assert.Equal(t, 24, sh.NumElements())
	assert.Equal(t, 1, tensor.Shape{}.NumElements())
	assert.True(t, sh.Equal(tensor.Shape{2, 3, 4}))
	assert.False(t, sh.Equal(tensor.Shape{2, 3}))
	c := sh.Clone()
	c[0] = 9
	assert.Equal(t, 2, sh[0])
	assert.Equal(t, "[2 3 4]", sh.String())

	x := arange(2, 3, 4)
	assert.Equal(t, []int{6, 4}, shp(x.Flatten(0, 1)))
	assert.Equal(t, []int{2, 12}, shp(x.Flatten(1, -1)))
	assert.Equal(t, []int{24}, shp(x.Flatten(0, -1)))
	assert.Equal(t, []int{2, 1, 3, 4}, shp(x.Unsqueeze(1)))
	assert.Equal(t, []int{2, 3, 4, 1}, shp(x.Unsqueeze(-1)))
	u := x.Unsqueeze(0).Unsqueeze(3)
	assert.Equal(t, []int{2, 3, 1, 4}, shp(u.Squeeze(0)))
	assert.Equal(t, []int{2, 3, 4}, shp(u.Squeeze()))
	assert.Equal(t, []int{1, 2, 3, 4}, shp(u.Squeeze(-2)))
	assert.Equal(t, []int{2, 2, 4}, shp(x.Narrow(1, 1, 2)))
	assert.Equal(t, []int{5, 2, 3, 4}, shp(x.Expand(5, -1, -1, -1)))
	assert.Equal(t, []int{2, 3, 4}, shp(x.BroadcastTo(2, 3, 4)))
	assert.Same(t, x, x.BroadcastTo(2, 3, 4))
	assert.Equal(t, []float32{1, 13}, x.Select(2, 0).Select(1, 0).Float32s())
}

func TestHostStorage(t *testing.T) {
	x := tensor.FromSlice([]int32{1, 2, 258})
	b := tensor.HostBytes(x.Storage())
	assert.Equal(t, []byte{1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 0, 0}, b)
	b[0] = 7
	assert.Equal(t, 7.0, x.At(0), "HostBytes aliases the storage")
	assert.Equal(t, []byte{}, tensor.HostBytes(tensor.Zeros(tensor.Float32, 0).Storage()))
	st := tensor.NewHostStorage(tensor.BFloat16, []uint16{0x3f80, 0x4000})
	v := tensor.FromView(tensor.View{Storage: st, Shape: []int{2}, Strides: []int{1}})
	assert.Equal(t, []float64{1, 2}, v.Float64s())
	assert.Equal(t, tensor.BFloat16, v.View().DType())
	assert.Equal(t, 2, st.Len())
	assert.Panics(t, func() { tensor.NewHostStorage(tensor.Float32, []float64{1}) })
}

// TestRandomIndependentOfThreads: a draw does not depend on how many
// goroutines fill it.
func TestRandomIndependentOfThreads(t *testing.T) {
	draw := func() []*tensor.Tensor {
		g := tensor.NewGenerator(17)
		return []*tensor.Tensor{
			g.Normal(0, 1, tensor.Float32, 300, 301),
			g.Uniform(-1, 1, tensor.Float64, 70001),
			g.Bernoulli(0.4, tensor.BFloat16, 90000),
		}
	}
	prev := runtime.GOMAXPROCS(1)
	one := draw()
	runtime.GOMAXPROCS(4)
	four := draw()
	runtime.GOMAXPROCS(prev)
	for i := range one {
		assert.True(t, tensor.Equal(one[i], four[i]), "draw %d differs between 1 and 4 threads", i)
	}
}

func TestIntoWithAnotherDType(t *testing.T) {
	// the op runs in the operands' dtype; the result is converted once into dst
	a := tensor.Full(1.5, tensor.Float32, 2)
	di := tensor.Zeros(tensor.Int64, 2)
	tensor.AddInto(di, a, a)
	assert.Equal(t, []int64{3, 3}, di.Int64s())
	db := tensor.Zeros(tensor.BFloat16, 1)
	x := tensor.FromSlice([]float32{1}, 1)
	y := tensor.FromSlice([]float32{0x1p-8 + 0x1p-20}, 1)
	tensor.AddInto(db, x, y) // 1 + 2^-8 + 2^-20 rounds up to 1 + 2^-7 in bf16; rounding y first gives a tie, and 1
	assert.Equal(t, []float64{1 + 0x1p-7}, db.Float64s())
	// in place on a bf16 tensor with a float32 operand
	h := tensor.Ones(tensor.BFloat16, 1)
	tensor.AddInto(h, h, y)
	assert.Equal(t, []float64{1 + 0x1p-7}, h.Float64s())
	// comparisons still need a bool destination
	assert.Error(t, tensor.Try(func() { tensor.BinaryInto(tensor.OpLt, di, a, a) }))
}
