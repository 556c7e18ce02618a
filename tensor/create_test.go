package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

var allDTypes = []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64, tensor.Bool}

func TestFromSlice(t *testing.T) {
	data := []float64{1, 2, 3, 4, 5, 6}
	x := tensor.FromSlice(data, 2, 3)
	assert.Equal(t, tensor.Float64, x.DType())
	assert.Equal(t, tensor.Shape{2, 3}, x.Shape())
	assert.Equal(t, []int{3, 1}, x.Strides())
	assert.Equal(t, tensor.CPU, x.Device())
	assert.True(t, x.IsContiguous())
	// it aliases the slice, both ways
	data[4] = -5
	assert.Equal(t, -5.0, x.At(1, 1))
	x.Set(9, 0, 2)
	assert.Equal(t, 9.0, data[2])
	assert.Equal(t, data, tensor.HostData(x.Storage()))
	// without a shape: 1-D, or 0-d for one element
	assert.Equal(t, tensor.Shape{3}, tensor.FromSlice([]int32{1, 2, 3}).Shape())
	s := tensor.FromSlice([]bool{true})
	assert.Equal(t, 0, s.NDim())
	assert.Equal(t, 1.0, s.Item())
	assert.Equal(t, tensor.Shape{1}, tensor.FromSlice([]int64{7}, 1).Shape())
	assert.Equal(t, tensor.Shape{0}, tensor.FromSlice([]float32{}).Shape())
	assert.Equal(t, tensor.Shape{2, 0}, tensor.FromSlice([]float32{}, 2, 0).Shape())
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Int32, tensor.Int64, tensor.Bool} {
		assert.Equal(t, dt, tensor.Zeros(dt, 1).DType())
	}
}

func TestFilledCreation(t *testing.T) {
	for _, dt := range allDTypes {
		z := tensor.Zeros(dt, 2, 3)
		assert.Equal(t, dt, z.DType())
		assert.Equal(t, tensor.Shape{2, 3}, z.Shape())
		assert.Equal(t, make([]float64, 6), z.Float64s())
		assert.Equal(t, []float64{1, 1, 1, 1}, tensor.Ones(dt, 4).Float64s(), dt.String())
		assert.Equal(t, make([]float64, 6), tensor.ZerosLike(tensor.Ones(dt, 2, 3)).Float64s())
		assert.Equal(t, tensor.Shape{3, 1}, tensor.OnesLike(tensor.Zeros(dt, 3, 1)).Shape())
		e := tensor.Empty(dt, 5)
		assert.Equal(t, 5, e.NumElements())
		assert.Equal(t, dt, tensor.EmptyLike(e).DType())
		assert.Equal(t, tensor.CPU, tensor.EmptyOn(tensor.CPU, dt, 1).Device())
	}
	assert.Equal(t, []float64{-2.5, -2.5}, tensor.Full(-2.5, tensor.Float32, 2).Float64s())
	assert.Equal(t, []float64{-2, -2}, tensor.Full(-2.5, tensor.Int64, 2).Float64s(), "truncated toward zero")
	assert.Equal(t, []bool{true}, tensor.Full(0.1, tensor.Bool, 1).Bools())
	assert.Equal(t, []float64{0.333251953125}, tensor.Full(1.0/3, tensor.Float16, 1).Float64s())
	assert.Equal(t, []float64{3, 3, 3}, tensor.FullLike(tensor.Zeros(tensor.Int32, 3), 3).Float64s())
	sc := tensor.Scalar(4.5, tensor.Float64)
	assert.Equal(t, 0, sc.NDim())
	assert.Equal(t, 4.5, sc.Item())
	assert.Equal(t, 1, sc.NumElements())
	assert.Equal(t, 0, tensor.Zeros(tensor.Float32).NDim())
	assert.Equal(t, 0, tensor.Zeros(tensor.Float32, 3, 0, 2).NumElements())
}

