package tensor

import (
	"math"
)

// runMap runs kernel k over an inner run of len n for output w and inputs rs,
// in blocks when any operand needs a scratch buffer.
func chunked(n int, direct bool, f func(i, m int)) {
	step := n
	if !direct {
		step = block
	}
	for i := 0; i < n; i += step {
		f(i, min(step, n-i))
	}
}

// denseIn reports whether v lays out shape densely in row-major order from
// its offset (size-1 axes may have any stride), so that element i of the
// iteration is at v.Offset+i.
func denseIn(shape []int, v View) bool {
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && v.Strides[i] != acc {
			return false
		}
		acc *= shape[i]
	}
	return true
}

// flat returns the n elements of a dense view as a slice of its storage
// when the storage holds T, for the single-call fast paths below.
func flat[T computeT](v View, n int) ([]T, bool) {
	return direct[T](v.Storage.(*cpuStorage), v.Offset, 1, n)
}

// smallFlat reports whether an elementwise op over shape runs as one call
// of its kernel: dense operands (checked by the caller) and too little work
// for a second goroutine. Such an op plans no loop and allocates nothing.
func smallFlat(shape []int, cost int) (int, bool) {
	n := Shape(shape).NumElements()
	return n, n > 0 && workers(n, cost) == 1
}

func mapUnary[D, T computeT](cost int, dst, x View, k func(d []D, x []T)) {
	if n, ok := smallFlat(dst.Shape, cost); ok && denseIn(dst.Shape, dst) && denseIn(dst.Shape, x) {
		d, okd := flat[D](dst, n)
		xs, okx := flat[T](x, n)
		if okd && okx {
			k(d, xs)
			return
		}
	}
	l := makeLoop(dst.Shape, dst, x)
	s0, s1 := l.inner(0), l.inner(1)
	l.run(cost, func() func([]int, int) {
		w, r := newWriter[D](dst, s0), newReader[T](x, s1)
		dir := w.isDirect() && r.isDirect()
		return func(offs []int, n int) {
			chunked(n, dir, func(i, m int) {
				d := w.get(offs[0]+i*s0, m)
				k(d, r.get(offs[1]+i*s1, m))
				w.put(offs[0]+i*s0, d)
			})
		}
	})
}

func mapBinary[D, T computeT](cost int, dst, a, b View, k func(d []D, a, b []T)) {
	if n, ok := smallFlat(dst.Shape, cost); ok && denseIn(dst.Shape, dst) && denseIn(dst.Shape, a) && denseIn(dst.Shape, b) {
		d, okd := flat[D](dst, n)
		as, oka := flat[T](a, n)
		bs, okb := flat[T](b, n)
		if okd && oka && okb {
			k(d, as, bs)
			return
		}
	}
	l := makeLoop(dst.Shape, dst, a, b)
	s0, s1, s2 := l.inner(0), l.inner(1), l.inner(2)
	l.run(cost, func() func([]int, int) {
		w, ra, rb := newWriter[D](dst, s0), newReader[T](a, s1), newReader[T](b, s2)
		dir := w.isDirect() && ra.isDirect() && rb.isDirect()
		return func(offs []int, n int) {
			chunked(n, dir, func(i, m int) {
				d := w.get(offs[0]+i*s0, m)
				k(d, ra.get(offs[1]+i*s1, m), rb.get(offs[2]+i*s2, m))
				w.put(offs[0]+i*s0, d)
			})
		}
	})
}

func mapWhere[T computeT](dst, c, a, b View) {
	l := makeLoop(dst.Shape, dst, c, a, b)
	s0, s1, s2, s3 := l.inner(0), l.inner(1), l.inner(2), l.inner(3)
	l.run(1, func() func([]int, int) {
		w, rc, ra, rb := newWriter[T](dst, s0), newReader[bool](c, s1), newReader[T](a, s2), newReader[T](b, s3)
		dir := w.isDirect() && rc.isDirect() && ra.isDirect() && rb.isDirect()
		return func(offs []int, n int) {
			chunked(n, dir, func(i, m int) {
				d := w.get(offs[0]+i*s0, m)
				cc, aa, bb := rc.get(offs[1]+i*s1, m), ra.get(offs[2]+i*s2, m), rb.get(offs[3]+i*s3, m)
				for j := range d {
					if cc[j] {
						d[j] = aa[j]
					} else {
						d[j] = bb[j]
					}
				}
				w.put(offs[0]+i*s0, d)
			})
		}
	})
}

