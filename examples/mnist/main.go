// Command mnist trains a multi-layer perceptron (784-512-512-10, ReLU, Adam)
// on MNIST or Fashion-MNIST read from IDX files:
//
//	go run ./examples/mnist -data ~/mnist [-epochs 5] [-batch 128] [-lr 1e-3] [-checkpoint mlp.safetensors] [-json]
//
// -data names a directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz).
// With -checkpoint the model and optimizer are saved after every epoch and a
// later run resumes from the file.
package main

import (
	"github.com/tessera-ml/tessera/examples/internal/idxtrain"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// model is the MLP: in -> 512 -> 512 -> classes.
var model = idxtrain.Model{
	Name: "mnist",
	New: func(g *tensor.Generator, rows, cols, classes int, dev tensor.Device) nn.Module {
		on := nn.OnDevice(dev)
		return nn.NewSequential(
			nn.NewLinear(g, rows*cols, 512, true, on), nn.NewReLU(),
			nn.NewLinear(g, 512, 512, true, on), nn.NewReLU(),
			nn.NewLinear(g, 512, classes, true, on),
		)
	},
}

var defaults = idxtrain.Config{Data: "mnist", Epochs: 5, Batch: 128, LR: 1e-3, Seed: 1, Device: "cpu"}

func main() { idxtrain.Main(model, defaults) }
