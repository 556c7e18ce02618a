package tensor_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func TestPoolReuse(t *testing.T) {
	var p tensor.Pool
	a := p.Get(tensor.Float32, 4, 10)
	require.Equal(t, tensor.Shape{4, 10}, a.Shape())
	require.True(t, a.IsContiguous())
	a.Float32s() // readable
	st := a.Storage()
	cached := tensor.MemoryStats(tensor.CPU).Cached
	require.True(t, p.Put(a))
	assert.Equal(t, int64(160), p.Cached())
	assert.Equal(t, cached+160, tensor.MemoryStats(tensor.CPU).Cached)

	// the same dtype and element count, another shape: the same storage,
	// laid out afresh
	b := p.Get(tensor.Float32, 40)
	assert.Same(t, st, b.Storage())
	assert.Equal(t, tensor.Shape{40}, b.Shape())
	assert.Equal(t, []int{1}, b.Strides())
	assert.Equal(t, 0, b.Offset())
	assert.Equal(t, int64(0), p.Cached())
	assert.Equal(t, cached, tensor.MemoryStats(tensor.CPU).Cached)

	// another dtype or size: a new tensor
	c := p.Get(tensor.Float64, 40)
	assert.NotSame(t, st, c.Storage())
	require.True(t, p.Put(b.Reshape(8, 5).T())) // any view gives the storage back
	d := p.Get(tensor.Float32, 2, 20)
	assert.Same(t, st, d.Storage())
	require.Equal(t, tensor.Shape{2, 20}, d.Shape())
	assert.Equal(t, []int{20, 1}, d.Strides())
	p.Clear()
	assert.Equal(t, int64(0), p.Cached())
	runtime.KeepAlive(c)
}

func TestPoolRefuses(t *testing.T) {
	var p tensor.Pool
	assert.False(t, p.Put(nil))
	// storage that is not one of the combined tensor objects
	assert.False(t, p.Put(tensor.FromView(tensor.View{Storage: tensor.NewHostStorage(tensor.Float32, make([]float32, 4)),
		Shape: []int{4}, Strides: []int{1}})))
	// too large, or empty
	assert.False(t, p.Put(tensor.Empty(tensor.Float32, tensor.PoolMaxBytes/4+1)))
	assert.False(t, p.Put(tensor.Empty(tensor.Float32, 0)))
	// counted by the memory statistics
	g := tensor.Empty(tensor.Float32, 10)
	tensor.SetMemoryCategory(g, tensor.MemoryGradients)
	assert.False(t, p.Put(g))
	assert.Equal(t, int64(0), p.Cached())
	// bounded per size
	for range 40 {
		p.Put(tensor.Empty(tensor.Float32, 3))
	}
	assert.LessOrEqual(t, p.Cached(), int64(16*12))
	p.Clear()
}

// A tensor taken from the cache while tracking is on is counted like a new
// one (and so is never cached again); nothing in the cache is counted live.
func TestPoolMemoryTracking(t *testing.T) {
	var p tensor.Pool
	require.True(t, p.Put(tensor.Empty(tensor.Float32, 25)))
	defer tensor.SetMemoryTracking(tensor.SetMemoryTracking(true))
	before := tensor.MemoryStats(tensor.CPU)
	a := p.Get(tensor.Float32, 25)
	after := tensor.MemoryStats(tensor.CPU)
	assert.Equal(t, int64(100), after.AllocatedBytes-before.AllocatedBytes)
	assert.Equal(t, int64(-100), after.Cached-before.Cached)
	assert.Equal(t, tensor.MemoryOther, tensor.MemoryCategoryOf(a))
	assert.False(t, p.Put(a), "a counted buffer stays with its cleanup")
	runtime.KeepAlive(a)
}

func TestReLUGradInto(t *testing.T) {
	g := tensor.NewGenerator(4)
	for _, n := range []int{7, 40, 5000} {
		gr := g.Uniform(-1, 1, tensor.Float32, n)
		y := g.Uniform(-1, 1, tensor.Float32, n)
		want := tensor.ReLUGrad(gr, y).Float32s()
		assert.Equal(t, want, tensor.ReLUGradInto(tensor.EmptyLike(gr), gr, y).Float32s())
		assert.Equal(t, want, tensor.ReLUGradInto(gr, gr, y).Float32s(), "in place")
		// the composed path (float64)
		g64, y64 := g.Uniform(-1, 1, tensor.Float64, n), g.Uniform(-1, 1, tensor.Float64, n)
		assert.Equal(t, tensor.ReLUGrad(g64, y64).Float64s(), tensor.ReLUGradInto(tensor.EmptyLike(g64), g64, y64).Float64s())
	}
	require.Panics(t, func() {
		tensor.ReLUGradInto(tensor.Empty(tensor.Float32, 3), tensor.Empty(tensor.Float32, 4), tensor.Empty(tensor.Float32, 4))
	})
}

// Taking a cached tensor allocates nothing.
func TestPoolGetAllocs(t *testing.T) {
	var p tensor.Pool
	p.Put(tensor.Empty(tensor.Float32, 10, 40))
	n := testing.AllocsPerRun(100, func() { p.Put(p.Get(tensor.Float32, 10, 40)) })
	assert.Equal(t, 0.0, n)
}
