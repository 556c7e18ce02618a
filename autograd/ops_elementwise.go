package autograd

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// sumTo sums g over the axes that broadcasting added or expanded, so that
// the result has shape (the gradient rule of every broadcasting op).
func sumTo(g *Var, shape tensor.Shape) *Var {
	gs := g.value.Shape()
	if gs.Equal(shape) {
		return g
	}
	lead := len(gs) - len(shape)
	if lead < 0 {
		panic(tensor.Errorf("autograd.sumTo", "cannot sum gradient of shape %v to shape %v", gs, shape))
	}
	var axes []int
	for i := range gs {
		if i < lead || (shape[i-lead] == 1 && gs[i] != 1) {
			axes = append(axes, i)
		}
	}
	if len(axes) == 0 {
		return Reshape(g, shape...)
	}
	return Reshape(Sum(g, true, axes...), shape...)
}

// scalarOf returns a 0-d tensor holding v with t's dtype on t's device.
func scalarOf(t *tensor.Tensor, v float64) *tensor.Tensor {
	s := tensor.EmptyOn(t.Device(), t.DType())
	if v != 0 {
		s.Device().Fill(s.View(), v)
	}
	return s
}

func binaryOp(op string, a, b *Var, out *tensor.Tensor, ga, gb func(c *Ctx, g *Var) *Var) *Var {
	return record(op, out, []*Var{a, b}, func(c *Ctx, g *Var) []*Var {
		res := make([]*Var, 2)
		if c.NeedsGrad(0) {
			res[0] = sumToLike(ga(c, g), c.in(0))
		}
		if c.NeedsGrad(1) {
			res[1] = sumToLike(gb(c, g), c.in(1))
		}
		return res
	}, true)
}

// sumToLike is sumTo to the shape of t (without copying it when g has it).
func sumToLike(g *Var, t *tensor.Tensor) *Var {
	if g.value.SameShape(t) {
		return g
	}
	return sumTo(g, t.Shape())
}

func unaryOp(op string, x *Var, out *tensor.Tensor, gx func(c *Ctx, g *Var) *Var) *Var {
	return record(op, out, []*Var{x}, func(c *Ctx, g *Var) []*Var { return []*Var{gx(c, g)} }, true)
}

// The first-order forms of common gradient expressions: in a pass that
// does not create a graph they compute straight into a backward temporary
// (Ctx.emptyLike) with the tensor package's Into forms, with the same kernels
// as the autograd ops they stand for (so the same bits), and fall back to
// those ops otherwise.

// mulGrad returns g * input i.
func mulGrad(c *Ctx, g *Var, i int) *Var {
	t := c.in(i)
	if c.create || t.DType() != g.value.DType() || !broadcastsTo(t, g.value) {
		return Mul(g, c.Input(i))
	}
	return Constant(tensor.MulInto(c.emptyLike(g.value), g.value, t))
}

// scaleGrad returns g * s.
func scaleGrad(c *Ctx, g *Var, s float64) *Var {
	if c.create || !g.value.DType().IsFloat() {
		return MulScalar(g, s)
	}
	return Constant(tensor.UnaryInto(tensor.OpAffine, c.resultFor(g), g.value, s, 0))
}

// negGrad returns -g.
func negGrad(c *Ctx, g *Var) *Var {
	if c.create || !g.value.DType().IsFloat() {
		return Neg(g)
	}
	return Constant(tensor.UnaryInto(tensor.OpNeg, c.resultFor(g), g.value, 0, 0))
}

// broadcastsTo reports whether t broadcasts to u's shape without growing it.
func broadcastsTo(t, u *tensor.Tensor) bool {
	if t.SameShape(u) {
		return true
	}
	tn, un := t.NDim(), u.NDim()
	if tn > un {
		return false
	}
	for i := 1; i <= tn; i++ {
		if d := t.Dim(-i); d != 1 && d != u.Dim(-i) {
			return false
		}
	}
	return true
}

func identity(_ *Ctx, g *Var) *Var { return g }

// Add returns a + b with broadcasting.
func Add(a, b *Var) *Var {
	return binaryOp("autograd.Add", a, b, tensor.Add(a.value, b.value), identity, identity)
}

// Sub returns a - b with broadcasting.
func Sub(a, b *Var) *Var {
	return binaryOp("autograd.Sub", a, b, tensor.Sub(a.value, b.value), identity, negGrad)
}

// Mul returns a * b elementwise with broadcasting.
func Mul(a, b *Var) *Var {
	return binaryOp("autograd.Mul", a, b, tensor.Mul(a.value, b.value),
		func(c *Ctx, g *Var) *Var { return mulGrad(c, g, 1) },
		func(c *Ctx, g *Var) *Var { return mulGrad(c, g, 0) })
}

