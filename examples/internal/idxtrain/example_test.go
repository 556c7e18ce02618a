package idxtrain_test

import (
	"fmt"
	"os"

	"github.com/tessera-ml/tessera/examples/internal/idxtrain"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Train a linear model on generated 12x12 IDX files.
func Example() {
	dir, _ := os.MkdirTemp("", "idx")
	defer os.RemoveAll(dir)
	if err := idxtrain.WriteSynthetic(dir, 200, 50, 12, 12, 1); err != nil {
		panic(err)
	}
	linear := idxtrain.Model{Name: "linear", New: func(g *tensor.Generator, rows, cols, classes int, dev tensor.Device) nn.Module {
		return nn.NewLinear(g, rows*cols, classes, true, nn.OnDevice(dev))
	}}
	res, err := idxtrain.Train(linear, idxtrain.Config{Data: dir, Epochs: 3, Batch: 20, LR: 1e-2, Device: "cpu"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Train, res.Test, res.Steps)
	// Output: 200 50 30
}
