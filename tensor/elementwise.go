package tensor

import "math"

func binaryResult(op string, bop BinaryOp, a, b *Tensor) (shape []int, dt DType) {
	sameDevice(op, a, b)
	if Shape(a.shape).Equal(b.shape) {
		shape = a.shape // no broadcast to plan (the callers only read it)
	} else {
		var err error
		if shape, err = BroadcastShapes(a.shape, b.shape); err != nil {
			fail(op, "shapes %v and %v do not broadcast", Shape(a.shape), Shape(b.shape))
		}
	}
	dt = promote(a.DType(), b.DType())
	if dt == Bool && !bop.isLogical() && bop != OpEq && bop != OpNe {
		if !bop.isCompare() {
			fail(op, "arithmetic on bool tensors %v and %v", Shape(a.shape), Shape(b.shape))
		}
		dt = Int64 // false < true, as in NumPy
	}
	if (bop == OpDiv || bop == OpPow) && !dt.IsFloat() {
		dt = Float32 // true division, as in NumPy and PyTorch
	}
	if bop.isLogical() {
		dt = Bool
	}
	return shape, dt
}

func binary(op string, bop BinaryOp, a, b *Tensor) *Tensor {
	shape, dt := binaryResult(op, bop, a, b)
	odt := dt
	if bop.isCompare() || bop.isLogical() {
		odt = Bool
	}
	out := allocDirty(op, a.Device(), odt, shape) // Binary writes every element
	a.Device().Binary(bop, out.View(), a.Cast(dt).broadcastTo(op, shape).View(), b.Cast(dt).broadcastTo(op, shape).View())
	return out
}

// binaryInto computes into dst, which must have the broadcast shape; dst may
// be a or b (in place).
func binaryInto(op string, bop BinaryOp, dst, a, b *Tensor) *Tensor {
	shape, dt := binaryResult(op, bop, a, b)
	sameDevice(op, dst, a)
	if !Shape(shape).Equal(dst.shape) {
		fail(op, "destination shape %v, want %v", Shape(dst.shape), Shape(shape))
	}
	if bop.isCompare() || bop.isLogical() {
		if dst.DType() != Bool {
			fail(op, "destination dtype %v, want bool", dst.DType())
		}
	} else if dst.DType() != dt {
		// Compute in the operands' promoted dtype and convert the result once,
		// as PyTorch's out= does; casting the operands to dst's dtype first
		// would truncate (int dst) or round (bf16 dst) them before the op.
		dst.Device().Copy(dst.View(), binary(op, bop, a, b).View())
		return dst
	}
	a.Device().Binary(bop, dst.View(), a.Cast(dt).broadcastTo(op, shape).View(), b.Cast(dt).broadcastTo(op, shape).View())
	return dst
}

// Add returns a + b with NumPy broadcasting.
func Add(a, b *Tensor) *Tensor { return binary("tensor.Add", OpAdd, a, b) }

// Sub returns a - b.
func Sub(a, b *Tensor) *Tensor { return binary("tensor.Sub", OpSub, a, b) }

// Mul returns a * b elementwise.
func Mul(a, b *Tensor) *Tensor { return binary("tensor.Mul", OpMul, a, b) }

// Div returns a / b (true division: integers give Float32).
func Div(a, b *Tensor) *Tensor { return binary("tensor.Div", OpDiv, a, b) }

// Maximum returns the elementwise maximum (NaN propagates).
func Maximum(a, b *Tensor) *Tensor { return binary("tensor.Maximum", OpMaximum, a, b) }

// Minimum returns the elementwise minimum (NaN propagates).
func Minimum(a, b *Tensor) *Tensor { return binary("tensor.Minimum", OpMinimum, a, b) }

// Pow returns a raised to b elementwise.
func Pow(a, b *Tensor) *Tensor { return binary("tensor.Pow", OpPow, a, b) }

// Eq returns a == b as Bool.
func Eq(a, b *Tensor) *Tensor { return binary("tensor.Eq", OpEq, a, b) }

// Ne returns a != b as Bool.
func Ne(a, b *Tensor) *Tensor { return binary("tensor.Ne", OpNe, a, b) }

// Lt returns a < b as Bool.
func Lt(a, b *Tensor) *Tensor { return binary("tensor.Lt", OpLt, a, b) }

// Le returns a <= b as Bool.
func Le(a, b *Tensor) *Tensor { return binary("tensor.Le", OpLe, a, b) }

// Gt returns a > b as Bool.
func Gt(a, b *Tensor) *Tensor { return binary("tensor.Gt", OpGt, a, b) }

// Ge returns a >= b as Bool.
func Ge(a, b *Tensor) *Tensor { return binary("tensor.Ge", OpGe, a, b) }

// LogicalAnd returns a && b (operands are converted to Bool).
func LogicalAnd(a, b *Tensor) *Tensor { return binary("tensor.LogicalAnd", OpAnd, a, b) }

// LogicalOr returns a || b.
func LogicalOr(a, b *Tensor) *Tensor { return binary("tensor.LogicalOr", OpOr, a, b) }

