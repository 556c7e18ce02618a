package tensorparallel

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Options configure a tensor-parallel model.
type Options struct {
	// SequenceParallel runs LayerNorm, dropout and the residual stream on
	// a shard of the sequence (T/n positions per rank; T must be divisible
	// by the group size), replacing each f/g all-reduce by an all-gather
	// and a reduce-scatter (Korthikanti et al., 2022). The replicated
	// parameters then receive partial gradients: call
	// SyncSequenceParallelGrads after the backward pass.
	SequenceParallel bool
}

// Block is a tensor-parallel nn.TransformerBlock: replicated LayerNorms,
// ParallelAttention and ParallelMLP.
type Block struct {
	nn.Base
	LN1  *nn.LayerNorm
	Attn *ParallelAttention
	LN2  *nn.LayerNorm
	MLP  *ParallelMLP
	Drop *nn.Dropout
}

func replicaLN(l *nn.LayerNorm) *nn.LayerNorm {
	c := &nn.LayerNorm{Shape: append([]int(nil), l.Shape...), Eps: l.Eps, Weight: replicaOf(l.Weight), Bias: replicaOf(l.Bias)}
	c.Train(true)
	c.RegisterParam("weight", &c.Weight)
	c.RegisterParam("bias", &c.Bias)
	return c
}

// NewBlock cuts this rank's part of the full block.
func NewBlock(g *Group, full *nn.TransformerBlock, opts Options) *Block {
	b := &Block{LN1: replicaLN(full.LN1), Attn: NewParallelAttention(g, full.Attn), LN2: replicaLN(full.LN2),
		MLP: NewParallelMLP(g, full.MLP), Drop: nn.NewDropout(full.Drop.G, full.Drop.P)}
	b.Train(true)
	b.Attn.setSequenceParallel(opts.SequenceParallel)
	b.MLP.setSequenceParallel(opts.SequenceParallel)
	b.RegisterModule("ln_1", b.LN1)
	b.RegisterModule("attn", b.Attn)
	b.RegisterModule("ln_2", b.LN2)
	b.RegisterModule("mlp", b.MLP)
	b.RegisterModule("drop", b.Drop)
	return b
}

// Forward applies the block to x (replicated [B, T, E], or this rank's
// sequence shard [B, T/n, E]).
func (b *Block) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.Add(x, b.Drop.Forward(b.Attn.Forward(b.LN1.Forward(x))))
	return autograd.Add(x, b.Drop.Forward(b.MLP.Forward(b.LN2.Forward(x))))
}

// Shard says how a parameter of a tensor-parallel model relates to the
// full model's parameter of the same name: rows (Axis 0) or columns
// (Axis 1) [Lo, Hi) of Full, or all of it (Axis -1, replicated).
type Shard struct {
	Axis   int
	Lo, Hi int
	Full   int // the full size of Axis
}

// Replicated reports whether the parameter is a full copy.
func (s Shard) Replicated() bool { return s.Axis < 0 }

// GPT is a tensor-parallel nn.GPT: the vocabulary-parallel token embedding
// (tied with the output projection), replicated position embedding and
// LayerNorms, and Blocks with parallel attention and MLP. Its parameters
// carry the names of the full model's (Layout says which slice each holds).
// Embed, Blocks and Head compose like nn.GPT's, so pipeline stages can cut
// it the same way.
type GPT struct {
	nn.Base
	Config           nn.GPTConfig
	Group            *Group
	Tok              *VocabParallelEmbedding
	Pos              *nn.Embedding
	Drop             *nn.Dropout
	Blocks           []*Block
	LNF              *nn.LayerNorm
	SequenceParallel bool
	layout           map[string]Shard
}