// Div returns a / b elementwise with broadcasting.
func Div(a, b *Var) *Var {
	return binaryOp("autograd.Div", a, b, tensor.Div(a.value, b.value),
		func(c *Ctx, g *Var) *Var { return Div(g, c.Input(1)) },
		func(c *Ctx, g *Var) *Var { return Neg(Div(Mul(g, c.Output()), c.Input(1))) })
}

// Pow returns a raised to b elementwise (the gradient for b uses log a, so
// a must be positive where b needs a gradient).
func Pow(a, b *Var) *Var {
	a, b = autocast2("autograd.Pow", a, b)
	return binaryOp("autograd.Pow", a, b, tensor.Pow(a.value, b.value),
		func(c *Ctx, g *Var) *Var {
			b := c.Input(1)
			return Mul(g, Mul(b, Pow(c.Input(0), AddScalar(b, -1))))
		},
		func(c *Ctx, g *Var) *Var { return Mul(g, Mul(c.Output(), Log(c.Input(0)))) })
}

// Maximum returns the elementwise maximum. As in PyTorch, the gradient
// goes to the larger operand and is split evenly (half each) where a == b.
func Maximum(a, b *Var) *Var {
	return binaryOp("autograd.Maximum", a, b, tensor.Maximum(a.value, b.value),
		func(c *Ctx, g *Var) *Var { return Mul(g, Constant(tieWeight(c, tensor.Lt))) },
		func(c *Ctx, g *Var) *Var { return Mul(g, Constant(tieWeight(c, tensor.Gt))) })
}

// Minimum returns the elementwise minimum. As in PyTorch, the gradient
// goes to the smaller operand and is split evenly (half each) where a == b.
func Minimum(a, b *Var) *Var {
	return binaryOp("autograd.Minimum", a, b, tensor.Minimum(a.value, b.value),
		func(c *Ctx, g *Var) *Var { return Mul(g, Constant(tieWeight(c, tensor.Gt))) },
		func(c *Ctx, g *Var) *Var { return Mul(g, Constant(tieWeight(c, tensor.Lt))) })
}

// tieWeight is PyTorch's share of the gradient of Maximum or Minimum for
// one operand: 1 - [loses(a, b)] - ½[a == b] over the broadcast shape (so
// a NaN operand gets the whole gradient, as in PyTorch).
func tieWeight(c *Ctx, loses func(a, b *tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	a, b := c.Input(0).value, c.Input(1).value
	dt := c.Output().DType()
	l := tensor.Add(loses(a, b).Cast(dt), tensor.MulScalar(tensor.Eq(a, b).Cast(dt), 0.5))
	return tensor.Affine(l, -1, 1)
}

// whereZero returns g where m is true (false when inverted), else 0.
func whereZero(m *tensor.Tensor, g *Var, inverted bool) *Var {
	z := Constant(scalarOf(g.value, 0))
	if inverted {
		return Where(m, z, g)
	}
	return Where(m, g, z)
}

// Where returns cond ? a : b elementwise, broadcasting all three. cond is a
// Bool tensor and gets no gradient.
func Where(cond *tensor.Tensor, a, b *Var) *Var {
	return binaryOp("autograd.Where", a, b, tensor.Where(cond, a.value, b.value),
		func(_ *Ctx, g *Var) *Var { return whereZero(cond, g, false) },
		func(_ *Ctx, g *Var) *Var { return whereZero(cond, g, true) })
}

// MaskedFill returns x with v wherever mask (Bool, broadcast to x) is true.
func MaskedFill(x *Var, mask *tensor.Tensor, v float64) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.MaskedFill", x, tensor.MaskedFill(x.value, mask, v),
		func(_ *Ctx, g *Var) *Var { return sumTo(whereZero(mask, g, true), xs) })
}

// Neg returns -x.
func Neg(x *Var) *Var {
	return unaryOp("autograd.Neg", x, tensor.Neg(x.value), negGrad)
}

// Exp returns eˣ.
func Exp(x *Var) *Var {
	x = autocast1("autograd.Exp", x)
	return unaryOp("autograd.Exp", x, tensor.Exp(x.value), func(c *Ctx, g *Var) *Var { return Mul(g, c.Output()) })
}

// Log returns the natural logarithm.
func Log(x *Var) *Var {
	x = autocast1("autograd.Log", x)
	return unaryOp("autograd.Log", x, tensor.Log(x.value), func(c *Ctx, g *Var) *Var { return Div(g, c.Input(0)) })
}

// Log1p returns log(1+x).
func Log1p(x *Var) *Var {
	x = autocast1("autograd.Log1p", x)
	return unaryOp("autograd.Log1p", x, tensor.Log1p(x.value),
		func(c *Ctx, g *Var) *Var { return Div(g, AddScalar(c.Input(0), 1)) })
}

