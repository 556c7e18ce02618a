package argcheck

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

func buf(dt tensor.DType, shape ...int) collectives.Buffer {
	return collectives.Buffer{DType: dt, Count: tensor.Shape(shape).NumElements(), Shape: shape}
}

// maxReduce is what the backends' Max all-reduce of the packed headers computes.
func maxReduce(hs ...[Len]int64) [2 * Len]int64 {
	out := Pack(hs[0])
	for _, h := range hs[1:] {
		p := Pack(h)
		for i := range out {
			out[i] = max(out[i], p[i])
		}
	}
	return out
}

func TestAgreeAndMismatch(t *testing.T) {
	k := collectives.KindAllReduce
	a := Header(k, collectives.Sum, 0, buf(tensor.Float32, 4, 3), collectives.Buffer{})
	b := Header(k, collectives.Sum, 0, buf(tensor.Float32, 4, 4), collectives.Buffer{})
	require.True(t, Agreed(a, maxReduce(a, a, a)))
	require.False(t, Agreed(a, maxReduce(a, b, a)))
	require.False(t, Agreed(b, maxReduce(a, b, a)))

	all := append(append(append([]int64{}, a[:]...), a[:]...), b[:]...)
	err := Mismatch(k, all)
	require.ErrorIs(t, err, collectives.ErrMismatch)
	require.Contains(t, err.Error(), "rank 0 passed float32[4 3] but rank 2 passed float32[4 4]")

	c := Header(k, collectives.Sum, 0, buf(tensor.Float64, 4, 3), collectives.Buffer{})
	require.Contains(t, Mismatch(k, append(append([]int64{}, a[:]...), c[:]...)).Error(), "float64[4 3]")
	d := Header(collectives.KindBroadcast, 0, 1, buf(tensor.Float32, 4, 3), collectives.Buffer{})
	require.Contains(t, Mismatch(k, append(append([]int64{}, a[:]...), d[:]...)).Error(), "rank 0 called AllReduce but rank 1 called Broadcast")
	e := Header(k, collectives.Max, 0, buf(tensor.Float32, 4, 3), collectives.Buffer{})
	require.Contains(t, Mismatch(k, append(append([]int64{}, a[:]...), e[:]...)).Error(), "op sum but rank 1 passed op max")
	g := Header(collectives.KindAllGather, 0, 0, buf(tensor.Int32, 8), buf(tensor.Int32, 4))
	g2 := Header(collectives.KindAllGather, 0, 0, buf(tensor.Int32, 8), buf(tensor.Int32, 2, 2))
	require.Contains(t, Mismatch(collectives.KindAllGather, append(append([]int64{}, g[:]...), g2[:]...)).Error(), "src int32[4] but rank 1 passed src int32[2 2]")
	big := Header(k, 0, 0, buf(tensor.Float32, 1, 2, 3, 4, 5), collectives.Buffer{})
	big2 := Header(k, 0, 0, buf(tensor.Float32, 1, 2, 3, 4, 6), collectives.Buffer{})
	require.Contains(t, Mismatch(k, append(append([]int64{}, big[:]...), big2[:]...)).Error(), "float32[120 elements in 5 dims]")
}
