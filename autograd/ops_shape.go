package autograd

import (
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// Reshape returns x with a new shape (one axis may be -1). A view when the
// strides allow.
func Reshape(x *Var, shape ...int) *Var {
	xs := x.value.Shape()
	out := x.value.Reshape(shape...)
	if out.Shape().Equal(xs) {
		return x
	}
	return unaryOp("autograd.Reshape", x, out, func(_ *Ctx, g *Var) *Var { return Reshape(g, xs...) })
}

// Flatten merges axes start..end (inclusive).
func Flatten(x *Var, start, end int) *Var {
	return Reshape(x, x.value.Flatten(start, end).Shape()...)
}

// Permute reorders the axes (a view).
func Permute(x *Var, perm ...int) *Var {
	out := x.value.Permute(perm...)
	nd := len(perm)
	inv := make([]int, nd)
	for i, p := range perm {
		if p < 0 {
			p += nd
		}
		inv[p] = i
	}
	return unaryOp("autograd.Permute", x, out, func(_ *Ctx, g *Var) *Var { return Permute(g, inv...) })
}

// Transpose swaps axes a and b (a view).
func Transpose(x *Var, a, b int) *Var {
	return unaryOp("autograd.Transpose", x, x.value.Transpose(a, b),
		func(_ *Ctx, g *Var) *Var { return Transpose(g, a, b) })
}

// T transposes the last two axes (a view).
func T(x *Var) *Var {
	if x.NDim() < 2 {
		panic(tensor.Errorf("autograd.T", "needs at least 2 dimensions, have shape %v", x.Shape()))
	}
	return Transpose(x, -2, -1)
}

// Slice returns the elements start, start+step, ... below end along axis
// (a view; Python-style clamping of start and end).
func Slice(x *Var, axis, start, end, step int) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.Slice", x, x.value.Slice(axis, start, end, step),
		func(_ *Ctx, g *Var) *Var { return sliceScatter(g, xs, axis, start, end, step) })
}

// sliceScatter places g into zeros of shape at Slice(axis, start, end, step):
// the adjoint of Slice (and differentiable, its own gradient is Slice).
func sliceScatter(g *Var, shape tensor.Shape, axis, start, end, step int) *Var {
	z := tensor.EmptyOn(g.value.Device(), g.value.DType(), shape...)
	if g.value.NumElements() > 0 {
		z.Slice(axis, start, end, step).CopyFrom(g.value)
	}
	return unaryOp("autograd.SliceScatter", g, z,
		func(_ *Ctx, gg *Var) *Var { return Slice(gg, axis, start, end, step) })
}

// Narrow returns length elements from start along axis (a view).
func Narrow(x *Var, axis, start, length int) *Var {
	xs := x.value.Shape()
	out := x.value.Narrow(axis, start, length)
	return unaryOp("autograd.Narrow", x, out,
		func(_ *Ctx, g *Var) *Var { return sliceScatter(g, xs, axis, start, start+length, 1) })
}

// Select returns the slice at index i along axis, with the axis removed (a view).
func Select(x *Var, axis, i int) *Var {
	nd := x.NDim()
	if axis < 0 {
		axis += nd
	}
	if i < 0 {
		i += x.Dim(axis)
	}
	return Squeeze(Narrow(x, axis, i, 1), axis)
}

// Expand broadcasts x to shape (-1 keeps a size; new leading axes may be
// added). A view; the gradient is summed back.
func Expand(x *Var, shape ...int) *Var {
	xs := x.value.Shape()
	out := x.value.Expand(shape...)
	if out.Shape().Equal(xs) {
		return x
	}
	return unaryOp("autograd.Expand", x, out, func(_ *Ctx, g *Var) *Var { return sumTo(g, xs) })
}

// Squeeze removes the given size-1 axes (all size-1 axes when none are given).
func Squeeze(x *Var, axes ...int) *Var {
	xs := x.value.Shape()
	out := x.value.Squeeze(axes...)
	if out.NDim() == len(xs) {
		return x
	}
	return unaryOp("autograd.Squeeze", x, out, func(_ *Ctx, g *Var) *Var { return Reshape(g, xs...) })
}

// Unsqueeze inserts a size-1 axis at position axis of the result.
func Unsqueeze(x *Var, axis int) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.Unsqueeze", x, x.value.Unsqueeze(axis),
		func(_ *Ctx, g *Var) *Var { return Reshape(g, xs...) })
}

// Contiguous returns x laid out row-major (x itself when it already is).
func Contiguous(x *Var) *Var {
	if x.value.IsContiguous() {
		return x
	}
	return unaryOp("autograd.Contiguous", x, x.value.Contiguous(), identity)
}

// Concat joins xs along axis.
func Concat(xs []*Var, axis int) *Var {
	if len(xs) == 0 {
		panic(tensor.Errorf("autograd.Concat", "no inputs"))
	}
	vals := make([]*tensor.Tensor, len(xs))
	for i, x := range xs {
		vals[i] = x.value
	}
	out := tensor.Concat(vals, axis)
	if axis < 0 {
		axis += out.NDim()
	}
	sizes := make([]int, len(xs))
	for i, x := range xs {
		sizes[i] = x.Dim(axis)
	}
	return Record("autograd.Concat", out, slices.Clone(xs), func(c *Ctx, g *Var) []*Var {
		res := make([]*Var, len(sizes))
		at := 0
		for i, s := range sizes {
			if c.NeedsGrad(i) {
				res[i] = Narrow(g, axis, at, s)
			}
			at += s
		}
		return res
	})
}

// Stack joins same-shaped xs along a new axis.
func Stack(xs []*Var, axis int) *Var {
	if len(xs) == 0 {
		panic(tensor.Errorf("autograd.Stack", "no inputs"))
	}
	nd := xs[0].NDim() + 1
	if axis < 0 {
		axis += nd
	}
	us := make([]*Var, len(xs))
	for i, x := range xs {
		if !x.Shape().Equal(xs[0].Shape()) {
			panic(tensor.Errorf("autograd.Stack", "shapes %v and %v differ", xs[0].Shape(), x.Shape()))
		}
		us[i] = Unsqueeze(x, axis)
	}
	return Concat(us, axis)
}

// Split cuts x along axis into pieces of the given sizes.
func Split(x *Var, sizes []int, axis int) []*Var {
	parts := tensor.Split(x.value, sizes, axis) // validates
	out := make([]*Var, len(parts))
	at := 0
	for i, s := range sizes {
		out[i] = Narrow(x, axis, at, s)
		at += s
	}
	return out
}

// Chunk cuts x along axis into n nearly equal pieces, like torch.chunk.
func Chunk(x *Var, n int, axis int) []*Var {
	parts := tensor.Chunk(x.value, n, axis)
	sizes := make([]int, len(parts))
	nd := x.NDim()
	if axis < 0 {
		axis += nd
	}
	for i, p := range parts {
		sizes[i] = p.Dim(axis)
	}
	return Split(x, sizes, axis)
}

// Pad adds constant padding; pads holds (before, after) pairs starting
// with the last axis, as in torch.nn.functional.pad.
func Pad(x *Var, pads []int, value float64) *Var {
	xs := x.value.Shape()
	pads = slices.Clone(pads)
	return unaryOp("autograd.Pad", x, tensor.Pad(x.value, pads, value), func(_ *Ctx, g *Var) *Var {
		for i := 0; i < len(pads)/2; i++ {
			ax := len(xs) - 1 - i
			g = Narrow(g, ax, pads[2*i], xs[ax])
		}
		return g
	})
}
