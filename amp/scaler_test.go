package amp

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

func TestScalerGrowthAndBackoff(t *testing.T) {
	s := NewGradScaler(ScalerOptions{InitScale: 1024, GrowthFactor: 4, BackoffFactor: 0.25, GrowthInterval: 3})
	for i := range 2 {
		s.Update()
		assert.Equal(t, 1024.0, s.Scale(), "good step %d", i+1)
		assert.Equal(t, i+1, s.GrowthTracker())
	}
	s.Update() // third good step: grows
	assert.Equal(t, 4096.0, s.Scale())
	assert.Equal(t, 0, s.GrowthTracker())
	s.Update()
	s.RecordInf(true)
	assert.True(t, s.FoundInf())
	s.Update() // overflow: backs off and restarts the count
	assert.Equal(t, 1024.0, s.Scale())
	assert.Equal(t, 0, s.GrowthTracker())
	assert.False(t, s.FoundInf())

	d := NewGradScaler(ScalerOptions{})
	assert.Equal(t, ScalerOptions{InitScale: 65536, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}, d.Options())

	for _, bad := range []ScalerOptions{{InitScale: -1}, {GrowthFactor: 0.5}, {BackoffFactor: 1.5}, {GrowthInterval: -2}} {
		err := tensor.Try(func() { NewGradScaler(bad) })
		assert.Error(t, err, "%+v", bad)
	}
}

func TestScalerStateDict(t *testing.T) {
	s := NewGradScaler(ScalerOptions{InitScale: 512, GrowthInterval: 5, GrowthFactor: 3})
	s.Update()
	s.Update()
	sd := s.StateDict()
	require.Len(t, sd, 5)
	assert.Equal(t, 512.0, sd["scale"].Item())
	assert.Equal(t, 2.0, sd["_growth_tracker"].Item())
	assert.Equal(t, 3.0, sd["growth_factor"].Item())

	r := NewGradScaler(ScalerOptions{})
	require.NoError(t, r.LoadStateDict(sd))
	assert.Equal(t, 512.0, r.Scale())
	assert.Equal(t, 2, r.GrowthTracker())
	assert.Equal(t, 5, r.Options().GrowthInterval)
	for range 3 {
		r.Update()
	}
	assert.Equal(t, 1536.0, r.Scale(), "the loaded growth count and factor carry on")

	bad := s.StateDict()
	bad["scale"] = tensor.Scalar(-1, tensor.Float64)
	assert.Error(t, r.LoadStateDict(bad))
	delete(bad, "scale")
	assert.Error(t, r.LoadStateDict(bad))
	assert.Equal(t, 1536.0, r.Scale(), "a refused state changes nothing")
}

// With float32 parameters (the autocast arrangement) Step unscales the
// gradients in place and skips the step on an injected inf.
func TestScalerStepFloat32(t *testing.T) {
	g := tensor.NewGenerator(3)
	w := autograd.Param(g.Normal(0, 1, tensor.Float32, 4, 3))
	opt := optim.NewSGD([]*autograd.Var{w}, optim.Options{LR: 0.5})
	s := NewGradScaler(ScalerOptions{InitScale: 256, GrowthInterval: 2})
	x := g.Normal(0, 1, tensor.Float32, 3)

	loss := autograd.Sum(autograd.MatMul(w, autograd.Constant(x)), false)
	require.NoError(t, s.ScaleLoss(loss).Backward())
	// d loss/dw[i][j] = x[j], times the scale
	gr := w.Grad().Float64s()
	for i := range 4 {
		for j := range 3 {
			assert.InDelta(t, 256*x.Float64s()[j], gr[i*3+j], 1e-4)
		}
	}
	before := w.Value().Float64s()
	stepped, err := s.Step(opt)
	require.NoError(t, err)
	require.True(t, stepped)
	after := w.Value().Float64s()
	for i := range 4 {
		for j := range 3 {
			assert.InDelta(t, before[i*3+j]-0.5*x.Float64s()[j], after[i*3+j], 1e-6, "unscaled step")
		}
	}
	s.Update()

	opt.ZeroGrad()
	loss = autograd.Sum(autograd.MatMul(w, autograd.Constant(x)), false)
	require.NoError(t, s.ScaleLoss(loss).Backward())
	grad := w.Grad()
	grad.Set(math.Inf(1), 1, 2) // injected overflow
	stepped, err = s.Step(opt)
	require.NoError(t, err)
	assert.False(t, stepped)
	assert.Equal(t, after, w.Value().Float64s(), "the skipped step leaves the weights")
	s.Update()
	assert.Equal(t, 128.0, s.Scale())
}
