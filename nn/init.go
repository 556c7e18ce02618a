package nn

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// Fans returns the fan-in and fan-out of a weight of the given shape
// ([out, in] for linear layers, [out, in, kh, kw, ...] for convolutions),
// as PyTorch computes them.
func Fans(shape tensor.Shape) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(tensor.Errorf("nn.Fans", "weight shape %v needs at least 2 dimensions", shape))
	}
	rf := 1
	for _, d := range shape[2:] {
		rf *= d
	}
	return shape[1] * rf, shape[0] * rf
}

// Gain returns the recommended gain for a nonlinearity: "linear",
// "sigmoid", "conv" (1), "tanh" (5/3), "relu" (√2), "selu" (3/4) or
// "leaky_relu" with negative slope param.
func Gain(nonlinearity string, param float64) float64 {
	switch nonlinearity {
	case "linear", "sigmoid", "conv", "identity":
		return 1
	case "tanh":
		return 5.0 / 3
	case "relu":
		return math.Sqrt2
	case "selu":
		return 0.75
	case "leaky_relu":
		return math.Sqrt(2 / (1 + param*param))
	}
	panic(tensor.Errorf("nn.Gain", "unknown nonlinearity %q", nonlinearity))
}

// KaimingUniform fills t in place with U(-b, b), b = gain·√(3/fan_in)
// (He et al.), drawing from g, and returns t.
func KaimingUniform(g *tensor.Generator, t *tensor.Tensor, gain float64) *tensor.Tensor {
	fanIn, _ := Fans(t.Shape())
	b := gain * math.Sqrt(3/float64(fanIn))
	return g.FillUniform(t, -b, b)
}

// KaimingNormal fills t in place with N(0, (gain/√fan_in)²) and returns t.
func KaimingNormal(g *tensor.Generator, t *tensor.Tensor, gain float64) *tensor.Tensor {
	fanIn, _ := Fans(t.Shape())
	return g.FillNormal(t, 0, gain/math.Sqrt(float64(fanIn)))
}

// XavierUniform fills t in place with U(-b, b), b = gain·√(6/(fan_in+fan_out))
// (Glorot and Bengio), and returns t.
func XavierUniform(g *tensor.Generator, t *tensor.Tensor, gain float64) *tensor.Tensor {
	fi, fo := Fans(t.Shape())
	b := gain * math.Sqrt(6/float64(fi+fo))
	return g.FillUniform(t, -b, b)
}

// XavierNormal fills t in place with N(0, gain²·2/(fan_in+fan_out)) and returns t.
func XavierNormal(g *tensor.Generator, t *tensor.Tensor, gain float64) *tensor.Tensor {
	fi, fo := Fans(t.Shape())
	return g.FillNormal(t, 0, gain*math.Sqrt(2/float64(fi+fo)))
}

// Option configures how a layer's tensors are made.
type Option func(*config)

type config struct {
	dt  tensor.DType
	dev tensor.Device
}

// WithDType makes the layer's parameters and buffers of dtype dt (default Float32).
func WithDType(dt tensor.DType) Option { return func(c *config) { c.dt = dt } }

// OnDevice places the layer's parameters and buffers on dev (default the CPU).
func OnDevice(dev tensor.Device) Option { return func(c *config) { c.dev = dev } }

func configure(opts []Option) config {
	c := config{dt: tensor.Float32, dev: tensor.CPU}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c config) empty(shape ...int) *tensor.Tensor { return tensor.EmptyOn(c.dev, c.dt, shape...) }

func (c config) full(v float64, shape ...int) *tensor.Tensor {
	t := c.empty(shape...)
	if v != 0 {
		t.Device().Fill(t.View(), v)
	}
	return t
}
