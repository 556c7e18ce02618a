package optim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// The model states of a Linear layer trained with Adam are counted in the
// parameters' ledger: parameters (nn), gradients (autograd) and the two
// moment buffers (optim), 4 bytes each per float32 parameter.
func TestMemoryAccountingModelStates(t *testing.T) {
	g := tensor.NewGenerator(1)
	lin := nn.NewLinear(g, 30, 20, true)
	led := tensor.NewMemoryLedger()
	var params []*autograd.Var
	for _, p := range lin.Parameters() {
		assert.Equal(t, tensor.MemoryParameters, tensor.MemoryCategoryOf(p.Param.Value()))
		led.Charge(p.Param.Value(), tensor.MemoryParameters)
		params = append(params, p.Param)
	}
	const psi = 30*20 + 20
	opt := optim.NewAdam(params, optim.Options{LR: 1e-2})
	for range 2 {
		opt.ZeroGrad()
		x := autograd.Constant(g.FillNormal(tensor.Empty(tensor.Float32, 8, 30), 0, 1))
		loss := autograd.Mean(autograd.Square(lin.Forward(x)), false)
		require.NoError(t, loss.Backward())
		require.NoError(t, opt.Step())
	}
	s := led.Stats()
	assert.Equal(t, int64(4*psi), s.Category[tensor.MemoryParameters].Live)
	assert.Equal(t, int64(4*psi), s.Category[tensor.MemoryGradients].Live)
	assert.Equal(t, int64(8*psi), s.Category[tensor.MemoryOptimizerState].Live)
	assert.Equal(t, int64(16*psi), s.ModelState.Live)
	assert.Equal(t, int64(16*psi), s.ModelState.Peak)
	assert.Equal(t, tensor.MemoryGradients, tensor.MemoryCategoryOf(params[0].Grad()))
}
