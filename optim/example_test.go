package optim_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Minimise f(w) = ½‖w‖² (whose gradient is w) with SGD and momentum.
func Example() {
	w := autograd.Param(tensor.FromSlice([]float64{4, -2}, 2))
	opt := optim.NewSGD([]*autograd.Var{w}, optim.Options{LR: 0.1, Momentum: 0.9})
	sched := optim.NewScheduler(opt, optim.Cosine{Steps: 100, MinLR: 0.01})
	for range 200 {
		opt.ZeroGrad()
		w.SetGrad(w.Value().Clone()) // ∇f(w) = w
		if err := opt.Step(); err != nil {
			panic(err)
		}
		sched.Step()
	}
	fmt.Printf("w = %.4f, lr = %.2f\n", w.Value().Float64s(), sched.LR())
	// Output: w = [0.0001 -0.0000], lr = 0.01
}
