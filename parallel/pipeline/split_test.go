package pipeline_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/tensor"
)

// TestPartsKeepTheModelsNames: the parts' parameters are the unsplit
// model's, under the same names, and a state dict moves between the whole
// model and the parts both ways.
func TestPartsKeepTheModelsNames(t *testing.T) {
	model := newMLP(1)
	parts, err := pipeline.Split(pipeline.SequentialLayers(model), []int{0, 3, 4, 9, 15})
	require.NoError(t, err)
	got := map[string]*autograd.Var{}
	for _, p := range parts {
		for _, q := range p.Parameters() {
			_, dup := got[q.Name]
			require.False(t, dup, q.Name)
			got[q.Name] = q.Param
		}
	}
	want := model.Parameters()
	require.Len(t, got, len(want))
	for _, q := range want {
		assert.Same(t, q.Param, got[q.Name], q.Name)
	}
	assert.Contains(t, got, "14.weight")

	// A state dict of another model loads into the parts (each takes its
	// own entries), and the union of the parts' state dicts into a model.
	other := newMLP(2)
	for _, p := range parts {
		require.NoError(t, p.LoadStateDict(other.StateDict()))
	}
	assert.Equal(t, other.StateDict()["8.bias"].Float64s(), model.StateDict()["8.bias"].Float64s())
	union := map[string]*tensor.Tensor{}
	for _, p := range parts {
		for k, v := range p.StateDict() {
			union[k] = v
		}
	}
	third := newMLP(3)
	require.NoError(t, third.LoadStateDict(union))
	assert.Equal(t, other.StateDict()["0.weight"].Float64s(), third.StateDict()["0.weight"].Float64s())

	x := tensor.NewGenerator(5).Normal(0, 1, tensor.Float64, 4, 6)
	y := autograd.Constant(x)
	for _, p := range parts {
		y = p.Forward(y)
	}
	assert.InDeltaSlice(t, model.Forward(autograd.Constant(x)).Value().Float64s(), y.Value().Float64s(), 1e-12)

	delete(union, "0.weight")
	assert.ErrorContains(t, parts[0].LoadStateDict(union), "missing [0.weight]")
	parts[1].Train(false)
	assert.False(t, parts[1].Training())
	assert.True(t, parts[0].Training())
}

func TestSplitErrors(t *testing.T) {
	layers := pipeline.SequentialLayers(newMLP(1))
	_, err := pipeline.Split(layers, []int{0, 5})
	assert.ErrorContains(t, err, "from 0 to 15")
	_, err = pipeline.Split(layers, []int{0, 5, 5, 15})
	assert.ErrorContains(t, err, "part 1 is empty")
	_, err = pipeline.SplitEven(layers, 16)
	assert.Error(t, err)
	parts, err := pipeline.SplitEven(layers, 4)
	require.NoError(t, err)
	n := 0
	for _, p := range parts {
		assert.InDelta(t, 15.0/4, len(p.Layers), 1)
		n += len(p.Layers)
	}
	assert.Equal(t, 15, n)
}

// TestBalanceIsOptimal: Balance's largest part is the smallest over every
// cut (brute force over all cuts of 9 layers into 3 and 4 parts).
func TestBalanceIsOptimal(t *testing.T) {
	g := tensor.NewGenerator(3)
	for trial := range 20 {
		costs := g.Uniform(0.1, 5, tensor.Float64, 9).Float64s()
		for _, k := range []int{1, 3, 4} {
			bounds, err := pipeline.Balance(costs, k)
			require.NoError(t, err)
			require.Len(t, bounds, k+1)
			assert.Equal(t, 0, bounds[0])
			assert.Equal(t, 9, bounds[k])
			got := largest(costs, bounds)
			best := math.Inf(1)
			var rec func(start int, bs []int)
			rec = func(start int, bs []int) {
				if len(bs) == k {
					best = math.Min(best, largest(costs, append(bs, 9)))
					return
				}
				for c := start + 1; c <= 9-(k-len(bs)); c++ {
					rec(c, append(append([]int{}, bs...), c))
				}
			}
			rec(0, []int{0})
			assert.InDelta(t, best, got, 1e-12, "trial %d k=%d bounds %v", trial, k, bounds)
		}
	}
	_, err := pipeline.Balance([]float64{1, 2}, 3)
	assert.Error(t, err)
	_, err = pipeline.Balance([]float64{1, -2}, 1)
	assert.Error(t, err)
}

func largest(costs []float64, bounds []int) float64 {
	m := 0.0
	for k := 0; k+1 < len(bounds); k++ {
		s := 0.0
		for _, c := range costs[bounds[k]:bounds[k+1]] {
			s += c
		}
		m = math.Max(m, s)
	}
	return m
}

// TestLayerCostsBalanceAHeavyLayer: a layer 30 times wider than the others
// gets a stage of its own.
func TestLayerCostsBalanceAHeavyLayer(t *testing.T) {
	g := tensor.NewGenerator(1)
	f64 := nn.WithDType(tensor.Float64)
	layers := []pipeline.Layer{
		{Name: "a", Module: nn.NewLinear(g, 16, 16, true, f64)},
		{Name: "b", Module: nn.NewLinear(g, 16, 16, true, f64)},
		{Name: "heavy", Module: nn.NewSequential(nn.NewLinear(g, 16, 480, true, f64), nn.NewLinear(g, 480, 16, true, f64))},
		{Name: "c", Module: nn.NewLinear(g, 16, 16, true, f64)},
	}
	x := autograd.Constant(g.Normal(0, 1, tensor.Float64, 256, 16))
	costs := pipeline.LayerCosts(layers, x, 7)
	require.Len(t, costs, 4)
	assert.Greater(t, costs[2], costs[0]+costs[1]+costs[3])
	bounds, err := pipeline.Balance(costs, 3)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 2, 3, 4}, bounds)
	for _, l := range layers {
		for _, p := range l.Module.Parameters() {
			if gr := p.Param.Grad(); gr != nil {
				assert.Zero(t, tensor.Max(tensor.Abs(gr), false).Item(), "LayerCosts leaves no gradient")
			}
		}
	}
}