// LogicalXor returns a != b for Bool operands.
func LogicalXor(a, b *Tensor) *Tensor { return binary("tensor.LogicalXor", OpXor, a, b) }

// AddInto sets dst = a + b and returns dst; dst may be a or b.
func AddInto(dst, a, b *Tensor) *Tensor { return binaryInto("tensor.AddInto", OpAdd, dst, a, b) }

// SubInto sets dst = a - b and returns dst.
func SubInto(dst, a, b *Tensor) *Tensor { return binaryInto("tensor.SubInto", OpSub, dst, a, b) }

// MulInto sets dst = a * b and returns dst.
func MulInto(dst, a, b *Tensor) *Tensor { return binaryInto("tensor.MulInto", OpMul, dst, a, b) }

// DivInto sets dst = a / b and returns dst.
func DivInto(dst, a, b *Tensor) *Tensor { return binaryInto("tensor.DivInto", OpDiv, dst, a, b) }

// BinaryInto applies any BinaryOp into dst.
func BinaryInto(bop BinaryOp, dst, a, b *Tensor) *Tensor {
	return binaryInto("tensor.BinaryInto", bop, dst, a, b)
}

// scalarLike returns a 0-d tensor holding v with t's dtype on t's device.
func scalarLike(t *Tensor, v float64, dt DType) *Tensor {
	s := alloc("tensor.scalar", t.Device(), dt, nil)
	t.Device().Fill(s.View(), v)
	return s
}

func scalarDType(t *Tensor, v float64) DType {
	dt := t.DType()
	if !dt.IsFloat() && (v != math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v)) {
		return Float32
	}
	if dt == Bool {
		return Int64
	}
	return dt
}

// AddScalar returns x + s.
func AddScalar(x *Tensor, s float64) *Tensor { return Affine(x, 1, s) }

// MulScalar returns x * s.
func MulScalar(x *Tensor, s float64) *Tensor { return Affine(x, s, 0) }

// Affine returns a*x + b elementwise, in one pass.
func Affine(x *Tensor, a, b float64) *Tensor {
	x = x.Cast(scalarDType(x, a).promoteWith(scalarDType(x, b)))
	return unaryOp("tensor.Affine", OpAffine, x, a, b)
}

func (d DType) promoteWith(o DType) DType { return promote(d, o) }

// CompareScalar compares x with the scalar s using a comparison BinaryOp.
func CompareScalar(bop BinaryOp, x *Tensor, s float64) *Tensor {
	if !bop.isCompare() {
		fail("tensor.CompareScalar", "op %d is not a comparison", bop)
	}
	return binary("tensor.CompareScalar", bop, x, scalarLike(x, s, scalarDType(x, s)))
}

// MaximumScalar returns max(x, s) elementwise.
func MaximumScalar(x *Tensor, s float64) *Tensor {
	return binary("tensor.MaximumScalar", OpMaximum, x, scalarLike(x, s, scalarDType(x, s)))
}

// MinimumScalar returns min(x, s) elementwise.
func MinimumScalar(x *Tensor, s float64) *Tensor {
	return binary("tensor.MinimumScalar", OpMinimum, x, scalarLike(x, s, scalarDType(x, s)))
}

// Where returns cond ? a : b elementwise, broadcasting all three.
func Where(cond, a, b *Tensor) *Tensor {
	sameDevice("tensor.Where", cond, a, b)
	shape, err := BroadcastShapes(cond.shape, a.shape, b.shape)
	if err != nil {
		fail("tensor.Where", "shapes %v, %v and %v do not broadcast", Shape(cond.shape), Shape(a.shape), Shape(b.shape))
	}
	dt := promote(a.DType(), b.DType())
	out := allocDirty("tensor.Where", a.Device(), dt, shape)
	a.Device().Where(out.View(), cond.Cast(Bool).broadcastTo("tensor.Where", shape).View(),
		a.Cast(dt).broadcastTo("tensor.Where", shape).View(), b.Cast(dt).broadcastTo("tensor.Where", shape).View())
	return out
}

// MaskedFill returns x with v wherever mask (broadcast to x) is true.
func MaskedFill(x, mask *Tensor, v float64) *Tensor {
	return Where(mask, scalarLike(x, v, x.DType()), x)
}

func unaryOp(op string, uop UnaryOp, x *Tensor, p0, p1 float64) *Tensor {
	out := allocDirty(op, x.Device(), x.DType(), x.shape) // Unary writes every element
	x.Device().Unary(uop, out.View(), x.View(), p0, p1)
	return out
}

// floatUnary casts integer inputs to Float32 first.
func floatUnary(op string, uop UnaryOp, x *Tensor, p0, p1 float64) *Tensor {
	if !x.DType().IsFloat() {
		x = x.Cast(Float32)
	}
	return unaryOp(op, uop, x, p0, p1)
}

func numericUnary(op string, uop UnaryOp, x *Tensor, p0, p1 float64) *Tensor {
	if x.DType() == Bool {
		fail(op, "not defined for bool tensors")
	}
	return unaryOp(op, uop, x, p0, p1)
}