// NewGPT cuts this rank's part of the full model (copying the
// parameters), for group g. Every rank of the group must pass an equal
// full model (the same seed).
func NewGPT(g *Group, full *nn.GPT, opts Options) *GPT {
	m := &GPT{Config: full.Config, Group: g, SequenceParallel: opts.SequenceParallel}
	m.Train(true)
	if opts.SequenceParallel && full.Config.Context%g.Size() != 0 {
		panic(tensor.Errorf("tensorparallel.NewGPT", "sequence parallelism over %d ranks needs a context divisible by it, have %d", g.Size(), full.Config.Context))
	}
	m.Tok = NewVocabParallelEmbedding(g, full.Tok)
	m.Tok.SequenceParallel = opts.SequenceParallel
	m.Pos = &nn.Embedding{Weight: replicaOf(full.Pos.Weight)}
	m.Pos.Train(true)
	m.Pos.RegisterParam("weight", &m.Pos.Weight)
	m.Drop = nn.NewDropout(full.Drop.G, full.Drop.P)
	m.RegisterModule("wte", m.Tok)
	m.RegisterModule("wpe", m.Pos)
	m.RegisterModule("drop", m.Drop)
	h := nn.NewSequential()
	for _, fb := range full.Blocks {
		b := NewBlock(g, fb, opts)
		m.Blocks = append(m.Blocks, b)
		h.Append(b)
	}
	m.RegisterModule("h", h)
	m.LNF = replicaLN(full.LNF)
	m.RegisterModule("ln_f", m.LNF)
	m.layout = map[string]Shard{}
	for _, p := range m.Parameters() {
		m.layout[p.Name] = Shard{Axis: -1}
	}
	m.layout["wte.weight"] = Shard{0, m.Tok.Lo, m.Tok.Hi, m.Tok.Vocab}
	for i, b := range m.Blocks {
		pre := fmt.Sprintf("h.%d.", i)
		for _, c := range []struct {
			name string
			l    *ColumnParallelLinear
		}{{"attn.q_proj", b.Attn.Q}, {"attn.k_proj", b.Attn.K}, {"attn.v_proj", b.Attn.V}, {"mlp.fc1", b.MLP.FC1}} {
			m.layout[pre+c.name+".weight"] = Shard{0, c.l.Lo, c.l.Hi, c.l.Out}
			m.layout[pre+c.name+".bias"] = Shard{0, c.l.Lo, c.l.Hi, c.l.Out}
		}
		for _, r := range []struct {
			name string
			l    *RowParallelLinear
		}{{"attn.out_proj", b.Attn.Out}, {"mlp.fc2", b.MLP.FC2}} {
			m.layout[pre+r.name+".weight"] = Shard{1, r.l.Lo, r.l.Hi, r.l.In}
		}
	}
	return m
}

// Layout maps each parameter name to the slice of the full model's
// parameter this rank holds.
func (m *GPT) Layout() map[string]Shard { return m.layout }

// Embed returns the embeddings of idx [B, T]: [B, T, E], or this rank's
// sequence shard [B, T/n, E] under sequence parallelism (T divisible by
// the group size).
func (m *GPT) Embed(idx *tensor.Tensor) *autograd.Var {
	if idx.NDim() != 2 || idx.Dim(1) > m.Config.Context || (m.SequenceParallel && idx.Dim(1)%m.Group.Size() != 0) {
		panic(tensor.Errorf("tensorparallel.GPT", "tokens of shape %v; want [B, T] with T <= %d", idx.Shape(), m.Config.Context))
	}
	return m.addPositions(m.Tok.Lookup(idx))
}

// addPositions adds the position embeddings to token embeddings x [B, T,
// E] (or this rank's sequence shard [B, T/n, E]) and applies the dropout.
func (m *GPT) addPositions(x *autograd.Var) *autograd.Var {
	t := x.Dim(1)
	lo := 0
	if m.SequenceParallel {
		lo = m.Group.Rank() * t
	}
	return m.Drop.Forward(autograd.Add(x, autograd.Narrow(m.Pos.Weight, 0, lo, t)))
}

// Head returns this rank's logits [B, T, Hi-Lo] (the vocabulary range of
// Tok) of the last block's output.
func (m *GPT) Head(h *autograd.Var) *autograd.Var {
	return m.Tok.Logits(m.LNF.Forward(h))
}

// Logits returns this rank's vocabulary slice of the logits of idx.
func (m *GPT) Logits(idx *tensor.Tensor) *autograd.Var {
	h := m.Embed(idx)
	for _, b := range m.Blocks {
		h = b.Forward(h)
	}
	return m.Head(h)
}

// Forward is Logits of the tokens x holds.
func (m *GPT) Forward(x *autograd.Var) *autograd.Var { return m.Logits(x.Value()) }

// Loss is the mean next-token cross-entropy of this rank's logits slice
// against targets [B, T] (vocabulary-parallel, equal on every rank).
func (m *GPT) Loss(logits *autograd.Var, targets *tensor.Tensor) *autograd.Var {
	return CrossEntropy(m.Group, logits, targets, m.Tok.Lo)
}

// FullLogits assembles the whole vocabulary's logits from the ranks'
// slices (no gradient; for sampling and evaluation).
func (m *GPT) FullLogits(local *tensor.Tensor) *tensor.Tensor {
	return assemble(m.Group, local, local.NDim()-1, m.Tok.Lo, m.Config.Vocab)
}

