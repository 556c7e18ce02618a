package amp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// A transformer (nn.GPT: embeddings, LayerNorm, attention with a causal
// mask, GELU MLP, tied output) runs under autocast in both formats and as
// a 16-bit model with master weights: the loss is float32 and within the
// format's error of the float32 model's loss, and training steps lower it.
func TestGPTUnderAutocast(t *testing.T) {
	cfg := nn.GPTConfig{Vocab: 16, Context: 8, Embed: 16, Heads: 2, Layers: 2}
	g := tensor.NewGenerator(3)
	idx := g.RandInt(0, 16, 2, 8)
	tgt := g.RandInt(0, 16, 2, 8)
	model := nn.NewGPT(tensor.NewGenerator(1), cfg)
	ref := nn.GPTLoss(model.Logits(idx), tgt).Item()
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		var loss float64
		Autocast(Policy{DType: dt}, func() {
			l := nn.GPTLoss(model.Logits(idx), tgt)
			assert.Equal(t, tensor.Float32, l.DType())
			loss = l.Item()
		})
		t.Logf("%s: loss %.6f, float32 %.6f: %.2g u relative", dt, loss, ref, (loss-ref)/ref/unitRoundoff(dt))
		assert.InDelta(t, ref, loss, 2*unitRoundoff(dt)*ref, dt) // the mean over 16 tokens averages the rounding errors

		low := CastModule(nn.NewGPT(tensor.NewGenerator(1), cfg), dt)
		opt := NewOptimizer(nn.Params(low), adam(1e-2), Config{Scaler: NewGradScaler(ScalerOptions{})})
		var first, last float64
		for i := range 5 {
			opt.ZeroGrad()
			Autocast(Policy{DType: dt}, func() {
				l := nn.GPTLoss(low.Forward(autograd.Constant(idx)), tgt)
				if i == 0 {
					first = l.Item()
				}
				last = l.Item()
				require.NoError(t, opt.Scaler().ScaleLoss(l).Backward())
			})
			_, err := opt.Step()
			require.NoError(t, err)
		}
		assert.Less(t, last, first, "%s GPT with master weights trains", dt)
	}
}
