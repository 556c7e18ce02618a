package autograd

import (
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// keptShape is shape with the reduced axes set to 1.
func keptShape(shape tensor.Shape, axes []int) []int {
	ks := slices.Clone([]int(shape))
	for _, a := range axes {
		ks[a] = 1
	}
	return ks
}

// expandBack broadcasts the gradient of a reduction back to the input shape.
func expandBack(g *Var, shape tensor.Shape, axes []int, keepDim bool) *Var {
	if !g.requiresGrad && g.node == nil {
		// a first-order pass: the same views, without recording them
		gv := g.value
		if !keepDim {
			gv = gv.Reshape(keptShape(shape, axes)...)
		}
		if gv.SameShape(g.value) && gv.Shape().Equal(shape) {
			return g
		}
		return Constant(gv.Expand(shape...))
	}
	if !keepDim {
		g = Reshape(g, keptShape(shape, axes)...)
	}
	return Expand(g, shape...)
}

// Sum adds over axes (all when none are given).
func Sum(x *Var, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.Sum", x)
	xs := x.value.Shape()
	ax := tensor.NormAxes("autograd.Sum", axes, xs)
	return unaryOp("autograd.Sum", x, tensor.Sum(x.value, keepDim, ax...),
		func(_ *Ctx, g *Var) *Var { return expandBack(g, xs, ax, keepDim) })
}

func count(shape tensor.Shape, axes []int) int {
	n := 1
	for _, a := range axes {
		n *= shape[a]
	}
	return n
}

// Mean averages over axes (all when none are given).
func Mean(x *Var, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.Mean", x)
	ax := tensor.NormAxes("autograd.Mean", axes, x.value.Shape())
	return MulScalar(Sum(x, keepDim, ax...), 1/float64(count(x.value.Shape(), ax)))
}

func extremum(op string, x *Var, keepDim bool, axes []int, max bool) *Var {
	xs := x.value.Shape()
	ax := tensor.NormAxes(op, axes, xs)
	var out *tensor.Tensor
	if max {
		out = tensor.Max(x.value, keepDim, ax...)
	} else {
		out = tensor.Min(x.value, keepDim, ax...)
	}
	return unaryOp(op, x, out, func(c *Ctx, g *Var) *Var {
		// The gradient is shared equally among tied extrema.
		ok := c.Output().value
		if !keepDim {
			ok = ok.Reshape(keptShape(xs, ax)...)
		}
		mask := tensor.Eq(c.Input(0).value, ok).Cast(x.value.DType())
		w := tensor.Div(mask, tensor.Sum(mask, true, ax...))
		return Mul(expandBack(g, xs, ax, keepDim), Constant(w))
	})
}

// Max returns the maximum over axes; the gradient is split among ties.
func Max(x *Var, keepDim bool, axes ...int) *Var {
	return extremum("autograd.Max", x, keepDim, axes, true)
}

// Min returns the minimum over axes; the gradient is split among ties.
func Min(x *Var, keepDim bool, axes ...int) *Var {
	return extremum("autograd.Min", x, keepDim, axes, false)
}

// Prod multiplies over axes (all when none are given). The gradient of an
// element is g times the product of the other reduced elements: g·out/x when
// no element of x is zero, and otherwise the product of the others computed
// exactly, without a division (see prodOthers), so it is right at zeros. Both
// are written with differentiable ops, so the gradient can be differentiated
// again.
func Prod(x *Var, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.Prod", x)
	xs := x.value.Shape()
	ax := tensor.NormAxes("autograd.Prod", axes, xs)
	return unaryOp("autograd.Prod", x, tensor.Prod(x.value, keepDim, ax...),
		func(c *Ctx, g *Var) *Var {
			in := c.Input(0)
			gx := expandBack(g, xs, ax, keepDim)
			if hasZero(in.value) {
				return Mul(gx, prodOthers(in, ax))
			}
			out := c.Output()
			if !keepDim {
				out = Reshape(out, keptShape(xs, ax)...)
			}
			return Mul(gx, Div(out, in))
		})
}

// hasZero reports whether some element of t is zero.
func hasZero(t *tensor.Tensor) bool {
	return tensor.Any(tensor.CompareScalar(tensor.OpEq, t, 0), false).Item() != 0
}

// prodOthers returns, for each element of x, the product of the other
// elements of its slice over the (sorted, unique) axes ax. The reduced axes
// are moved last and flattened to [..., n]; row i of an [..., n, n] tensor
// is the slice with its element i replaced by 1 (Where with an n×n identity
// mask), and its Prod over the last axis is the product of the others. The
// recursion through Prod keeps higher derivatives exact at zeros too.
func prodOthers(x *Var, ax []int) *Var {
	xs := x.value.Shape()
	nd := len(xs)
	red := make([]bool, nd)
	for _, a := range ax {
		red[a] = true
	}
	perm := make([]int, 0, nd)
	var lead []int
	for i := range nd {
		if !red[i] {
			perm = append(perm, i)
			lead = append(lead, xs[i])
		}
	}
	perm = append(perm, ax...)
	permShape := make([]int, nd)
	inv := make([]int, nd)
	for i, p := range perm {
		permShape[i] = xs[p]
		inv[p] = i
	}
	n := count(xs, ax)
	f := Reshape(Permute(x, perm...), append(slices.Clone(lead), n)...)
	eye := tensor.Eye(n, tensor.Bool).To(x.value.Device())
	one := Constant(scalarOf(x.value, 1))
	rows := Where(eye, one, Unsqueeze(f, len(lead))) // [..., n, n]
	others := Prod(rows, false, -1)                  // [..., n]
	return Permute(Reshape(others, permShape...), inv...)
}

// Variance returns the variance over axes with the given correction (1 for
// the unbiased estimator, 0 for the population variance).
func Variance(x *Var, correction int, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.Variance", x)
	ax := tensor.NormAxes("autograd.Var", axes, x.value.Shape())
	n := count(x.value.Shape(), ax)
	d := Sub(x, Mean(x, true, ax...))
	return MulScalar(Sum(Square(d), keepDim, ax...), 1/math.Max(float64(n-correction), 0))
}

// Std is the square root of Variance.
func Std(x *Var, correction int, keepDim bool, axes ...int) *Var {
	return Sqrt(Variance(x, correction, keepDim, axes...))
}

// LogSumExp returns log Σ exp(x) over axes, computed stably.
func LogSumExp(x *Var, keepDim bool, axes ...int) *Var {
	x = autocast1("autograd.LogSumExp", x)
	xs := x.value.Shape()
	ax := tensor.NormAxes("autograd.LogSumExp", axes, xs)
	return unaryOp("autograd.LogSumExp", x, tensor.LogSumExp(x.value, keepDim, ax...),
		func(c *Ctx, g *Var) *Var {
			out := c.Output()
			if !keepDim {
				out = Reshape(out, keptShape(xs, ax)...)
			}
			return Mul(expandBack(g, xs, ax, keepDim), Exp(Sub(c.Input(0), out)))
		})
}

// MatMul returns the matrix product with NumPy semantics (1-D operands are
// promoted and the added axis removed; batch axes broadcast). The gradients
// are products with transposed views, so no operand is copied.
func MatMul(a, b *Var) *Var {
	a, b = autocast2("autograd.MatMul", a, b)
	as, bs := a.value.Shape(), b.value.Shape()
	return record("autograd.MatMul", tensor.MatMul(a.value, b.value), []*Var{a, b}, func(c *Ctx, g *Var) []*Var {
		av, bv := c.Input(0), c.Input(1)
		if len(as) == 1 || len(bs) == 1 {
			if len(as) == 1 {
				av = Unsqueeze(av, 0)
			}
			if len(bs) == 1 {
				bv = Unsqueeze(bv, 1)
			}
			ash, bsh := av.value.Shape(), bv.value.Shape()
			batch, _ := tensor.BroadcastShapes(ash[:len(ash)-2], bsh[:len(bsh)-2])
			g = Reshape(g, append(batch, ash[len(ash)-2], bsh[len(bsh)-1])...)
		}
		res := make([]*Var, 2)
		gs := g.value.Shape()
		if c.NeedsGrad(0) {
			var ga *Var
			if transposedLayout(av.value) && gs[:len(gs)-2].Equal(av.value.Shape()[:av.NDim()-2]) {
				// Produce the gradient in a's own (transposed) layout, so a
				// Transpose upstream turns it back into a contiguous tensor.
				ga = T(MatMul(bv, T(g)))
			} else {
				ga = MatMul(g, T(bv))
			}
			res[0] = Reshape(sumTo(ga, av.value.Shape()), as...)
		}
		if c.NeedsGrad(1) {
			var gb *Var
			if transposedLayout(bv.value) && gs[:len(gs)-2].Equal(bv.value.Shape()[:bv.NDim()-2]) {
				gb = T(MatMul(T(g), av))
			} else {
				gb = MatMul(T(av), g)
			}
			res[1] = Reshape(sumTo(gb, bv.value.Shape()), bs...)
		}
		return res
	}, true)
}

// transposedLayout reports whether the last two axes of t are stored
// column-major (t is the transpose of a contiguous matrix or batch).
func transposedLayout(t *tensor.Tensor) bool {
	nd := t.NDim()
	if nd < 2 {
		return false
	}
	sh, st := t.Shape(), t.Strides()
	r, c := sh[nd-2], sh[nd-1]
	return r > 1 && c > 1 && st[nd-2] == 1 && st[nd-1] == r
}

// Linear returns x @ wᵀ + b (b may be nil) for x of shape [..., in] and w of
// shape [out, in], like torch.nn.functional.linear. Leading axes of x are
// flattened into one matrix product, so the weight gradient is a single GEMM.
func Linear(x, w, b *Var) *Var {
	x, w, b = autocast3("autograd.Linear", x, w, b)
	nd := x.NDim()
	if nd == 0 || w.NDim() != 2 || x.Dim(-1) != w.Dim(1) {
		panic(tensor.Errorf("autograd.Linear", "input shape %v and weight shape %v do not match", x.Shape(), w.Shape()))
	}
	fused := b == nil || (b.NDim() == 1 && b.Dim(0) == w.Dim(0)) // the bias is the GEMM's initial value
	if nd == 2 && fused {
		return linear2D(x, w, b) // the common case, without copying shapes
	}
	xs := x.value.Shape()
	x2 := x
	if len(xs) != 2 {
		x2 = Reshape(x, -1, xs[len(xs)-1])
	}
	var y *Var
	if fused {
		y = linear2D(x2, w, b)
	} else {
		y = Add(linear2D(x2, w, nil), b) // a bias of another broadcastable shape
	}
	if len(xs) != 2 {
		out := slices.Clone([]int(xs))
		out[len(out)-1] = w.Dim(0)
		y = Reshape(y, out...)
	}
	return y
}

// linear2D is x Wᵀ + b for a 2-D x as one op: the bias is the initial value
// of the GEMM's output (tensor.AddMatMul), and the backward pass writes the
// weight and bias gradients straight into their zeroed buffers when it can
// (Ctx.GradBuffer).
func linear2D(x, w, b *Var) *Var {
	inputs := append(make([]*Var, 0, 3), x, w)
	var out *tensor.Tensor
	if b != nil {
		inputs = append(inputs, b)
		out = tensor.AddMatMul(b.value, x.value, w.value.T())
	} else {
		out = tensor.MatMul(x.value, w.value.T())
	}
	return record("autograd.Linear", out, inputs, func(c *Ctx, g *Var) []*Var {
		res := make([]*Var, len(inputs))
		x, w := c.in(0), c.in(1)
		dt := g.DType()
		// a first-order pass on the CPU writes the products into backward
		// temporaries (the same GEMM as MatMul, so the same bits)
		into := !c.create && g.value.Device() == tensor.CPU && x.DType() == dt && w.DType() == dt
		if c.NeedsGrad(0) {
			if into {
				res[0] = Constant(tensor.MatMulInto(c.emptyLike(x), g.value, w))
			} else {
				res[0] = MatMul(g, c.Input(1))
			}
		}
		if c.NeedsGrad(1) {
			gw := c.GradBuffer(1)
			switch {
			case gw != nil && gw.DType() == dt && x.DType() == dt:
				res[1] = Constant(tensor.MatMulInto(gw, g.value.T(), x))
			case into:
				res[1] = Constant(tensor.MatMulInto(c.emptyLike(w), g.value.T(), x))
			default:
				res[1] = MatMul(T(g), c.Input(0))
			}
		}
		if len(inputs) == 3 && c.NeedsGrad(2) {
			gb := c.GradBuffer(2)
			if gb != nil && gb.DType() == g.DType() {
				gb.Device().Reduce(tensor.ReduceSum, gb.View(), g.value.T().View(), 1)
				res[2] = Constant(gb)
			} else {
				res[2] = Sum(g, false, 0)
			}
		}
		return res
	}, true)
}
