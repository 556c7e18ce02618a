package pipeline

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Layer is one named piece of a model: Name is its path in the unsplit
// model ("3", or "blocks.2"), so the parameters of a stage keep the names
// they have in the whole model.
type Layer struct {
	Name   string
	Module nn.Module
}

// Part is one pipeline stage: a run of a model's layers applied in order.
// Its parameters and buffers are named as in the unsplit model (layer name,
// a dot, the parameter's name in the layer), so the state dicts of all
// parts together are the whole model's state dict and a checkpoint saved
// from the parts loads into the unsplit model and back.
type Part struct {
	Layers []Layer
}

var _ nn.Module = (*Part)(nil)

// NewPart returns the part made of layers.
func NewPart(layers ...Layer) *Part {
	for _, l := range layers {
		if l.Name == "" || l.Module == nil {
			panic(tensor.Errorf("pipeline.NewPart", "layer %q: empty name or nil module", l.Name))
		}
	}
	return &Part{Layers: layers}
}

// Forward applies the layers in order.
func (p *Part) Forward(x *autograd.Var) *autograd.Var {
	for _, l := range p.Layers {
		x = l.Module.Forward(x)
	}
	return x
}

// Parameters lists the layers' parameters with their names in the unsplit
// model.
func (p *Part) Parameters() []nn.NamedParam {
	var out []nn.NamedParam
	for _, l := range p.Layers {
		for _, q := range l.Module.Parameters() {
			out = append(out, nn.NamedParam{Name: l.Name + "." + q.Name, Param: q.Param})
		}
	}
	return out
}

// Buffers lists the layers' buffers with their names in the unsplit model.
func (p *Part) Buffers() []nn.NamedBuffer {
	var out []nn.NamedBuffer
	for _, l := range p.Layers {
		for _, b := range l.Module.Buffers() {
			out = append(out, nn.NamedBuffer{Name: l.Name + "." + b.Name, Buffer: b.Buffer})
		}
	}
	return out
}

// Train sets every layer's mode.
func (p *Part) Train(on bool) {
	for _, l := range p.Layers {
		l.Module.Train(on)
	}
}

// Training reports whether the first layer is in training mode.
func (p *Part) Training() bool { return len(p.Layers) > 0 && p.Layers[0].Module.Training() }

// StateDict maps the parameter and buffer names (as in the unsplit model)
// to the live tensors.
func (p *Part) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for _, q := range p.Parameters() {
		sd[q.Name] = q.Param.Value()
	}
	for _, b := range p.Buffers() {
		sd[b.Name] = b.Buffer
	}
	return sd
}

// LoadStateDict copies the part's entries of sd into its parameters and
// buffers. Unlike nn.Base's, it ignores names of other parts, so the whole
// model's state dict loads into each part; every name of the part must be
// present with its shape.
func (p *Part) LoadStateDict(sd map[string]*tensor.Tensor) error {
	own := p.StateDict()
	var missing, mismatched []string
	for name, t := range own {
		src, ok := sd[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case !src.Shape().Equal(t.Shape()):
			mismatched = append(mismatched, fmt.Sprintf("%s: %v, part %v", name, src.Shape(), t.Shape()))
		}
	}
	if len(missing)+len(mismatched) > 0 {
		sort.Strings(missing)
		sort.Strings(mismatched)
		return fmt.Errorf("pipeline: Part.LoadStateDict: missing %v, shape mismatches %v", missing, mismatched)
	}
	for name, t := range own {
		t.CopyFrom(sd[name].To(t.Device()))
	}
	return nil
}

// SequentialLayers returns seq's layers named as nn.Sequential names them
// ("0", "1", ...).
func SequentialLayers(seq *nn.Sequential) []Layer {
	out := make([]Layer, len(seq.Layers))
	for i, m := range seq.Layers {
		out[i] = Layer{Name: strconv.Itoa(i), Module: m}
	}
	return out
}

