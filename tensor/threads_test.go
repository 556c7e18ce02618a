package tensor

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/kernels/cpu"
)

func TestSetThreadsBoundsTheCPULoops(t *testing.T) {
	p := runtime.GOMAXPROCS(0)
	defer SetThreads(0)
	prev := SetThreads(1)
	assert.Equal(t, p, prev)
	assert.Equal(t, 1, Threads())
	assert.Equal(t, 1, cpu.MaxThreads(), "the GEMM kernels follow")
	assert.Equal(t, 1, workers(1<<30, 1))
	assert.Equal(t, 1, convWorkers(1<<20, 1<<20))

	// Same results with one thread as with the default.
	g := NewGenerator(7)
	a, b := g.Normal(0, 1, Float64, 300, 200), g.Normal(0, 1, Float64, 200, 250)
	one := MatMul(a, b)
	s1 := Sum(Exp(a), false).Item()
	SetThreads(0)
	assert.Equal(t, p, Threads())
	assert.Equal(t, p, cpu.MaxThreads())
	require.InDeltaSlice(t, MatMul(a, b).Float64s(), one.Float64s(), 1e-9)
	assert.InDelta(t, Sum(Exp(a), false).Item(), s1, 1e-9*s1)

	assert.Equal(t, p, SetThreads(p+5))
	assert.Equal(t, p, Threads(), "never above GOMAXPROCS")
}
