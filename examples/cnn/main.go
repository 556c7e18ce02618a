// Command cnn trains a small convolutional network on MNIST or
// Fashion-MNIST read from IDX files: conv 1→32 3x3, ReLU, maxpool 2,
// conv 32→64 3x3, ReLU, maxpool 2, linear →10 (1600 inputs for 28x28
// images), Adam.
//
//	go run ./examples/cnn -data ~/mnist [-epochs 2] [-batch 128] [-lr 1e-3] [-checkpoint cnn.safetensors] [-json]
//
// -data names a directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz).
package main

import (
	"github.com/tessera-ml/tessera/examples/internal/idxtrain"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// model is the small CNN of bench/train.
var model = idxtrain.Model{
	Name:     "cnn",
	Channels: true,
	New: func(g *tensor.Generator, rows, cols, classes int, dev tensor.Device) nn.Module {
		on := nn.OnDevice(dev)
		k3 := tensor.ConvParams{KH: 3, KW: 3}
		h, w := (rows-2)/2, (cols-2)/2 // after conv 3x3 and pool 2
		h, w = (h-2)/2, (w-2)/2
		return nn.NewSequential(
			nn.NewConv2d(g, 1, 32, k3, 1, true, on), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
			nn.NewConv2d(g, 32, 64, k3, 1, true, on), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
			nn.NewFlatten(),
			nn.NewLinear(g, 64*h*w, classes, true, on),
		)
	},
}

var defaults = idxtrain.Config{Data: "mnist", Epochs: 2, Batch: 128, LR: 1e-3, Seed: 1, Device: "cpu"}

func main() { idxtrain.Main(model, defaults) }
