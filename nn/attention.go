package nn

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// MultiHeadAttention is scaled dot-product attention over NumHeads heads
// with input and output projections, for batch-first inputs [B, T, E].
//
// The head size is the width of the Q projection's output over NumHeads,
// not E over NumHeads, so a head-sharded copy works unchanged: a
// tensor-parallel rank holds Q, K and V projecting E onto its NumHeads·D
// columns and Out projecting NumHeads·D back onto E (a partial sum that
// the caller reduces over the ranks, as parallel/tensorparallel does).
type MultiHeadAttention struct {
	Base
	Q, K, V, Out *Linear
	NumHeads     int
	// Causal makes Forward mask future positions (query i attends to keys j <= i).
	Causal bool
}

// NewMultiHeadAttention returns attention over embedDim split into numHeads
// heads, with biased projections initialised from g.
func NewMultiHeadAttention(g *tensor.Generator, embedDim, numHeads int, causal bool, opts ...Option) *MultiHeadAttention {
	if embedDim <= 0 || numHeads <= 0 || embedDim%numHeads != 0 {
		panic(tensor.Errorf("nn.NewMultiHeadAttention", "embedding size %d not divisible by %d heads", embedDim, numHeads))
	}
	m := &MultiHeadAttention{NumHeads: numHeads, Causal: causal}
	m.training = true
	m.Q = NewLinear(g, embedDim, embedDim, true, opts...)
	m.K = NewLinear(g, embedDim, embedDim, true, opts...)
	m.V = NewLinear(g, embedDim, embedDim, true, opts...)
	m.Out = NewLinear(g, embedDim, embedDim, true, opts...)
	m.RegisterModule("q_proj", m.Q)
	m.RegisterModule("k_proj", m.K)
	m.RegisterModule("v_proj", m.V)
	m.RegisterModule("out_proj", m.Out)
	return m
}

// Forward is self-attention of x [B, T, E] (causal when m.Causal).
func (m *MultiHeadAttention) Forward(x *autograd.Var) *autograd.Var {
	return m.Attend(x, x, x, m.Causal, nil)
}

// CausalMask returns the Bool [tq, tk] mask that is true where key j lies
// in the future of query i (j > i + tk - tq), on device dev.
func CausalMask(dev tensor.Device, tq, tk int) *tensor.Tensor {
	rows := tensor.Arange(float64(tk-tq), float64(tk), 1, tensor.Int64).Reshape(tq, 1)
	cols := tensor.Arange(0, float64(tk), 1, tensor.Int64).Reshape(1, tk)
	return tensor.Gt(cols, rows).To(dev)
}

// Attend computes attention of queries q [B, Tq, E] over keys k and values
// v [B, Tk, E]. mask, when not nil, is a Bool tensor broadcastable to
// [B, heads, Tq, Tk] that is true where attention is forbidden; causal adds
// the causal mask.
func (m *MultiHeadAttention) Attend(q, k, v *autograd.Var, causal bool, mask *tensor.Tensor) *autograd.Var {
	if q.NDim() != 3 || k.NDim() != 3 || v.NDim() != 3 || k.Dim(1) != v.Dim(1) || q.Dim(0) != k.Dim(0) {
		panic(tensor.Errorf("nn.MultiHeadAttention", "query %v, key %v, value %v; want [B, T, E]", q.Shape(), k.Shape(), v.Shape()))
	}
	b, tq := q.Dim(0), q.Dim(1)
	tk := k.Dim(1)
	h := m.NumHeads
	qp, kp, vp := m.Q.Forward(q), m.K.Forward(k), m.V.Forward(v)
	w := qp.Dim(2) // h heads of size d: E on one rank, a shard of it under tensor parallelism
	if h <= 0 || w%h != 0 || kp.Dim(2) != w || vp.Dim(2) != w {
		panic(tensor.Errorf("nn.MultiHeadAttention", "projections of width q %d, k %d, v %d for %d heads; want equal widths divisible by the heads", w, kp.Dim(2), vp.Dim(2), h))
	}
	d := w / h
	heads := func(x *autograd.Var, t int) *autograd.Var {
		return autograd.Permute(autograd.Reshape(x, b, t, h, d), 0, 2, 1, 3) // [B, H, T, D]
	}
	qh := heads(qp, tq)
	kh := heads(kp, tk)
	vh := heads(vp, tk)
	scores := autograd.MulScalar(autograd.MatMul(qh, autograd.T(kh)), 1/math.Sqrt(float64(d))) // [B, H, Tq, Tk]
	if causal {
		cm := CausalMask(scores.Value().Device(), tq, tk)
		if mask != nil {
			mask = tensor.LogicalOr(mask, cm)
		} else {
			mask = cm
		}
	}
	if mask != nil {
		scores = autograd.MaskedFill(scores, mask, math.Inf(-1))
	}
	attn := autograd.Softmax(scores, -1)
	out := autograd.Reshape(autograd.Permute(autograd.MatMul(attn, vh), 0, 2, 1, 3), b, tq, w)
	return m.Out.Forward(out)
}
