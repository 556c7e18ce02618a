package nn

import (
	"testing"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// BenchmarkLinearReLU times one forward and backward pass of Linear+ReLU
// (batch 128, 1024 -> 1024, float32).
func BenchmarkLinearReLU(b *testing.B) {
	g := tensor.NewGenerator(1)
	l := NewLinear(g, 1024, 1024, true)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 128, 1024))
	b.ResetTimer()
	for range b.N {
		y := autograd.ReLU(l.Forward(x))
		if err := autograd.Sum(y, false).Backward(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinearReLUForward times the forward pass alone.
func BenchmarkLinearReLUForward(b *testing.B) {
	g := tensor.NewGenerator(1)
	l := NewLinear(g, 1024, 1024, true)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 128, 1024))
	b.ResetTimer()
	for range b.N {
		autograd.ReLU(l.Forward(x))
	}
}

// BenchmarkMLPStep times a full SGD training step of a 784-1024-1024-10
// ReLU MLP with cross-entropy at batch 128 (float32).
func BenchmarkMLPStep(b *testing.B) {
	g := tensor.NewGenerator(1)
	model := NewSequential(NewLinear(g, 784, 1024, true), NewReLU(), NewLinear(g, 1024, 1024, true), NewReLU(), NewLinear(g, 1024, 10, true))
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 128, 784))
	y := g.RandInt(0, 10, 128)
	params := Params(model)
	b.ResetTimer()
	for range b.N {
		ZeroGrad(model)
		loss := CrossEntropy(model.Forward(x), y)
		if err := loss.Backward(); err != nil {
			b.Fatal(err)
		}
		for _, p := range params {
			tensor.SubInto(p.Value(), p.Value(), tensor.MulScalar(p.Grad(), 0.01))
		}
	}
}

// BenchmarkConv2d times forward and backward of a 3x3 convolution
// (batch 32, 32 -> 64 channels, 32x32, padding 1, float32).
func BenchmarkConv2d(b *testing.B) {
	g := tensor.NewGenerator(1)
	c := NewConv2d(g, 32, 64, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 1, true)
	x := autograd.Param(g.Normal(0, 1, tensor.Float32, 32, 32, 32, 32))
	b.ResetTimer()
	for range b.N {
		y := c.Forward(x)
		if err := autograd.Sum(y, false).Backward(); err != nil {
			b.Fatal(err)
		}
	}
}
