package amp_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// A float16 model with float32 master weights, dynamic loss scaling and
// autocast (the loss in float32).
func Example() {
	g := tensor.NewGenerator(1)
	model := nn.NewSequential(nn.NewLinear(g, 8, 32, true), nn.NewReLU(), nn.NewLinear(g, 32, 4, true))
	low := amp.CastModule(model, tensor.Float16)
	opt := amp.NewOptimizer(nn.Params(low), func(ms []*autograd.Var) *optim.Optimizer {
		return optim.NewAdam(ms, optim.Options{LR: 1e-2})
	}, amp.Config{Scaler: amp.NewGradScaler(amp.ScalerOptions{})})

	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 16, 8))
	y := g.RandInt(0, 4, 16)
	for range 3 {
		opt.ZeroGrad()
		var logits, loss *autograd.Var
		amp.Autocast(amp.Policy{DType: tensor.Float16}, func() {
			logits = low.Forward(x)
			loss = nn.CrossEntropy(logits, y)
		})
		if err := opt.Scaler().ScaleLoss(loss).Backward(); err != nil {
			panic(err)
		}
		if _, err := opt.Step(); err != nil {
			panic(err)
		}
		fmt.Println(logits.DType(), loss.DType(), opt.Params()[0].Grad().DType(), opt.Masters()[0].DType())
	}
	b := opt.Bytes()
	psi := int64(nn.NumParams(low))
	fmt.Printf("bytes per parameter: %d params + %d grads + %d optimizer state\n", b.Params/psi, b.Grads/psi, b.Optimizer/psi)
	// Output:
	// float16 float32 float16 float32
	// float16 float32 float16 float32
	// float16 float32 float16 float32
	// bytes per parameter: 2 params + 2 grads + 12 optimizer state
}
