package amp

import (
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// StateBytes are the bytes of a model's training state by category.
type StateBytes struct {
	Params    int64 // parameter values (low precision under an Optimizer)
	Grads     int64 // gradients that exist now
	Optimizer int64 // optimizer state: float32 masters and the inner optimizer's buffers
}

// Total is the sum of the categories.
func (b StateBytes) Total() int64 { return b.Params + b.Grads + b.Optimizer }

// TensorBytes is the number of bytes of the tensors' elements (element
// count times dtype size; nil tensors count 0).
func TensorBytes(ts ...*tensor.Tensor) int64 {
	var n int64
	for _, t := range ts {
		if t != nil {
			n += int64(t.NumElements()) * int64(t.DType().Size())
		}
	}
	return n
}

// ParamBytes counts the values of params in Params and their gradients
// (those that exist) in Grads.
func ParamBytes(params []*autograd.Var) StateBytes {
	var b StateBytes
	for _, p := range params {
		b.Params += TensorBytes(p.Value())
		b.Grads += TensorBytes(p.Grad())
	}
	return b
}

// OptimizerStateBytes counts the per-parameter buffers an optim.Optimizer
// holds now (momentum, Adam's m and v; created on a parameter's first
// step), not its scalar step counters and hyperparameters.
func OptimizerStateBytes(opt *optim.Optimizer) int64 {
	var n int64
	for k, t := range opt.StateDict() {
		if strings.HasPrefix(k, "param.") && !strings.HasSuffix(k, ".step") {
			n += TensorBytes(t)
		}
	}
	return n
}

// Bytes measures the model state held now: the model parameters and
// their gradients, and in Optimizer the float32 masters plus the inner
// optimizer's buffers. For Adam after the first step it is 2Ψ + 2Ψ + 12Ψ
// bytes with bfloat16 or float16 parameters; the float32 scratch buffer a
// step uses (the size of the largest parameter) is not counted.
func (o *Optimizer) Bytes() StateBytes {
	b := ParamBytes(o.params)
	for _, m := range o.masters {
		b.Optimizer += TensorBytes(m.Value())
	}
	b.Optimizer += OptimizerStateBytes(o.opt)
	return b
}
