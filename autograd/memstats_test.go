package autograd_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// With tracking on, the outputs of recorded ops are activations and a
// leaf's stored gradient is charged to its value's ledger; outputs of
// unrecorded ops stay "other".
func TestMemoryCategories(t *testing.T) {
	defer tensor.SetMemoryTracking(tensor.SetMemoryTracking(true))
	g := tensor.NewGenerator(3)
	w := autograd.Param(g.FillNormal(tensor.Empty(tensor.Float32, 16, 8), 0, 1))
	led := tensor.NewMemoryLedger()
	led.Charge(w.Value(), tensor.MemoryParameters)
	x := autograd.Constant(g.FillNormal(tensor.Empty(tensor.Float32, 4, 16), 0, 1))
	h := autograd.MatMul(x, w)
	y := autograd.Sum(autograd.Tanh(h), false)
	assert.Equal(t, tensor.MemoryActivations, tensor.MemoryCategoryOf(h.Value()))
	var z *autograd.Var
	autograd.NoGrad(func() { z = autograd.Tanh(x) })
	assert.Equal(t, tensor.MemoryOther, tensor.MemoryCategoryOf(z.Value()))
	require.NoError(t, y.Backward())
	assert.Equal(t, tensor.MemoryGradients, tensor.MemoryCategoryOf(w.Grad()))
	assert.Equal(t, int64(16*8*4), led.Stats().Category[tensor.MemoryGradients].Live)
}
