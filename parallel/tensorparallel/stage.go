package tensorparallel

import (
	"context"
	"math"
	"strconv"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/tensor"
)

// tokens is the first layer: the vocabulary-parallel lookup of the tokens
// its input holds.
type tokens struct {
	nn.Base
	m *GPT
	W *autograd.Var
}

func (l *tokens) Forward(x *autograd.Var) *autograd.Var { return l.m.Tok.Lookup(x.Value()) }

// positions adds the position embedding (this rank's sequence shard of it
// under sequence parallelism) and applies the embedding dropout.
type positions struct {
	nn.Base
	m *GPT
	W *autograd.Var
}

func (l *positions) Forward(x *autograd.Var) *autograd.Var { return l.m.addPositions(x) }

// head is the last layer: the logits of this rank's vocabulary range,
// from the tied token embedding.
type head struct {
	nn.Base
	m *GPT
	W *autograd.Var
}

func (l *head) Forward(x *autograd.Var) *autograd.Var { return l.m.Tok.Logits(x) }

func layer(name string, w **autograd.Var, m nn.Module, b *nn.Base) pipeline.Layer {
	b.Train(true)
	b.RegisterParam("weight", w)
	return pipeline.Layer{Name: name, Module: m}
}

// Layers returns the model as a sequence of pipeline layers whose
// parameters carry nn.GPT's names: wte (the token lookup), wpe (positions
// and dropout), h.0 ... h.<L-1>, ln_f, and wte again (the tied head,
// producing this rank's logits slice). Composed, they are Logits.
func (m *GPT) Layers() []pipeline.Layer {
	tok := &tokens{m: m, W: m.Tok.Weight}
	pos := &positions{m: m, W: m.Pos.Weight}
	hd := &head{m: m, W: m.Tok.Weight}
	out := []pipeline.Layer{layer("wte", &tok.W, tok, &tok.Base), layer("wpe", &pos.W, pos, &pos.Base)}
	for i, b := range m.Blocks {
		out = append(out, pipeline.Layer{Name: "h." + strconv.Itoa(i), Module: b})
	}
	return append(out, pipeline.Layer{Name: "ln_f", Module: m.LNF}, layer("wte", &hd.W, hd, &hd.Base))
}

// Stages cuts Layers into k pipeline stages with the blocks divided as
// evenly as Partition divides them (the embedding joins the first stage,
// the final LayerNorm and head the last); with fewer blocks than stages,
// the layers are divided evenly instead.
func (m *GPT) Stages(k int) ([]*pipeline.Part, error) {
	layers := m.Layers()
	nb := len(m.Blocks)
	if k < 1 || nb < k {
		return pipeline.SplitEven(layers, k)
	}
	bounds := []int{0}
	for s := 1; s < k; s++ {
		lo, _ := Partition(nb, k, s)
		bounds = append(bounds, 2+lo)
	}
	return pipeline.Split(layers, append(bounds, len(layers)))
}

// Unique returns a module's distinct parameters (a stage holding both ends
// of the model lists the tied embedding twice), in order.
func Unique(m nn.Module) []*autograd.Var {
	seen := map[*autograd.Var]bool{}
	var out []*autograd.Var
	for _, p := range m.Parameters() {
		if !seen[p.Param] {
			seen[p.Param] = true
			out = append(out, p.Param)
		}
	}
	return out
}

// SyncGrads finishes a training step's gradients on the ranks of a data ×
// pipeline × tensor grid, for this rank's stage of m: the sum of the
// replicated parameters' gradients over the tensor-parallel group under
// sequence parallelism, the sum of the tied token embedding's gradients
// over ends (the first and the last stage of the pipeline; nil with one
// stage) and the average of the stage's gradients over the data-parallel
// group data (nil: none).
func (m *GPT) SyncGrads(ctx context.Context, stage nn.Module, data, ends collectives.Comm) error {
	if err := m.SyncSequenceParallelGrads(); err != nil {
		return err
	}
	params := Unique(stage)
	if ends != nil {
		for _, p := range params {
			if p == m.Tok.Weight {
				if err := allReduceGrads(ctx, ends, []*autograd.Var{p}, collectives.Sum); err != nil {
					return err
				}
			}
		}
	}
	return allReduceGrads(ctx, data, params, collectives.Avg)
}

// allReduceGrads all-reduces the gradients of params over c in one group
// call (a parameter without a gradient contributes zeros).
func allReduceGrads(ctx context.Context, c collectives.Comm, params []*autograd.Var, op collectives.RedOp) error {
	if c == nil || c.Size() == 1 {
		return nil
	}
	calls := make([]collectives.Call, 0, len(params))
	bufs := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		g := p.Grad()
		if g == nil {
			g = tensor.ZerosLike(p.Value())
		}
		bufs[i] = g.Contiguous().Clone()
		calls = append(calls, collectives.AllReduceCall(bufs[i], op))
	}
	if err := c.Group(ctx, calls...); err != nil {
		return err
	}
	for i, p := range params {
		p.SetGrad(bufs[i])
	}
	return nil
}

// ClipGradNorm scales the gradients of this rank's stage so that the
// global norm of the whole model's gradient — every shard and stage, each
// replicated or tied parameter once — is at most maxNorm, and returns that
// norm before clipping (equal on every rank). Call it after SyncGrads, so
// replicas agree; pipe is the pipeline group (nil: one stage). Every rank
// of the grid must call it.
func (m *GPT) ClipGradNorm(ctx context.Context, stage nn.Module, pipe collectives.Comm, maxNorm float64) (float64, error) {
	names := map[*autograd.Var]string{}
	for _, p := range m.Parameters() {
		names[p.Param] = p.Name
	}
	first := pipe == nil || pipe.Rank() == 0
	params := Unique(stage)
	sum := 0.0
	for _, p := range params {
		g := p.Grad()
		if g == nil {
			continue
		}
		if m.layout[names[p]].Replicated() && m.Group.Rank() != 0 {
			continue // the same values on every rank of the group: count them once
		}
		if p == m.Tok.Weight && !first {
			continue // the tied embedding: counted on the first stage
		}
		sum += tensor.Sum(tensor.Square(g.Cast(tensor.Float64)), false).Item()
	}
	t := tensor.FromSlice([]float64{sum}, 1)
	m.Group.allReduce("ClipGradNorm", t, collectives.Sum)
	if err := m.Group.Err(); err != nil {
		return 0, err
	}
	if pipe != nil && pipe.Size() > 1 {
		if err := pipe.AllReduce(ctx, t, collectives.Sum); err != nil {
			return 0, err
		}
	}
	norm := math.Sqrt(t.Item())
	if norm > maxNorm && norm > 0 {
		scale := maxNorm / norm
		for _, p := range params {
			if g := p.Grad(); g != nil {
				p.SetGrad(tensor.MulScalar(g, scale))
			}
		}
	}
	return norm, nil
}
