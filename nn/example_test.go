package nn_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Fit y = 2x - 1 with one Linear layer and plain SGD.
func Example() {
	g := tensor.NewGenerator(1)
	model := nn.NewSequential(nn.NewLinear(g, 1, 1, true))
	x := autograd.Constant(tensor.FromSlice([]float32{-1, 0, 1, 2}, 4, 1))
	y := autograd.Constant(tensor.FromSlice([]float32{-3, -1, 1, 3}, 4, 1))
	for range 200 {
		nn.ZeroGrad(model)
		loss := nn.MSELoss(model.Forward(x), y)
		if err := loss.Backward(); err != nil {
			panic(err)
		}
		for _, p := range nn.Params(model) {
			tensor.SubInto(p.Value(), p.Value(), tensor.MulScalar(p.Grad(), 0.1))
		}
	}
	for _, p := range model.Parameters() {
		fmt.Printf("%s %.3f\n", p.Name, p.Param.Value().Float32s())
	}
	// Output:
	// 0.weight [2.000]
	// 0.bias [-1.000]
}

// Cross-entropy with label smoothing, ignoring targets equal to -100.
func ExampleCrossEntropy() {
	logits := autograd.Param(tensor.FromSlice([]float64{2, 0, 0, 0, 2, 0}, 2, 3))
	targets := tensor.FromSlice([]int64{0, -100}, 2)
	loss := nn.CrossEntropy(logits, targets, nn.LabelSmoothing(0.1))
	_ = loss.Backward()
	fmt.Printf("loss %.4f\n", loss.Item())
	fmt.Printf("grad of ignored row %v\n", logits.Grad().Select(0, 1).Float64s())
	// Output:
	// loss 0.3729
	// grad of ignored row [0 0 0]
}

func ExampleSummary() {
	g := tensor.NewGenerator(1)
	m := nn.NewSequential(nn.NewLinear(g, 4, 3, true), nn.NewBatchNorm1d(3), nn.NewReLU())
	fmt.Print(nn.Summary(m))
	// Output:
	// 0.weight                                 float32    [3 4]
	// 0.bias                                   float32    [3]
	// 1.weight                                 float32    [3]
	// 1.bias                                   float32    [3]
	// 1.running_mean                           float32    [3] (buffer)
	// 1.running_var                            float32    [3] (buffer)
	// 1.num_batches_tracked                    int64      [] (buffer)
	// 21 parameters
}