// Split cuts layers into len(bounds)−1 parts: part k holds
// layers[bounds[k]:bounds[k+1]]. bounds must start at 0, end at
// len(layers) and increase strictly (no empty part).
func Split(layers []Layer, bounds []int) ([]*Part, error) {
	if len(bounds) < 2 || bounds[0] != 0 || bounds[len(bounds)-1] != len(layers) {
		return nil, fmt.Errorf("pipeline: Split: bounds %v must run from 0 to %d", bounds, len(layers))
	}
	parts := make([]*Part, len(bounds)-1)
	for k := range parts {
		if bounds[k+1] <= bounds[k] {
			return nil, fmt.Errorf("pipeline: Split: bounds %v: part %d is empty", bounds, k)
		}
		parts[k] = NewPart(layers[bounds[k]:bounds[k+1]]...)
	}
	return parts, nil
}

// SplitEven cuts layers into k parts of (nearly) equal layer counts.
func SplitEven(layers []Layer, k int) ([]*Part, error) {
	if k < 1 || k > len(layers) {
		return nil, fmt.Errorf("pipeline: SplitEven: %d parts of %d layers", k, len(layers))
	}
	bounds := make([]int, k+1)
	for i := range bounds {
		bounds[i] = i * len(layers) / k
	}
	return Split(layers, bounds)
}

// Balance returns the bounds (for Split) of the cut of len(costs) layers
// into k contiguous parts whose largest total cost is smallest (the
// pipeline runs at the pace of its slowest stage).
func Balance(costs []float64, k int) ([]int, error) {
	n := len(costs)
	if k < 1 || k > n {
		return nil, fmt.Errorf("pipeline: Balance: %d parts of %d layers", k, n)
	}
	prefix := make([]float64, n+1)
	for i, c := range costs {
		if c < 0 || math.IsNaN(c) {
			return nil, fmt.Errorf("pipeline: Balance: layer %d costs %v", i, c)
		}
		prefix[i+1] = prefix[i] + c
	}
	// best[j][i]: the smallest largest-part cost of the first i layers in j parts.
	best := make([][]float64, k+1)
	cut := make([][]int, k+1)
	for j := range best {
		best[j] = make([]float64, n+1)
		cut[j] = make([]int, n+1)
		for i := range best[j] {
			best[j][i] = math.Inf(1)
		}
	}
	best[0][0] = 0
	for j := 1; j <= k; j++ {
		for i := j; i <= n; i++ {
			for l := j - 1; l < i; l++ {
				c := max(best[j-1][l], prefix[i]-prefix[l])
				if c < best[j][i] {
					best[j][i], cut[j][i] = c, l
				}
			}
		}
	}
	bounds := make([]int, k+1)
	bounds[k] = n
	for j := k; j > 0; j-- {
		bounds[j-1] = cut[j][bounds[j]]
	}
	return bounds, nil
}

// LayerCosts measures each layer's forward plus backward time on x (the
// model's input), the median of reps runs, for Balance. The gradients it
// leaves in the parameters are zeroed.
func LayerCosts(layers []Layer, x *autograd.Var, reps int) []float64 {
	reps = max(reps, 1)
	costs := make([]float64, len(layers))
	in := x
	for i, l := range layers {
		runs := make([]float64, reps)
		var out *autograd.Var
		for r := range runs {
			xin := autograd.NewVar(in.Value(), in.DType().IsFloat())
			t0 := time.Now()
			out = l.Module.Forward(xin)
			if out.RequiresGrad() {
				if err := out.Backward(tensor.FullLike(out.Value(), 1)); err != nil {
					panic(&tensor.Error{Op: "pipeline.LayerCosts", Msg: "backward of layer " + l.Name, Err: err})
				}
			}
			runs[r] = time.Since(t0).Seconds()
		}
		nn.ZeroGrad(l.Module)
		sort.Float64s(runs)
		costs[i] = runs[reps/2]
		in = autograd.Constant(out.Value())
	}
	return costs
}

// Chunks returns rank's model chunks for s from the parts of all s.Stages()
// stages: parts[s.Stage(rank, c)] for c = 0..V−1, the chunks New takes.
func Chunks[M nn.Module](s *Schedule, parts []M, rank int) []nn.Module {
	if len(parts) != s.Stages() || rank < 0 || rank >= s.P {
		panic(tensor.Errorf("pipeline.Chunks", "%d parts for %d stages, rank %d of %d", len(parts), s.Stages(), rank, s.P))
	}
	out := make([]nn.Module, s.V)
	for c := range out {
		out[c] = parts[s.Stage(rank, c)]
	}
	return out
}