// Sqrt returns √x.
func Sqrt(x *Var) *Var {
	return unaryOp("autograd.Sqrt", x, tensor.Sqrt(x.value),
		func(c *Ctx, g *Var) *Var { return Div(MulScalar(g, 0.5), c.Output()) })
}

// Rsqrt returns 1/√x.
func Rsqrt(x *Var) *Var {
	x = autocast1("autograd.Rsqrt", x)
	return unaryOp("autograd.Rsqrt", x, tensor.Rsqrt(x.value),
		func(c *Ctx, g *Var) *Var { return MulScalar(Mul(g, Div(c.Output(), c.Input(0))), -0.5) })
}

// Reciprocal returns 1/x.
func Reciprocal(x *Var) *Var {
	x = autocast1("autograd.Reciprocal", x)
	return unaryOp("autograd.Reciprocal", x, tensor.Reciprocal(x.value),
		func(c *Ctx, g *Var) *Var { return Neg(Mul(g, Square(c.Output()))) })
}

// Square returns x².
func Square(x *Var) *Var {
	return unaryOp("autograd.Square", x, tensor.Square(x.value),
		func(c *Ctx, g *Var) *Var {
			x := c.in(0)
			if c.create || !x.DType().IsFloat() || g.value.DType() != x.DType() || !g.value.SameShape(x) {
				return Mul(g, MulScalar(c.Input(0), 2))
			}
			// g * (2x), as Mul(g, MulScalar(x, 2)), in one temporary
			t := tensor.UnaryInto(tensor.OpAffine, c.emptyLike(x), x, 2, 0)
			return Constant(tensor.MulInto(t, g.value, t))
		})
}

// Sin returns sin x.
func Sin(x *Var) *Var {
	return unaryOp("autograd.Sin", x, tensor.Sin(x.value), func(c *Ctx, g *Var) *Var { return Mul(g, Cos(c.Input(0))) })
}

// Cos returns cos x.
func Cos(x *Var) *Var {
	return unaryOp("autograd.Cos", x, tensor.Cos(x.value),
		func(c *Ctx, g *Var) *Var { return Neg(Mul(g, Sin(c.Input(0)))) })
}

// Tanh returns tanh x.
func Tanh(x *Var) *Var {
	return unaryOp("autograd.Tanh", x, tensor.Tanh(x.value),
		func(c *Ctx, g *Var) *Var { return Mul(g, Affine(Square(c.Output()), -1, 1)) })
}

// Sigmoid returns 1/(1+e⁻ˣ).
func Sigmoid(x *Var) *Var {
	return unaryOp("autograd.Sigmoid", x, tensor.Sigmoid(x.value),
		func(c *Ctx, g *Var) *Var {
			y := c.Output()
			return Mul(g, Mul(y, Affine(y, -1, 1)))
		})
}

// Erf returns the error function.
func Erf(x *Var) *Var {
	return unaryOp("autograd.Erf", x, tensor.Erf(x.value),
		func(c *Ctx, g *Var) *Var {
			return Mul(g, MulScalar(Exp(Neg(Square(c.Input(0)))), 2/math.Sqrt(math.Pi)))
		})
}

// step returns the constant 1 where x > 0, else 0.
func step(x *tensor.Tensor) *Var {
	return Constant(tensor.UnaryInto(tensor.OpStep, tensor.EmptyLike(x), x, 0, 0))
}

// ReLU returns max(x, 0).
func ReLU(x *Var) *Var {
	return unaryOp("autograd.ReLU", x, tensor.ReLU(x.value),
		func(c *Ctx, g *Var) *Var {
			if !c.CreateGraph() {
				// one fused pass (g where x > 0), no mask temporaries
				return Constant(tensor.ReLUGradInto(c.resultFor(g), g.value, c.in(0)))
			}
			return Mul(g, step(c.Input(0).value))
		})
}

// LeakyReLU returns x for x > 0 and slope·x otherwise.
func LeakyReLU(x *Var, slope float64) *Var {
	return unaryOp("autograd.LeakyReLU", x, tensor.LeakyReLU(x.value, slope),
		func(c *Ctx, g *Var) *Var {
			d := tensor.Affine(step(c.Input(0).value).value, 1-slope, slope)
			return Mul(g, Constant(d))
		})
}

// GELU returns the exact Gaussian error linear unit x·Φ(x) =
// 0.5·x·(1 + erf(x/√2)), PyTorch's F.gelu default (GELUTanh is the
// approximation).
func GELU(x *Var) *Var {
	return unaryOp("autograd.GELU", x, tensor.GELU(x.value),
		func(c *Ctx, g *Var) *Var {
			x := c.Input(0)
			cdf := Affine(Erf(MulScalar(x, 1/math.Sqrt2)), 0.5, 0.5)
			pdf := MulScalar(Exp(MulScalar(Square(x), -0.5)), 1/math.Sqrt(2*math.Pi))
			return Mul(g, Add(cdf, Mul(x, pdf)))
		})
}

