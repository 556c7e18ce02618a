package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// IndexSelect returns the entries of x at the Int64 indices idx (1-D) along
// axis. Repeated indices accumulate their gradients.
func IndexSelect(x *Var, axis int, idx *tensor.Tensor) *Var {
	xs := x.value.Shape()
	out := tensor.IndexSelect(x.value, axis, idx)
	if axis < 0 {
		axis += len(xs)
	}
	return unaryOp("autograd.IndexSelect", x, out, func(_ *Ctx, g *Var) *Var {
		view := make([]int, len(xs))
		for i := range view {
			view[i] = 1
		}
		view[axis] = idx.Dim(0)
		index := idx.Reshape(view...).Expand(g.value.Shape()...)
		return ScatterAdd(Constant(tensor.EmptyOn(g.value.Device(), g.value.DType(), xs...)), axis, index, g)
	})
}

// Gather returns out[i][j][k] = x[i][index[i][j][k]][k] along axis (for
// axis 1), like torch.gather; the gradient is scattered back with ScatterAdd.
func Gather(x *Var, axis int, index *tensor.Tensor) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.Gather", x, tensor.Gather(x.value, axis, index), func(_ *Ctx, g *Var) *Var {
		return ScatterAdd(Constant(tensor.EmptyOn(g.value.Device(), g.value.DType(), xs...)), axis, index, g)
	})
}

// ScatterAdd returns a copy of x with src added at the positions index
// names along axis, like torch.scatter_add. Both x and src get gradients.
func ScatterAdd(x *Var, axis int, index *tensor.Tensor, src *Var) *Var {
	ss := src.value.Shape()
	is := index.Shape()
	return Record("autograd.ScatterAdd", tensor.ScatterAdd(x.value, axis, index, src.value), []*Var{x, src},
		func(c *Ctx, g *Var) []*Var {
			res := make([]*Var, 2)
			if c.NeedsGrad(0) {
				res[0] = g
			}
			if c.NeedsGrad(1) {
				gs := Gather(g, axis, index)
				if !is.Equal(ss) {
					pads := make([]int, 0, 2*len(ss))
					for i := len(ss) - 1; i >= 0; i-- {
						pads = append(pads, 0, ss[i]-is[i])
					}
					gs = Pad(gs, pads, 0)
				}
				res[1] = gs
			}
			return res
		})
}

// Softmax returns the softmax of x along axis.
func Softmax(x *Var, axis int) *Var {
	x = autocast1("autograd.Softmax", x)
	return unaryOp("autograd.Softmax", x, tensor.Softmax(x.value, axis), func(c *Ctx, g *Var) *Var {
		y := c.Output()
		return Mul(y, Sub(g, Sum(Mul(g, y), true, axis)))
	})
}

// LogSoftmax returns log(softmax(x)) along axis.
func LogSoftmax(x *Var, axis int) *Var {
	x = autocast1("autograd.LogSoftmax", x)
	return unaryOp("autograd.LogSoftmax", x, tensor.LogSoftmax(x.value, axis), func(c *Ctx, g *Var) *Var {
		return Sub(g, Mul(Exp(c.Output()), Sum(g, true, axis)))
	})
}
