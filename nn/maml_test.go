package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// TestSecondOrderMAML checks the meta-gradient of one inner SGD step,
// d/dθ L_query(θ - lr·∇L_support(θ)), computed with CreateGraph and
// FunctionalCall, against central differences of the meta-objective
// (float64, eps 1e-6, tol 1e-6).
func TestSecondOrderMAML(t *testing.T) {
	g := tensor.NewGenerator(21)
	model := NewSequential(NewLinear(g, 3, 4, true, f64), NewTanh(), NewLinear(g, 4, 2, true, f64))
	xs, ys := autograd.Constant(randn(5, 3)), autograd.Constant(randn(5, 2))
	xq, yq := autograd.Constant(randn(6, 3)), autograd.Constant(randn(6, 2))
	const lr = 0.3

	meta := func(create bool) *autograd.Var {
		params := model.Parameters()
		vars := Params(model)
		inner := MSELoss(model.Forward(xs), ys)
		grads, err := autograd.Grad([]*autograd.Var{inner}, vars, nil, autograd.BackwardOpts{CreateGraph: create})
		require.NoError(t, err)
		fast := map[string]*autograd.Var{}
		for i, p := range params {
			fast[p.Name] = autograd.Sub(p.Param, autograd.MulScalar(grads[i], lr))
		}
		return MSELoss(FunctionalCall(model, fast, xq), yq)
	}
	ZeroGrad(model)
	require.NoError(t, meta(true).Backward())
	for _, p := range model.Parameters() {
		val := p.Param.Value()
		n := val.NumElements()
		flat := val.Reshape(n)
		ga := p.Param.Grad().Float64s()
		for j := range n {
			orig := flat.At(j)
			flat.Set(orig+1e-6, j)
			fp := meta(false).Item()
			flat.Set(orig-1e-6, j)
			fm := meta(false).Item()
			flat.Set(orig, j)
			num := (fp - fm) / 2e-6
			assert.LessOrEqual(t, math.Abs(ga[j]-num), 1e-6*(1+math.Abs(num)), "%s[%d]: analytic %g numeric %g", p.Name, j, ga[j], num)
		}
	}
	// The model still holds its own parameters.
	assert.Same(t, model.Layers[0].(*Linear).Weight, model.Parameters()[0].Param)

	// First-order MAML (no CreateGraph) differs: the Hessian term is missing.
	ZeroGrad(model)
	require.NoError(t, meta(false).Backward())
	firstOrder := model.Parameters()[0].Param.Grad().Clone()
	ZeroGrad(model)
	require.NoError(t, meta(true).Backward())
	assert.False(t, tensor.AllClose(firstOrder, model.Parameters()[0].Param.Grad(), 1e-9, 1e-9))
}