func isFloatT[T number]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

// unaryKernel returns the slice kernel for op in compute type T.
func unaryKernel[T number](op UnaryOp, p0, p1 float64) (func(d, x []T), int) {
	f64 := func(f func(float64) float64) func(d, x []T) {
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = T(f(float64(v)))
			}
		}
	}
	switch op {
	case OpNeg:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = -v
			}
		}, 1
	case OpAbs:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				if v < 0 {
					v = -v
				}
				d[i] = v
			}
		}, 1
	case OpSign:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				switch {
				case v > 0:
					d[i] = 1
				case v < 0:
					d[i] = 0 - 1
				default:
					d[i] = v // keeps 0 and NaN
				}
			}
		}, 1
	case OpSquare:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = v * v
			}
		}, 1
	case OpReLU:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				if !(v > 0) {
					v = 0
				}
				d[i] = v
			}
		}, 1
	case OpStep:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				if v > 0 {
					d[i] = 1
				} else {
					d[i] = 0
				}
			}
		}, 1
	case OpLeakyReLU:
		s := T(p0)
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				if v < 0 {
					v *= s
				}
				d[i] = v
			}
		}, 1
	case OpAffine:
		a, b := T(p0), T(p1)
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = a*v + b
			}
		}, 1
	case OpClamp:
		lo, hi := saturate[T](p0), saturate[T](p1)
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = min(max(v, lo), hi)
			}
		}, 1
	case OpRecip:
		return func(d, x []T) {
			x = x[:len(d)]
			for i, v := range x {
				d[i] = 1 / v
			}
		}, 2
	case OpSqrt:
		return f64(math.Sqrt), 4
	case OpRsqrt:
		return f64(func(v float64) float64 { return 1 / math.Sqrt(v) }), 4
	case OpExp:
		return f64(expAccurate), 8
	case OpLog:
		return f64(math.Log), 8
	case OpLog1p:
		return f64(math.Log1p), 8
	case OpSin:
		return f64(math.Sin), 8
	case OpCos:
		return f64(math.Cos), 8
	case OpTanh:
		return f64(math.Tanh), 8
	case OpErf:
		return f64(math.Erf), 8
	case OpFloor:
		return f64(math.Floor), 1
	case OpCeil:
		return f64(math.Ceil), 1
	case OpRound:
		return f64(math.RoundToEven), 1
	case OpSigmoid:
		return f64(sigmoid), 8
	case OpGELUTanh:
		return f64(geluTanh), 10
	case OpGELUErf:
		return f64(func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }), 10
	case OpPowScalar:
		switch p0 {
		case 2:
			return unaryKernel[T](OpSquare, 0, 0)
		case 1:
			return func(d, x []T) { copy(d, x) }, 1
		case 0.5:
			return f64(math.Sqrt), 4
		}
		return f64(func(v float64) float64 { return math.Pow(v, p0) }), 10
	}
	panic(Errorf("tensor", "unary op %d has no CPU kernel for %T", op, *new(T)))
}

// saturate converts a bound to T, clamping it to T's range first when T is an
// integer type (so ±Inf bounds work; Go leaves such conversions undefined).
func saturate[T number](v float64) T {
	switch any(T(0)).(type) {
	case int32:
		return T(int32(max(min(v, math.MaxInt32), math.MinInt32)))
	case int64:
		i := int64(math.MaxInt64)
		switch {
		case v <= -0x1p63:
			i = math.MinInt64
		case v < 0x1p63:
			i = int64(v)
		}
		return T(i)
	}
	return T(v)
}

func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

func geluTanh(v float64) float64 {
	const c = 0.7978845608028654 // sqrt(2/pi)
	return 0.5 * v * (1 + math.Tanh(c*(v+0.044715*v*v*v)))
}

