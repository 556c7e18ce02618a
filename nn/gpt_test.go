package nn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

func tinyGPT(seed uint64) *nn.GPT {
	return nn.NewGPT(tensor.NewGenerator(seed), nn.GPTConfig{Vocab: 11, Context: 6, Embed: 8, Heads: 2, Layers: 2}, nn.WithDType(tensor.Float64))
}

// TestGPTGradientsMatchFiniteDifferences: backward through embeddings,
// blocks and the tied head agrees with central differences (float64) on
// sampled entries of every parameter.
func TestGPTGradientsMatchFiniteDifferences(t *testing.T) {
	m := tinyGPT(1)
	g := tensor.NewGenerator(2)
	idx, tgt := g.RandInt(0, 11, 2, 5), g.RandInt(0, 11, 2, 5)
	loss := func() float64 { return nn.GPTLoss(m.Logits(idx), tgt).Item() }
	nn.ZeroGrad(m)
	require.NoError(t, nn.GPTLoss(m.Logits(idx), tgt).Backward())
	const eps = 1e-6
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		grad := p.Param.Grad()
		n := v.Shape().NumElements()
		for _, k := range []int{0, n / 2, n - 1} {
			at := unravel(v.Shape(), k)
			x := v.At(at...)
			v.Set(x+eps, at...)
			up := loss()
			v.Set(x-eps, at...)
			down := loss()
			v.Set(x, at...)
			assert.InDelta(t, (up-down)/(2*eps), grad.At(at...), 1e-6, "%s[%v]", p.Name, at)
		}
	}
}

func unravel(s tensor.Shape, k int) []int {
	at := make([]int, len(s))
	for i := len(s) - 1; i >= 0; i-- {
		at[i] = k % s[i]
		k /= s[i]
	}
	return at
}

// TestGPTIsCausal: changing the last token leaves the logits of earlier
// positions unchanged and changes the last position's.
func TestGPTIsCausal(t *testing.T) {
	m := tinyGPT(3)
	a := tensor.FromSlice([]int64{1, 2, 3, 4, 5}, 1, 5)
	b := tensor.FromSlice([]int64{1, 2, 3, 4, 9}, 1, 5)
	la, lb := m.Logits(a).Value(), m.Logits(b).Value()
	assert.InDeltaSlice(t, la.Narrow(1, 0, 4).Contiguous().Float64s(), lb.Narrow(1, 0, 4).Contiguous().Float64s(), 1e-12)
	assert.NotEqual(t, la.Narrow(1, 4, 1).Contiguous().Float64s(), lb.Narrow(1, 4, 1).Contiguous().Float64s())
}

// TestGPTTiesEmbeddings: the output projection is the token embedding (one
// parameter), GPT-2's names, and greedy generation is deterministic and
// stays in the vocabulary.
func TestGPTTiesEmbeddings(t *testing.T) {
	m := tinyGPT(4)
	names := map[string]bool{}
	for _, p := range m.Parameters() {
		names[p.Name] = true
	}
	for _, n := range []string{"wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.1.attn.q_proj.weight", "h.1.mlp.fc2.bias", "ln_f.bias"} {
		assert.True(t, names[n], n)
	}
	assert.False(t, names["lm_head.weight"])
	e := 8
	assert.Equal(t, 11*e+6*e+2*(2*2*e+4*(e*e+e)+(4*e*e+4*e)+(4*e*e+e))+2*e, nn.NumParams(m))
	out := m.Generate(tensor.NewGenerator(5), []int64{1, 2}, 9, 0)
	require.Len(t, out, 11)
	assert.Equal(t, out, m.Generate(tensor.NewGenerator(6), []int64{1, 2}, 9, 0))
	for _, tok := range m.Generate(tensor.NewGenerator(5), []int64{1}, 20, 1) {
		assert.True(t, tok >= 0 && tok < 11)
	}
	assert.True(t, m.Training())
}

// TestAttentionAcceptsHeadShards: two MultiHeadAttentions holding one head
// each (Q, K, V row slices and Out column slices of a 2-head layer, Out
// without bias) sum, plus the bias, to the full layer's output.
func TestAttentionAcceptsHeadShards(t *testing.T) {
	g := tensor.NewGenerator(7)
	const e = 6
	full := nn.NewMultiHeadAttention(g, e, 2, true, nn.WithDType(tensor.Float64))
	x := autograd.Constant(g.Normal(0, 1, tensor.Float64, 2, 4, e))
	want := full.Forward(x).Value()
	rows := func(l *nn.Linear, lo, n int) *nn.Linear {
		return &nn.Linear{Weight: autograd.Param(l.Weight.Value().Narrow(0, lo, n).Contiguous()), Bias: autograd.Param(l.Bias.Value().Narrow(0, lo, n).Contiguous())}
	}
	var sum *tensor.Tensor
	for r := range 2 {
		lo := r * e / 2
		shard := &nn.MultiHeadAttention{Q: rows(full.Q, lo, e/2), K: rows(full.K, lo, e/2), V: rows(full.V, lo, e/2),
			Out: &nn.Linear{Weight: autograd.Param(full.Out.Weight.Value().Narrow(1, lo, e/2).Contiguous())}, NumHeads: 1, Causal: true}
		y := shard.Forward(x).Value()
		if sum == nil {
			sum = y
		} else {
			sum = tensor.Add(sum, y)
		}
	}
	got := tensor.Add(sum, full.Out.Bias.Value())
	assert.InDeltaSlice(t, want.Float64s(), got.Contiguous().Float64s(), 1e-12)
}
