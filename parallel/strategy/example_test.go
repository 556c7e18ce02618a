package strategy_test

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/strategy"
	"github.com/tessera-ml/tessera/tensor"
)

// Each strategy trains the same replicas; their traffic per rank differs:
// S = 340 float32 parameters = 1360 bytes, 4 ranks, ring 2·3/4·S = 2040,
// the central server 3·S = 4080.
func Example() {
	for _, name := range strategy.Names() {
		err := local.Run(context.Background(), 4, func(ctx context.Context, c collectives.Comm) error {
			g := tensor.NewGenerator(1)
			net := nn.NewSequential(nn.NewLinear(g, 16, 16, true), nn.NewTanh(), nn.NewLinear(g, 16, 4, true))
			s, err := strategy.New(name, net, c, strategy.Options{
				NewOptimizer: func(ps []*autograd.Var) *optim.Optimizer { return optim.NewSGD(ps, optim.Options{LR: 0.1}) },
			})
			if err != nil {
				return err
			}
			x := tensor.NewGenerator(uint64(c.Rank())).Normal(0, 1, tensor.Float32, 8, 16)
			y := tensor.NewGenerator(uint64(c.Rank())).RandInt(0, 4, 8)
			if err := nn.CrossEntropy(s.Model().Forward(autograd.Constant(x)), y).Backward(); err != nil {
				return err
			}
			if err := s.Step(); err != nil {
				return err
			}
			if c.Rank() == 0 {
				fmt.Printf("%-10s rank 0 sends %5d bytes per step\n", name, s.Traffic().Sent)
			}
			return s.Flush()
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// allreduce  rank 0 sends  2040 bytes per step
	// fusion     rank 0 sends  2040 bytes per step
	// sharded-ps rank 0 sends  2040 bytes per step
	// central-ps rank 0 sends  4080 bytes per step
}
