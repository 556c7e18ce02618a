package nn

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// MLP is a transformer's position-wise feed-forward block: FC2(Act(FC1(x))),
// FC1 widening the embedding to the hidden size and FC2 narrowing it back.
type MLP struct {
	Base
	FC1, FC2 *Linear
	// Act is the activation between the two projections (autograd.GELU).
	Act func(*autograd.Var) *autograd.Var
}

// NewMLP returns an MLP embed -> hidden -> embed with biased projections
// ("fc1", "fc2") initialised from g.
func NewMLP(g *tensor.Generator, embed, hidden int, opts ...Option) *MLP {
	m := &MLP{Act: autograd.GELU}
	m.training = true
	m.FC1 = NewLinear(g, embed, hidden, true, opts...)
	m.FC2 = NewLinear(g, hidden, embed, true, opts...)
	m.RegisterModule("fc1", m.FC1)
	m.RegisterModule("fc2", m.FC2)
	return m
}

// Forward applies the block to x [..., embed].
func (m *MLP) Forward(x *autograd.Var) *autograd.Var {
	return m.FC2.Forward(m.Act(m.FC1.Forward(x)))
}

// TransformerBlock is a pre-LayerNorm transformer layer (GPT-2's):
//
//	x = x + Dropout(Attn(LN1(x)))
//	x = x + Dropout(MLP(LN2(x)))
//
// over batch-first inputs [B, T, E].
type TransformerBlock struct {
	Base
	LN1  *LayerNorm
	Attn *MultiHeadAttention
	LN2  *LayerNorm
	MLP  *MLP
	Drop *Dropout // residual dropout; P = 0 disables it
}

// NewTransformerBlock returns a block of embedding size embed with heads
// attention heads (causal when causal), an MLP of 4·embed hidden units and
// residual dropout p drawing from g. Parameters are named ln_1, attn, ln_2
// and mlp, as in GPT-2.
func NewTransformerBlock(g *tensor.Generator, embed, heads int, causal bool, p float64, opts ...Option) *TransformerBlock {
	b := &TransformerBlock{}
	b.training = true
	b.LN1 = NewLayerNorm([]int{embed}, opts...)
	b.Attn = NewMultiHeadAttention(g, embed, heads, causal, opts...)
	b.LN2 = NewLayerNorm([]int{embed}, opts...)
	b.MLP = NewMLP(g, embed, 4*embed, opts...)
	b.Drop = NewDropout(g, p)
	b.RegisterModule("ln_1", b.LN1)
	b.RegisterModule("attn", b.Attn)
	b.RegisterModule("ln_2", b.LN2)
	b.RegisterModule("mlp", b.MLP)
	b.RegisterModule("drop", b.Drop)
	return b
}

// Forward applies the block to x [B, T, E].
func (b *TransformerBlock) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.Add(x, b.Drop.Forward(b.Attn.Forward(b.LN1.Forward(x))))
	return autograd.Add(x, b.Drop.Forward(b.MLP.Forward(b.LN2.Forward(x))))
}
