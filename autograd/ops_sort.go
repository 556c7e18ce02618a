package autograd

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// Sort sorts x along axis (stable, NaN largest) and returns the sorted
// values and their indices; the values are a Gather of x, so the gradient
// flows back to the positions they came from, as in torch.sort.
func Sort(x *Var, axis int, descending bool) (*Var, *tensor.Tensor) {
	idx := tensor.ArgSort(x.value, axis, descending)
	return Gather(x, axis, idx), idx
}

// TopK returns the k largest (smallest when largest is false) elements of x
// along axis and their indices; differentiable like torch.topk.
func TopK(x *Var, k, axis int, largest bool) (*Var, *tensor.Tensor) {
	_, idx := tensor.TopK(x.value, k, axis, largest)
	return Gather(x, axis, idx), idx
}

// KthValue returns the k-th smallest element of x along axis (k from 1) and
// its index; the gradient goes to that element, as in torch.kthvalue.
func KthValue(x *Var, k, axis int, keepDim bool) (*Var, *tensor.Tensor) {
	_, idx := tensor.KthValue(x.value, k, axis, true)
	return pickAlong(x, axis, idx, keepDim)
}

// Median returns the lower median of x along axis and its index (NaN when
// the row holds NaN); the gradient goes to the median element, as in
// torch.median(dim).
func Median(x *Var, axis int, keepDim bool) (*Var, *tensor.Tensor) {
	_, idx := tensor.Median(x.value, axis, true)
	return pickAlong(x, axis, idx, keepDim)
}

func pickAlong(x *Var, axis int, idx *tensor.Tensor, keepDim bool) (*Var, *tensor.Tensor) {
	v := Gather(x, axis, idx)
	if !keepDim {
		v, idx = Squeeze(v, axis), idx.Squeeze(axis)
	}
	return v, idx
}

// Norm returns the vector ord-norm of x over axes (1, 2 or +Inf), like
// torch.linalg.vector_norm, with PyTorch's gradients: sign(x) for L1,
// x/‖x‖ for L2 (0 where ‖x‖ = 0), and for L∞ sign(x) shared equally among
// the entries that attain the maximum.
func Norm(x *Var, ord float64, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.Norm", x)
	switch {
	case ord == 1:
		return Sum(Abs(x), keepDim, axes...)
	case math.IsInf(ord, 1):
		return Max(Abs(x), keepDim, axes...)
	case ord != 2:
		tensor.Norm(x.value, ord, keepDim, axes...) // panics with the op's error
	}
	xs := x.value.Shape()
	ax := tensor.NormAxes("autograd.Norm", axes, xs)
	return unaryOp("autograd.Norm", x, tensor.Norm(x.value, 2, keepDim, ax...), func(c *Ctx, g *Var) *Var {
		nrm := c.Output()
		if !keepDim {
			nrm = Reshape(nrm, keptShape(xs, ax)...)
		}
		// x/‖x‖ with the zero norms replaced by 1 (x is 0 there, so is the ratio).
		zero := tensor.CompareScalar(tensor.OpEq, nrm.value, 0).Cast(nrm.value.DType())
		safe := Add(nrm, Constant(zero))
		return Mul(expandBack(g, xs, ax, keepDim), Div(c.Input(0), safe))
	})
}

// PairwiseSqDist returns the squared distances between the rows of a
// [..., m, d] and b [..., n, d] (see tensor.PairwiseSqDist), differentiable
// in both inputs: the same GEMM expansion written with autograd ops.
func PairwiseSqDist(a, b *Var) *Var {
	tensor.PairwiseSqDist(a.value, b.value) // shape and dtype checks
	nd := len(a.value.Shape())
	an := Sum(Square(a), true, nd-1)
	bn := Transpose(Sum(Square(b), true, nd-1), nd-2, nd-1)
	ab := MatMul(a, Transpose(b, nd-2, nd-1))
	return MaximumScalar(Add(Add(an, bn), MulScalar(ab, -2)), 0)
}
