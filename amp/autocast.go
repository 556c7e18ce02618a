package amp

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Class is what autocast does with an op's floating-point inputs.
type Class int

// The op classes.
const (
	// Keep leaves the inputs alone; an op with inputs of mixed dtypes
	// promotes them as usual (bfloat16 with float32 gives float32).
	Keep Class = iota
	// LowPrecision converts float32 inputs to the policy's dtype: the
	// matrix products that are fast and safe in 16 bits.
	LowPrecision
	// Float32 converts 16-bit inputs to float32: reductions, softmax,
	// exponentials and logarithms, losses and norms, whose results need
	// float32's precision or range.
	Float32
)

func (c Class) String() string {
	switch c {
	case Keep:
		return "keep"
	case LowPrecision:
		return "low-precision"
	case Float32:
		return "float32"
	}
	return "Class(?)"
}

// DefaultClasses is the op policy of Autocast, after torch.autocast's
// lists (lower_precision_fp and fp32) for the ops Tessera has. Ops not
// listed are Keep.
var DefaultClasses = map[string]Class{
	"autograd.MatMul":              LowPrecision,
	"autograd.Linear":              LowPrecision,
	"autograd.Conv2d":              LowPrecision,
	"autograd.Conv2dMaxPool2d":     LowPrecision,
	"autograd.Conv2dReLUMaxPool2d": LowPrecision,

	"autograd.Sum":        Float32,
	"autograd.Mean":       Float32,
	"autograd.Prod":       Float32,
	"autograd.Variance":   Float32,
	"autograd.Norm":       Float32,
	"autograd.LogSumExp":  Float32,
	"autograd.Softmax":    Float32,
	"autograd.LogSoftmax": Float32,
	"autograd.Exp":        Float32,
	"autograd.Log":        Float32,
	"autograd.Log1p":      Float32,
	"autograd.Rsqrt":      Float32,
	"autograd.Reciprocal": Float32,
	"autograd.Pow":        Float32,
	"nn.CrossEntropy":     Float32,
	"nn.NLLLoss":          Float32,
	"nn.MSELoss":          Float32,
	"nn.BCEWithLogits":    Float32,
	"nn.LayerNorm":        Float32,
	"nn.BatchNorm1d":      Float32,
	"nn.BatchNorm2d":      Float32,
}

// Policy is an autocast policy: the low-precision dtype and the class of
// each op.
type Policy struct {
	// DType is the low-precision dtype: tensor.BFloat16 or tensor.Float16.
	DType tensor.DType
	// Classes overrides DefaultClasses for the ops it names (by the op
	// names of package autograd and nn, e.g. "autograd.Softmax": Keep).
	Classes map[string]Class
}

// Class returns op's class under p.
func (p Policy) Class(op string) Class {
	if c, ok := p.Classes[op]; ok {
		return c
	}
	return DefaultClasses[op]
}

// Rule returns p as an autograd.CastRule.
func (p Policy) Rule() autograd.CastRule {
	if p.DType != tensor.BFloat16 && p.DType != tensor.Float16 {
		panic(tensor.Errorf("amp.Policy", "low-precision dtype %s (want bfloat16 or float16)", p.DType))
	}
	classes := make(map[string]Class, len(DefaultClasses)+len(p.Classes))
	for k, v := range DefaultClasses {
		classes[k] = v
	}
	for k, v := range p.Classes {
		classes[k] = v
	}
	low := p.DType
	return func(op string) (tensor.DType, bool) {
		switch classes[op] {
		case LowPrecision:
			return low, true
		case Float32:
			return tensor.Float32, true
		}
		return 0, false
	}
}

// Autocast runs f with p in effect for the calling goroutine (like a
// `with torch.autocast(dtype=...)` block): ops of class LowPrecision
// convert their float32 inputs to p.DType, ops of class Float32 convert
// 16-bit inputs to float32; float64 inputs are never converted. The
// conversions are differentiable (autograd.Cast), so gradients reach
// float32 parameters in float32. Run the backward pass after f returns,
// as with torch; backward passes never autocast. Scopes nest (the inner
// policy applies) and are per goroutine.
func Autocast(p Policy, f func()) {
	autograd.WithAutocast(p.Rule(), f)
}

// Enable is Autocast as a guard: p applies to the calling goroutine until
// the returned function is called (defer amp.Enable(p)()).
func Enable(p Policy) (restore func()) {
	return autograd.EnableAutocast(p.Rule())
}
