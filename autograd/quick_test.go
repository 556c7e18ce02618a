package autograd

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

func TestQuick(t *testing.T) {
	x := Param(tensor.FromSlice([]float64{1, 2, 3}, 3))
	y := Sum(Mul(x, x), false)
	require.NoError(t, y.Backward())
	require.Equal(t, []float64{2, 4, 6}, x.Grad().Float64s())
}
