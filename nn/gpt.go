package nn

import (
	"math"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// GPTConfig sizes a GPT.
type GPTConfig struct {
	Vocab   int     // tokens (256 for bytes)
	Context int     // longest sequence (positions)
	Embed   int     // embedding width
	Heads   int     // attention heads per layer
	Layers  int     // transformer blocks
	Dropout float64 // embedding and residual dropout
}

func (c GPTConfig) check(op string) {
	if c.Vocab <= 0 || c.Context <= 0 || c.Embed <= 0 || c.Heads <= 0 || c.Layers < 0 || c.Embed%c.Heads != 0 {
		panic(tensor.Errorf(op, "config %+v: want positive sizes and Embed divisible by Heads", c))
	}
}

// GPT is a decoder-only transformer language model in GPT-2's layout:
// token and position embeddings, Layers pre-LayerNorm blocks of causal
// self-attention and MLP, a final LayerNorm, and logits from the token
// embedding (tied input and output embeddings). Parameter names follow
// GPT-2: wte, wpe, h.<i>.ln_1, h.<i>.attn, ..., ln_f.
//
// Its parts are exported so a pipeline can cut it into stages: Embed,
// Blocks[i].Forward and Head compose to Forward.
type GPT struct {
	Base
	Config GPTConfig
	Tok    *Embedding // wte [Vocab, Embed], also the output projection
	Pos    *Embedding // wpe [Context, Embed]
	Drop   *Dropout
	Blocks []*TransformerBlock // registered as h.0, h.1, ...
	LNF    *LayerNorm
}

// NewGPT returns a GPT initialised as GPT-2 is: weights and embeddings
// from N(0, 0.02²), the residual projections (attention output, fc2) from
// N(0, 0.02²/(2·Layers)), biases zero, LayerNorms the identity.
func NewGPT(g *tensor.Generator, cfg GPTConfig, opts ...Option) *GPT {
	cfg.check("nn.NewGPT")
	m := &GPT{Config: cfg}
	m.training = true
	m.Tok = NewEmbedding(g, cfg.Vocab, cfg.Embed, opts...)
	m.Pos = NewEmbedding(g, cfg.Context, cfg.Embed, opts...)
	m.Drop = NewDropout(g, cfg.Dropout)
	m.RegisterModule("wte", m.Tok)
	m.RegisterModule("wpe", m.Pos)
	m.RegisterModule("drop", m.Drop)
	h := NewSequential()
	for range cfg.Layers {
		b := NewTransformerBlock(g, cfg.Embed, cfg.Heads, true, cfg.Dropout, opts...)
		m.Blocks = append(m.Blocks, b)
		h.Append(b)
	}
	m.RegisterModule("h", h)
	m.LNF = NewLayerNorm([]int{cfg.Embed}, opts...)
	m.RegisterModule("ln_f", m.LNF)
	resid := 0.02 / math.Sqrt(2*float64(max(cfg.Layers, 1)))
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		switch {
		case strings.HasSuffix(p.Name, ".bias") && !strings.HasPrefix(p.Name, "ln") && !strings.Contains(p.Name, ".ln_"):
			p.Param.SetValue(tensor.ZerosLike(v))
		case strings.HasSuffix(p.Name, "out_proj.weight") || strings.HasSuffix(p.Name, "fc2.weight"):
			g.FillNormal(v, 0, resid)
		case p.Param.NDim() == 2:
			g.FillNormal(v, 0, 0.02)
		}
	}
	return m
}

// Embed returns the token plus position embeddings of idx [B, T] (Int64
// tokens, T <= Context), after dropout: [B, T, Embed].
func (m *GPT) Embed(idx *tensor.Tensor) *autograd.Var {
	if idx.NDim() != 2 || idx.Dim(1) > m.Config.Context {
		panic(tensor.Errorf("nn.GPT", "tokens of shape %v; want [B, T] with T <= %d", idx.Shape(), m.Config.Context))
	}
	pos := autograd.Narrow(m.Pos.Weight, 0, 0, idx.Dim(1))
	return m.Drop.Forward(autograd.Add(m.Tok.Lookup(idx), pos))
}

// Head returns the logits [B, T, Vocab] of the last block's output h: the
// final LayerNorm, then a product with the token embedding.
func (m *GPT) Head(h *autograd.Var) *autograd.Var {
	return autograd.Linear(m.LNF.Forward(h), m.Tok.Weight, nil)
}

// Logits returns the logits [B, T, Vocab] of tokens idx [B, T].
func (m *GPT) Logits(idx *tensor.Tensor) *autograd.Var {
	h := m.Embed(idx)
	for _, b := range m.Blocks {
		h = b.Forward(h)
	}
	return m.Head(h)
}

// Forward is Logits of the tokens x holds (an Int64 Var).
func (m *GPT) Forward(x *autograd.Var) *autograd.Var { return m.Logits(x.Value()) }

// GPTLoss is the mean next-token cross-entropy of logits [B, T, V] against
// targets [B, T].
func GPTLoss(logits *autograd.Var, targets *tensor.Tensor) *autograd.Var {
	v := logits.Dim(logits.NDim() - 1)
	return CrossEntropy(autograd.Reshape(logits, -1, v), targets.Reshape(-1))
}

// Generate extends prompt by n tokens sampled from the model (in
// evaluation mode, without recording gradients) at the given temperature
// (0: greedy), drawing from g; the window is the last Context tokens.
func (m *GPT) Generate(g *tensor.Generator, prompt []int64, n int, temperature float64) []int64 {
	return SampleTokens(g, prompt, n, temperature, m.Config.Context, func(idx *tensor.Tensor) []float64 {
		lg := m.Logits(idx)
		t := lg.Dim(1)
		return autograd.Select(autograd.Select(lg, 1, t-1), 0, 0).Value().Float64s()
	}, m)
}

// SampleTokens is the sampling loop of Generate for any model: next returns
// the logits of the token after the [1, T] window idx. m, when not nil, is
// put in evaluation mode for the loop and restored after.
func SampleTokens(g *tensor.Generator, prompt []int64, n int, temperature float64, context int, next func(idx *tensor.Tensor) []float64, m Module) []int64 {
	out := append([]int64(nil), prompt...)
	if m != nil {
		was := m.Training()
		m.Train(false)
		defer m.Train(was)
	}
	autograd.NoGrad(func() {
		for range n {
			lo := max(0, len(out)-context)
			win := out[lo:]
			logits := next(tensor.FromSlice(append([]int64(nil), win...), 1, len(win)))
			out = append(out, int64(pick(g, logits, temperature)))
		}
	})
	return out
}

// pick samples an index from softmax(logits/temperature), or the arg max
// at temperature 0.
func pick(g *tensor.Generator, logits []float64, temperature float64) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature <= 0 {
		return best
	}
	p := make([]float64, len(logits))
	sum := 0.0
	for i, v := range logits {
		p[i] = math.Exp((v - logits[best]) / temperature)
		sum += p[i]
	}
	u := g.Uniform(0, sum, tensor.Float64, 1).Item()
	for i, v := range p {
		if u < v {
			return i
		}
		u -= v
	}
	return best
}
