package zero_test

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

// Four in-process ranks train an MLP with ZeRO stage 3 and Adam: each rank
// holds a quarter of the parameters, gradients and optimizer state, and
// all of them end with the same model.
func Example() {
	sums := make([]float64, 4)
	bytes := make([]int64, 4)
	err := local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
		g := tensor.NewGenerator(uint64(1 + c.Rank())) // different inits: Wrap copies rank 0's
		net := nn.NewSequential(nn.NewLinear(g, 8, 32, true), nn.NewReLU(), nn.NewLinear(g, 32, 4, true))
		z, err := zero.Wrap(net, c, zero.Options{Stage: zero.StageParams, MaxGradNorm: 1,
			NewOptimizer: func(p []*autograd.Var) *optim.Optimizer { return optim.NewAdam(p, optim.Options{LR: 1e-2}) }})
		if err != nil {
			return err
		}
		data := tensor.NewGenerator(uint64(10 + c.Rank())) // each rank its own batch
		for range 5 {
			x, y := data.Normal(0, 1, tensor.Float32, 16, 8), data.RandInt(0, 4, 16)
			if err := nn.CrossEntropy(z.Forward(autograd.Constant(x)), y).Backward(); err != nil {
				return err
			}
			if err := z.Step(); err != nil { // reduce-scatter done during backward; Adam on the shard
				return err
			}
		}
		sd, err := z.GatherStateDict(ctx) // whole parameters, no placeholders
		if err != nil {
			return err
		}
		sums[c.Rank()] = tensor.Sum(sd["0.weight"], false).Item()
		bytes[c.Rank()] = z.Ledger().Stats().ModelState.Peak
		return nil
	})
	fmt.Println(err, sums[0] == sums[3])
	fmt.Println("model states per rank:", bytes[0], "bytes of", 16*(8*32+32+32*4+4), "replicated")
	// Output:
	// <nil> true
	// model states per rank: 1680 bytes of 6720 replicated
}