// assemble places x as slice [lo, lo+len) of axis in a zero tensor of
// full size and sums over the group: the whole tensor on every rank, for
// uneven slices too.
func assemble(g *Group, x *tensor.Tensor, axis, lo, full int) *tensor.Tensor {
	if g.Size() == 1 && x.Dim(axis) == full {
		return x
	}
	shape := x.Shape().Clone()
	before := shape.Clone()
	before[axis] = lo
	after := shape.Clone()
	after[axis] = full - lo - x.Dim(axis)
	parts := []*tensor.Tensor{}
	if lo > 0 {
		parts = append(parts, tensor.Zeros(x.DType(), before...).To(x.Device()))
	}
	parts = append(parts, x)
	if after[axis] > 0 {
		parts = append(parts, tensor.Zeros(x.DType(), after...).To(x.Device()))
	}
	t := tensor.Concat(parts, axis).Contiguous().Clone()
	g.allReduce("assemble", t, collectives.Sum)
	return t
}

// Generate is nn.GPT.Generate for the tensor-parallel model; every rank
// of the group must call it with equal arguments (and generators in the
// same state), and every rank returns the same tokens.
func (m *GPT) Generate(gen *tensor.Generator, prompt []int64, n int, temperature float64) ([]int64, error) {
	out := nn.SampleTokens(gen, prompt, n, temperature, m.Config.Context, func(idx *tensor.Tensor) []float64 {
		t := idx.Dim(1)
		if n := m.Group.Size(); m.SequenceParallel && t%n != 0 {
			// pad on the right to a multiple of the group: causal attention
			// keeps position t-1 independent of what follows it.
			idx = tensor.Concat([]*tensor.Tensor{idx, tensor.Zeros(tensor.Int64, 1, n-t%n)}, 1)
		}
		lg := m.FullLogits(m.Logits(idx).Value())
		return lg.Narrow(1, t-1, 1).Contiguous().Float64s()
	}, m)
	return out, m.Group.Err()
}

// SyncSequenceParallelGrads sums the gradients of the replicated
// parameters over the group; needed after each backward pass under
// sequence parallelism, where each rank's replicas see only its shard of
// the sequence (a no-op otherwise).
func (m *GPT) SyncSequenceParallelGrads() error {
	if !m.SequenceParallel || m.Group.Size() == 1 {
		return m.Group.Err()
	}
	var params []*autograd.Var
	var bufs []*tensor.Tensor
	for _, p := range m.Parameters() {
		if !m.layout[p.Name].Replicated() || p.Param.Grad() == nil {
			continue
		}
		params = append(params, p.Param)
		bufs = append(bufs, p.Param.Grad().Contiguous().Clone())
	}
	m.Group.allReduceMany("SyncSequenceParallelGrads", bufs, collectives.Sum)
	for i, p := range params {
		p.SetGrad(bufs[i])
	}
	return m.Group.Err()
}

// FullStateDict assembles the full model's state dict (names and shapes of
// nn.GPT's, so checkpoints are interchangeable) on every rank of the group.
func (m *GPT) FullStateDict() (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		s := m.layout[p.Name]
		if s.Replicated() {
			out[p.Name] = v.Clone()
			continue
		}
		out[p.Name] = assemble(m.Group, v, s.Axis, s.Lo, s.Full)
	}
	return out, m.Group.Err()
}

// GatherStateDict assembles the full model's state dict (nn.GPT's names
// and shapes) on every rank of a pipeline of tensor-parallel stages: each
// rank contributes the parameters of its stage (assembled over the
// tensor-parallel group), and the stages' dicts are summed over pipe (nil:
// one stage). Every rank of the grid must call it.
func (m *GPT) GatherStateDict(ctx context.Context, stage nn.Module, pipe collectives.Comm) (map[string]*tensor.Tensor, error) {
	own := map[string]bool{}
	for _, p := range stage.Parameters() {
		own[p.Name] = true
	}
	first := pipe == nil || pipe.Rank() == 0
	out := map[string]*tensor.Tensor{}
	var calls []collectives.Call
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		s := m.layout[p.Name]
		var t *tensor.Tensor
		switch {
		case !own[p.Name] || (p.Name == "wte.weight" && !first):
			shape := v.Shape().Clone()
			if !s.Replicated() {
				shape[s.Axis] = s.Full
			}
			t = tensor.Zeros(v.DType(), shape...).To(v.Device())
		case s.Replicated():
			t = v.Clone()
		default:
			t = assemble(m.Group, v, s.Axis, s.Lo, s.Full).Clone()
		}
		out[p.Name] = t
		calls = append(calls, collectives.AllReduceCall(t, collectives.Sum))
	}
	if err := m.Group.Err(); err != nil {
		return nil, err
	}
	if pipe != nil && pipe.Size() > 1 {
		if err := pipe.Group(ctx, calls...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