func TestArangeLinspaceEye(t *testing.T) {
	assert.Equal(t, []float64{0, 1, 2, 3, 4}, tensor.Arange(0, 5, 1, tensor.Float64).Float64s())
	assert.Equal(t, []float64{5, 3, 1}, tensor.Arange(5, 0, -2, tensor.Int64).Float64s())
	assert.Equal(t, []float64{0, 0.5, 1, 1.5}, tensor.Arange(0, 2, 0.5, tensor.Float32).Float64s())
	assert.Equal(t, 10, tensor.Arange(0, 1, 0.1, tensor.Float64).NumElements(), "like numpy.arange(0, 1, 0.1)")
	assert.Equal(t, 0, tensor.Arange(3, 1, 1, tensor.Float32).NumElements())
	assert.Equal(t, tensor.Int32, tensor.Arange(0, 3, 1, tensor.Int32).DType())
	assert.Error(t, tensor.Try(func() { tensor.Arange(0, math.NaN(), 1, tensor.Float32) }))

	assert.Equal(t, []float64{0, 0.25, 0.5, 0.75, 1}, tensor.Linspace(0, 1, 5, tensor.Float64).Float64s())
	assert.Equal(t, []float64{2}, tensor.Linspace(2, 3, 1, tensor.Float64).Float64s())
	assert.Equal(t, 0, tensor.Linspace(2, 3, 0, tensor.Float64).NumElements())
	assert.Equal(t, []float64{3, 1, -1}, tensor.Linspace(3, -1, 3, tensor.Int64).Float64s())
	l := tensor.Linspace(-1, 1, 101, tensor.Float32).Float64s()
	assert.Equal(t, -1.0, l[0])
	assert.Equal(t, 1.0, l[100], "the end point is exact")

	for _, dt := range allDTypes {
		eye := tensor.Eye(3, dt)
		assert.Equal(t, dt, eye.DType())
		assert.Equal(t, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, eye.Float64s())
	}
	assert.Equal(t, tensor.Shape{0, 0}, tensor.Eye(0, tensor.Float32).Shape())
	// Eye is the identity of MatMul
	x := tensor.NewGenerator(1).Normal(0, 1, tensor.Float64, 3, 4)
	assert.True(t, tensor.Equal(x, tensor.MatMul(tensor.Eye(3, tensor.Float64), x)))
}

func TestRandomCreation(t *testing.T) {
	tensor.Seed(5)
	r := tensor.Rand(3, 4)
	assert.Equal(t, tensor.Float32, r.DType())
	assert.Equal(t, tensor.Shape{3, 4}, r.Shape())
	for _, v := range r.Float64s() {
		assert.True(t, v >= 0 && v < 1)
	}
	n := tensor.Randn(1000)
	assert.Equal(t, tensor.Float32, n.DType())
	m, v := meanVar(n.Float64s())
	assert.InDelta(t, 0, m, 5/math.Sqrt(1000))
	assert.InDelta(t, 1, v, 5*math.Sqrt(2.0/1000))
	i := tensor.RandIntN(-2, 3, 500)
	assert.Equal(t, tensor.Int64, i.DType())
	seen := map[int64]bool{}
	for _, x := range i.Int64s() {
		require.True(t, x >= -2 && x < 3)
		seen[x] = true
	}
	assert.Len(t, seen, 5)
	b := tensor.Bernoulli(0.25, 2000)
	assert.Equal(t, tensor.Float32, b.DType())
	m, _ = meanVar(b.Float64s())
	assert.InDelta(t, 0.25, m, 5*math.Sqrt(0.25*0.75/2000))
	assert.Equal(t, 0, tensor.Rand().NDim())
	assert.Equal(t, 0, tensor.Randn(0, 5).NumElements())
	// every dtype can be filled
	g := tensor.NewGenerator(8)
	for _, dt := range allDTypes {
		assert.Equal(t, dt, g.Bernoulli(0.5, dt, 3).DType())
		if dt.IsFloat() {
			assert.Equal(t, dt, g.Uniform(0, 1, dt, 3).DType())
			assert.Equal(t, dt, g.Normal(0, 1, dt, 3).DType())
		}
	}
}

func TestElementAccess(t *testing.T) {
	x := tensor.FromSlice([]int32{1, 2, 3, 4, 5, 6}, 2, 3)
	assert.Equal(t, 6.0, x.At(1, 2))
	assert.Equal(t, 6.0, x.At(-1, -1), "negative indices count from the end")
	x.Set(-4, 0, 1)
	assert.Equal(t, []int64{1, -4, 3, 4, 5, 6}, x.Int64s())
	assert.Equal(t, []float32{1, -4, 3, 4, 5, 6}, tensor.ToSlice[float32](x))
	assert.Equal(t, []bool{true, true, true, true, true, true}, x.Bools())
	assert.Equal(t, 3, x.Dim(-1))
	assert.Equal(t, 2, x.NDim())
	assert.Equal(t, 0, x.Offset())
	assert.Equal(t, 5.0, x.Select(0, 1).Select(0, 1).Item())
	assert.Equal(t, 1, x.Slice(1, 1, 3, 1).Offset())
}
