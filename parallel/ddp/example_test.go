package ddp_test

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/tensor"
)

// Two in-process ranks train replicas of one MLP on their own halves of
// each batch; after Step both hold the same weights.
func Example() {
	final := make([]float64, 2)
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		g := tensor.NewGenerator(uint64(1 + c.Rank())) // different inits: Wrap copies rank 0's
		net := nn.NewSequential(nn.NewLinear(g, 4, 8, true), nn.NewReLU(), nn.NewLinear(g, 8, 3, true))
		model, err := ddp.Wrap(net, c, ddp.Options{})
		if err != nil {
			return err
		}
		opt := optim.NewAdam(nn.Params(model), optim.Options{LR: 1e-2})
		data := tensor.NewGenerator(uint64(10 + c.Rank())) // each rank its own shard
		for range 5 {
			opt.ZeroGrad()
			x, y := data.Normal(0, 1, tensor.Float32, 16, 4), data.RandInt(0, 3, 16)
			if err := nn.CrossEntropy(model.Forward(autograd.Constant(x)), y).Backward(); err != nil {
				return err
			}
			if err := model.Step(opt); err != nil { // waits for the buckets' all-reduces, then Adam
				return err
			}
		}
		final[c.Rank()] = tensor.Sum(nn.Params(model)[0].Value(), false).Item()
		if c.Rank() == 0 {
			fmt.Println(len(model.Buckets()), "bucket,", model.Stats().AllReduceCalls, "all-reduces")
		}
		return nil
	})
	fmt.Println(err, final[0] == final[1])
	// Output:
	// 1 bucket, 5 all-reduces
	// <nil> true
}