func binaryKernel[T number](op BinaryOp) func(d, a, b []T) {
	switch op {
	case OpAdd:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = a[i] + b[i]
			}
		}
	case OpSub:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = a[i] - b[i]
			}
		}
	case OpMul:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = a[i] * b[i]
			}
		}
	case OpDiv:
		if !isFloatT[T]() {
			return func(d, a, b []T) {
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					if b[i] == 0 {
						panic(&Error{Op: "tensor.Div", Msg: "integer division by zero"})
					}
					d[i] = a[i] / b[i]
				}
			}
		}
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = a[i] / b[i]
			}
		}
	case OpMaximum:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				x, y := a[i], b[i]
				if x != x || x > y { // NaN propagates
					d[i] = x
				} else {
					d[i] = y
				}
			}
		}
	case OpMinimum:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				x, y := a[i], b[i]
				if x != x || x < y {
					d[i] = x
				} else {
					d[i] = y
				}
			}
		}
	case OpPow:
		return func(d, a, b []T) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = T(math.Pow(float64(a[i]), float64(b[i])))
			}
		}
	}
	panic(Errorf("tensor", "binary op %d has no CPU kernel", op))
}

func compareKernel[T number](op BinaryOp) func(d []bool, a, b []T) {
	var f func(x, y T) bool
	switch op {
	case OpEq:
		f = func(x, y T) bool { return x == y }
	case OpNe:
		f = func(x, y T) bool { return x != y }
	case OpLt:
		f = func(x, y T) bool { return x < y }
	case OpLe:
		f = func(x, y T) bool { return x <= y }
	case OpGt:
		f = func(x, y T) bool { return x > y }
	case OpGe:
		f = func(x, y T) bool { return x >= y }
	default:
		panic(Errorf("tensor", "op %d is not a comparison", op))
	}
	return func(d []bool, a, b []T) {
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = f(a[i], b[i])
		}
	}
}

func logicalKernel(op BinaryOp) func(d, a, b []bool) {
	switch op {
	case OpAnd:
		return func(d, a, b []bool) {
			for i := range d {
				d[i] = a[i] && b[i]
			}
		}
	case OpOr:
		return func(d, a, b []bool) {
			for i := range d {
				d[i] = a[i] || b[i]
			}
		}
	case OpXor:
		return func(d, a, b []bool) {
			for i := range d {
				d[i] = a[i] != b[i]
			}
		}
	case OpEq:
		return func(d, a, b []bool) {
			for i := range d {
				d[i] = a[i] == b[i]
			}
		}
	case OpNe:
		return func(d, a, b []bool) {
			for i := range d {
				d[i] = a[i] != b[i]
			}
		}
	}
	panic(Errorf("tensor", "binary op %d has no CPU kernel for bool", op))
}

func unaryTyped[T number](op UnaryOp, dst, x View, p0, p1 float64) {
	var z T
	if _, ok := any(z).(float32); ok {
		if op == OpAffine && affineDense32(dst, x, p0, p1) {
			return
		}
		if k, cost := fastFloat32Kernel(op, p0, p1); k != nil {
			mapUnary(cost, dst, x, k)
			return
		}
	}
	k, cost := unaryKernel[T](op, p0, p1)
	mapUnary(cost, dst, x, k)
}

// affineDense32 runs the float32 affine kernel of fastFloat32Kernel on small
// dense views without building its closure, and reports whether it did.
func affineDense32(dst, x View, p0, p1 float64) bool {
	n, ok := smallFlat(dst.Shape, 1)
	if !ok || !denseIn(dst.Shape, dst) || !denseIn(dst.Shape, x) {
		return false
	}
	d, okd := flat[float32](dst, n)
	xs, okx := flat[float32](x, n)
	if !okd || !okx {
		return false
	}
	affineF32(d, xs, float32(p0), float32(p1))
	return true
}

func binaryTyped[T number](op BinaryOp, dst, a, b View) {
	switch {
	case op.isCompare():
		mapBinary(1, dst, a, b, compareKernel[T](op))
	case op.isLogical():
		panic(Errorf("tensor", "logical op %d on %v", op, a.DType()))
	default:
		mapBinary(1, dst, a, b, binaryKernel[T](op))
	}
}

// expAccurate is math.Exp with the right overflow threshold: Go's assembly
// Exp (amd64) returns +Inf for x in (709.436, 709.783], where e^x is finite.
func expAccurate(x float64) float64 {
	if x > 709 && x < 710 {
		return math.Exp(x-1) * math.E
	}
	return math.Exp(x)
}