// GELUTanh returns the tanh approximation of the Gaussian error linear
// unit, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as PyTorch's
// F.gelu(x, approximate="tanh"). It differs from GELU by up to about 5e-4.
func GELUTanh(x *Var) *Var {
	return unaryOp("autograd.GELUTanh", x, tensor.GELUTanh(x.value),
		func(c *Ctx, g *Var) *Var { return Mul(g, geluTanhGrad(c.Input(0))) })
}

// geluTanhGrad is d/dx of 0.5x(1+tanh(k(x+a x³))), written with autograd ops.
func geluTanhGrad(x *Var) *Var {
	const a = 0.044715
	k := math.Sqrt(2 / math.Pi)
	x2 := Square(x)
	t := Tanh(MulScalar(Mul(x, Affine(x2, a, 1)), k))
	return Add(Affine(t, 0.5, 0.5),
		Mul(MulScalar(x, 0.5*k), Mul(Affine(Square(t), -1, 1), Affine(x2, 3*a, 1))))
}

// Abs returns |x| (gradient sign(x), 0 at 0).
func Abs(x *Var) *Var {
	return unaryOp("autograd.Abs", x, tensor.Abs(x.value),
		func(c *Ctx, g *Var) *Var { return Mul(g, Constant(tensor.Sign(c.Input(0).value))) })
}

// Clamp limits x to [lo, hi]; the gradient passes where lo <= x <= hi.
func Clamp(x *Var, lo, hi float64) *Var {
	return unaryOp("autograd.Clamp", x, tensor.Clamp(x.value, lo, hi),
		func(c *Ctx, g *Var) *Var {
			xv := c.Input(0).value
			in := tensor.LogicalAnd(tensor.CompareScalar(tensor.OpGe, xv, lo), tensor.CompareScalar(tensor.OpLe, xv, hi))
			return whereZero(in, g, false)
		})
}

// PowScalar returns xᵖ.
func PowScalar(x *Var, p float64) *Var {
	return unaryOp("autograd.PowScalar", x, tensor.PowScalar(x.value, p),
		func(c *Ctx, g *Var) *Var {
			switch p {
			case 0:
				return MulScalar(g, 0)
			case 1:
				return g
			case 2:
				return Mul(g, MulScalar(c.Input(0), 2))
			}
			return Mul(g, MulScalar(PowScalar(c.Input(0), p-1), p))
		})
}

// Affine returns a*x + b elementwise.
func Affine(x *Var, a, b float64) *Var {
	return unaryOp("autograd.Affine", x, tensor.Affine(x.value, a, b),
		func(_ *Ctx, g *Var) *Var { return MulScalar(g, a) })
}

// AddScalar returns x + s.
func AddScalar(x *Var, s float64) *Var { return Affine(x, 1, s) }

// SubScalar returns x - s.
func SubScalar(x *Var, s float64) *Var { return Affine(x, 1, -s) }

// MulScalar returns x * s.
func MulScalar(x *Var, s float64) *Var {
	return unaryOp("autograd.MulScalar", x, tensor.MulScalar(x.value, s),
		func(c *Ctx, g *Var) *Var { return scaleGrad(c, g, s) })
}

// DivScalar returns x / s.
func DivScalar(x *Var, s float64) *Var { return MulScalar(x, 1/s) }

// RSubScalar returns s - x.
func RSubScalar(s float64, x *Var) *Var { return Affine(x, -1, s) }

// MaximumScalar returns max(x, s); the gradient passes where x >= s.
func MaximumScalar(x *Var, s float64) *Var {
	return unaryOp("autograd.MaximumScalar", x, tensor.MaximumScalar(x.value, s),
		func(c *Ctx, g *Var) *Var {
			return whereZero(tensor.CompareScalar(tensor.OpGe, c.Input(0).value, s), g, false)
		})
}

// MinimumScalar returns min(x, s); the gradient passes where x <= s.
func MinimumScalar(x *Var, s float64) *Var {
	return unaryOp("autograd.MinimumScalar", x, tensor.MinimumScalar(x.value, s),
		func(c *Ctx, g *Var) *Var {
			return whereZero(tensor.CompareScalar(tensor.OpLe, c.Input(0).value, s), g, false)
		})
}

// Cast converts x to dtype dt (x itself when it already has it); the
// gradient is cast back.
func Cast(x *Var, dt tensor.DType) *Var {
	if x.value.DType() == dt {
		return x
	}
	src := x.value.DType()
	return unaryOp("autograd.Cast", x, x.value.Cast(dt), func(_ *Ctx, g *Var) *Var { return Cast(g, src) })
}