// UnaryInto applies uop to x into dst (same shape and dtype; dst may be x).
func UnaryInto(uop UnaryOp, dst, x *Tensor, p0, p1 float64) *Tensor {
	sameDevice("tensor.UnaryInto", dst, x)
	if !Shape(dst.shape).Equal(x.shape) || dst.DType() != x.DType() {
		fail("tensor.UnaryInto", "destination %s for input %s", dst.describe(), x.describe())
	}
	x.Device().Unary(uop, dst.View(), x.View(), p0, p1)
	return dst
}

// Neg returns -x.
func Neg(x *Tensor) *Tensor { return numericUnary("tensor.Neg", OpNeg, x, 0, 0) }

// Abs returns |x|.
func Abs(x *Tensor) *Tensor { return numericUnary("tensor.Abs", OpAbs, x, 0, 0) }

// Sign returns -1, 0 or 1 by the sign of x.
func Sign(x *Tensor) *Tensor { return numericUnary("tensor.Sign", OpSign, x, 0, 0) }

// Square returns x².
func Square(x *Tensor) *Tensor { return numericUnary("tensor.Square", OpSquare, x, 0, 0) }

// Exp returns eˣ.
func Exp(x *Tensor) *Tensor { return floatUnary("tensor.Exp", OpExp, x, 0, 0) }

// Log returns the natural logarithm.
func Log(x *Tensor) *Tensor { return floatUnary("tensor.Log", OpLog, x, 0, 0) }

// Log1p returns log(1+x), accurate near 0.
func Log1p(x *Tensor) *Tensor { return floatUnary("tensor.Log1p", OpLog1p, x, 0, 0) }

// Sqrt returns √x.
func Sqrt(x *Tensor) *Tensor { return floatUnary("tensor.Sqrt", OpSqrt, x, 0, 0) }

// Rsqrt returns 1/√x.
func Rsqrt(x *Tensor) *Tensor { return floatUnary("tensor.Rsqrt", OpRsqrt, x, 0, 0) }

// Reciprocal returns 1/x.
func Reciprocal(x *Tensor) *Tensor { return floatUnary("tensor.Reciprocal", OpRecip, x, 0, 0) }

// Sin returns sin x.
func Sin(x *Tensor) *Tensor { return floatUnary("tensor.Sin", OpSin, x, 0, 0) }

// Cos returns cos x.
func Cos(x *Tensor) *Tensor { return floatUnary("tensor.Cos", OpCos, x, 0, 0) }

// Tanh returns tanh x.
func Tanh(x *Tensor) *Tensor { return floatUnary("tensor.Tanh", OpTanh, x, 0, 0) }

// Erf returns the error function of x.
func Erf(x *Tensor) *Tensor { return floatUnary("tensor.Erf", OpErf, x, 0, 0) }

// Sigmoid returns 1/(1+e⁻ˣ), computed without overflow.
func Sigmoid(x *Tensor) *Tensor { return floatUnary("tensor.Sigmoid", OpSigmoid, x, 0, 0) }

// ReLU returns max(x, 0).
func ReLU(x *Tensor) *Tensor { return numericUnary("tensor.ReLU", OpReLU, x, 0, 0) }

// LeakyReLU returns x for x >= 0 and slope·x otherwise.
func LeakyReLU(x *Tensor, slope float64) *Tensor {
	return floatUnary("tensor.LeakyReLU", OpLeakyReLU, x, slope, 0)
}

// GELU returns the Gaussian error linear unit x·Φ(x) in its exact form,
// 0.5·x·(1 + erf(x/√2)), as PyTorch's F.gelu by default.
func GELU(x *Tensor) *Tensor { return floatUnary("tensor.GELU", OpGELUErf, x, 0, 0) }

// GELUTanh returns the tanh approximation of the Gaussian error linear
// unit, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as PyTorch's
// F.gelu(x, approximate="tanh").
func GELUTanh(x *Tensor) *Tensor { return floatUnary("tensor.GELUTanh", OpGELUTanh, x, 0, 0) }

// PowScalar returns xᵖ.
func PowScalar(x *Tensor, p float64) *Tensor {
	return floatUnary("tensor.PowScalar", OpPowScalar, x, p, 0)
}

// Clamp limits x to [lo, hi] (use ±Inf for one side).
func Clamp(x *Tensor, lo, hi float64) *Tensor {
	if lo > hi {
		fail("tensor.Clamp", "lo %g > hi %g", lo, hi)
	}
	return numericUnary("tensor.Clamp", OpClamp, x, lo, hi)
}

// Floor rounds down.
func Floor(x *Tensor) *Tensor { return numericUnary("tensor.Floor", OpFloor, x, 0, 0) }

// Ceil rounds up.
func Ceil(x *Tensor) *Tensor { return numericUnary("tensor.Ceil", OpCeil, x, 0, 0) }

// Round rounds half to even.
func Round(x *Tensor) *Tensor { return numericUnary("tensor.Round", OpRound, x, 0, 0) }

// LogicalNot returns !x as Bool.
func LogicalNot(x *Tensor) *Tensor { return unaryOp("tensor.LogicalNot", OpNot, x.Cast(Bool), 0, 0) }
