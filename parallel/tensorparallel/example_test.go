package tensorparallel_test

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	tp "github.com/tessera-ml/tessera/parallel/tensorparallel"
	"github.com/tessera-ml/tessera/tensor"
)

// Two ranks hold half of a GPT's heads, MLP units and vocabulary each, and
// compute the loss of the whole model: forward, one all-reduce for the
// embedding, two per layer and three for the vocabulary-parallel loss.
func ExampleNewGPT() {
	cfg := nn.GPTConfig{Vocab: 32, Context: 8, Embed: 16, Heads: 4, Layers: 2}
	idx := tensor.NewGenerator(2).RandInt(0, 32, 2, 8)
	full := nn.NewGPT(tensor.NewGenerator(1), cfg, nn.WithDType(tensor.Float64))
	fmt.Printf("one process: loss %.6f\n", nn.GPTLoss(full.Logits(idx), idx).Item())
	_ = local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		g := tp.NewGroup(ctx, c)
		m := tp.NewGPT(g, nn.NewGPT(tensor.NewGenerator(1), cfg, nn.WithDType(tensor.Float64)), tp.Options{})
		loss := m.Loss(m.Logits(idx), idx)
		if c.Rank() == 0 {
			fmt.Printf("2 ranks:     loss %.6f, vocabulary rows %d-%d on rank 0, %d all-reduces\n", loss.Item(), m.Tok.Lo, m.Tok.Hi, g.Stats().AllReduce)
		}
		return g.Err()
	})
	// Output:
	// one process: loss 3.271520
	// 2 ranks:     loss 3.271520, vocabulary rows 0-16 on rank 0, 8 all-reduces
}
