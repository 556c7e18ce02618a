package fit_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/examples/internal/fit"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Train a linear classifier on the embedded digits for two epochs.
func Example() {
	train, test := data.DigitsSplit()
	g := tensor.NewGenerator(1)
	model := nn.NewSequential(nn.NewFlatten(), nn.NewLinear(g, 64, 10, true))
	opt := optim.NewAdam(nn.Params(model), optim.Options{LR: 1e-2})
	res, err := fit.Run(fit.Config{Model: model, Opt: opt, Train: train, Test: test, Batch: 32, Epochs: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Steps, res.TestAccuracy > 0.8)
	// Output: 90 true
}
