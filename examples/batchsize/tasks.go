package main

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// task is a classification problem held in memory as tensors.
type task struct {
	name            string
	xTrain, xTest   *tensor.Tensor // float32 [N, D]
	yTrain, yTest   *tensor.Tensor // int64 [N]
	classes, hidden int
	target          float64 // test accuracy that counts as reached
}

func (t *task) nTrain() int { return t.xTrain.Dim(0) }

func (t *task) model(seed uint64) nn.Module {
	g := tensor.NewGenerator(seed)
	d := t.xTrain.Dim(1)
	return nn.NewSequential(
		nn.NewLinear(g, d, t.hidden, true), nn.NewReLU(),
		nn.NewLinear(g, t.hidden, t.hidden, true), nn.NewReLU(),
		nn.NewLinear(g, t.hidden, t.classes, true),
	)
}

// accuracy is the share of the test set the model classifies correctly.
func (t *task) accuracy(m nn.Module) float64 {
	var pred *tensor.Tensor
	autograd.NoGrad(func() {
		pred = tensor.ArgMax(m.Forward(autograd.Constant(t.xTest)).Value(), -1, false)
	})
	p, y := pred.Int64s(), t.yTest.Int64s()
	ok := 0
	for i := range p {
		if p[i] == y[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(p))
}

// digitsTask is the embedded UCI digits (1,437 train, 360 test, 8x8).
func digitsTask(target float64) *task {
	train, test := data.DigitsSplit()
	xa, ya := train.Tensors()
	xb, yb := test.Tensors()
	return &task{name: "digits", xTrain: xa.Reshape(train.Len(), 64), yTrain: ya, xTest: xb.Reshape(test.Len(), 64), yTest: yb,
		classes: 10, hidden: 64, target: target}
}

// mixtureTask generates a harder problem: 10 classes in 32 dimensions, each
// the union of 4 Gaussian clusters whose centres lie at distance ~3σ from
// one another, with 10 % of the training labels replaced by random ones
// (the test labels are clean). The classes are not linearly separable and
// the label noise keeps the gradient noisy to the end, so the noise scale is
// larger than the digits'.
func mixtureTask(nTrain, nTest int, target float64) *task {
	const (
		dim      = 32
		classes  = 10
		clusters = 4
		spread   = 0.55 // centre coordinates ~ N(0, spread²): distance ≈ spread·√(2·dim) ≈ 4.4
		flip     = 0.10
	)
	g := tensor.NewGenerator(2024)
	centres := g.Normal(0, spread, tensor.Float64, classes*clusters, dim).Float64s()
	gen := func(n int, seed uint64, noisy bool) (*tensor.Tensor, *tensor.Tensor) {
		r := tensor.NewGenerator(seed)
		noise := r.Normal(0, 1, tensor.Float64, n, dim).Float64s()
		pick := r.RandInt(0, classes*clusters, n).Int64s()
		u := r.Uniform(0, 1, tensor.Float64, n).Float64s()
		rnd := r.RandInt(0, classes, n).Int64s()
		x := make([]float32, n*dim)
		y := make([]int64, n)
		for i := range n {
			c := int(pick[i])
			for j := range dim {
				x[i*dim+j] = float32(centres[c*dim+j] + noise[i*dim+j]/math.Sqrt(2))
			}
			y[i] = int64(c / clusters)
			if noisy && u[i] < flip {
				y[i] = rnd[i]
			}
		}
		return tensor.FromSlice(x, n, dim), tensor.FromSlice(y, n)
	}
	xa, ya := gen(nTrain, 1, true)
	xb, yb := gen(nTest, 2, false)
	return &task{name: "mixture", xTrain: xa, yTrain: ya, xTest: xb, yTest: yb, classes: classes, hidden: 128, target: target}
}
