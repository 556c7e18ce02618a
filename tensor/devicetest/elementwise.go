package devicetest

import (
	"fmt"
	"math"
	"math/big"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// testShapes are the logical shapes most elementwise checks run on: a 0-d
// scalar, a zero-size tensor, a vector and a 3-D block.
var testShapes = [][]int{{}, {0, 3}, {3, 0, 2}, {13}, {4, 5, 6}}

func testStorage(e *env) {
	for _, dt := range allDTypes {
		for _, n := range []int{0, 1, 37} {
			st, err := e.dev.Alloc(dt, n)
			require.NoError(e.t, err, "Alloc(%v, %d)", dt, n)
			assert.Equal(e.t, n, st.Len())
			assert.Equal(e.t, dt, st.DType())
			assert.Equal(e.t, e.dev, st.Device())
			got := e.download(st)
			for i, v := range got {
				if v != 0 {
					e.t.Errorf("Alloc(%v, %d): element %d is %v, want 0", dt, n, i, v)
					break
				}
			}
		}
		// FromHost then ToHost returns the same elements, bit for bit.
		vals := make([]float64, 29)
		gen := e.defaultGen(dt)
		for i := range vals {
			vals[i] = quantize(dt, gen())
		}
		if dt.IsFloat() {
			vals[3], vals[4], vals[5] = math.Inf(1), math.Inf(-1), math.NaN()
		}
		host := hostStorage(dt, vals)
		ds, err := e.dev.FromHost(host)
		require.NoError(e.t, err)
		assert.Equal(e.t, e.dev, ds.Device())
		assert.Equal(e.t, dt, ds.DType())
		assert.Equal(e.t, len(vals), ds.Len())
		hs, err := e.dev.ToHost(ds)
		require.NoError(e.t, err)
		assert.Equal(e.t, tensor.CPU, hs.Device())
		assert.Equal(e.t, dt, hs.DType())
		got := decodeHost(hs)
		for i := range vals {
			if !sameValue(got[i], vals[i]) {
				e.t.Errorf("%v: FromHost/ToHost element %d: got %v, want %v", dt, i, got[i], vals[i])
			}
		}
		// The device copy is independent of the host storage it came from.
		before := decodeHost(host)
		d := operand{buf: &buffer{dt: dt, vals: vals, st: ds}, shape: []int{len(vals)}, strides: []int{1}}
		e.dev.Fill(d.view(), 1)
		assert.Equal(e.t, fmt.Sprint(before), fmt.Sprint(decodeHost(host)), "%v: Fill on the device changed the host storage", dt)
	}
	_, err := e.dev.Alloc(tensor.Float32, -1)
	assert.Error(e.t, err, "Alloc of a negative size must fail")
	assert.NotEmpty(e.t, e.dev.Name())
}

func testFill(e *env) {
	for _, dt := range allDTypes {
		values := []float64{1.0 / 3, -2.5, math.Inf(-1), math.NaN(), 1 + 0x1p-8 + 0x1p-30, 1 + 0x1p-11 + 0x1p-40, 1e5}
		switch {
		case dt.IsInt():
			values = []float64{-7, 12}
		case dt == tensor.Bool:
			values = []float64{1, 0}
		}
		for _, shape := range testShapes {
			for _, l := range dstLayouts {
				for _, v := range values {
					dst := e.newOperand(dt, shape, l, e.defaultGen(dt))
					e.dev.Fill(dst.view(), v)
					want := make([]float64, numel(shape))
					for i := range want {
						want[i] = quantize(dt, v)
					}
					e.checkDst(fmt.Sprintf("Fill(%v) %v %v %v", v, dt, shapeName(shape), l), dst, want, exact)
				}
			}
		}
	}
}

// copyGen returns source values for Copy from src: floats in ±[0.1, 100)
// (so every float dtype holds them and integer truncation is defined),
// integers in [-100, 100] and bools.
func (e *env) copyGen(src tensor.DType) func() float64 {
	switch {
	case src.IsFloat():
		return e.magnitude(0.1, 100)
	case src == tensor.Bool:
		return e.bools()
	}
	return e.ints(-100, 100, true)
}

func testCopy(e *env) {
	type combo struct {
		shape    []int
		src, dst layout
	}
	var combos []combo
	for _, l := range inputLayouts {
		combos = append(combos, combo{[]int{3, 4, 5}, l, contiguous})
	}
	for _, l := range dstLayouts[1:] {
		combos = append(combos, combo{[]int{3, 4, 5}, stepped, l})
	}
	combos = append(combos,
		combo{[]int{}, contiguous, contiguous}, combo{[]int{}, offsetL, stepped},
		combo{[]int{0, 4}, permuted, contiguous}, combo{[]int{2, 0, 3}, contiguous, stepped},
		combo{[]int{1, 7, 1}, broadcastTail, permuted},
		combo{[]int{80, 70}, permuted, contiguous}, // large transposes
		combo{[]int{70, 80}, permuted, offsetL},
		combo{[]int{64, 66}, contiguous, permuted},
	)
	for _, sdt := range allDTypes {
		for _, ddt := range allDTypes {
			for _, c := range combos {
				src := e.newOperand(sdt, c.shape, c.src, e.copyGen(sdt))
				dst := e.newOperand(ddt, c.shape, c.dst, e.defaultGen(ddt))
				e.dev.Copy(dst.view(), src.view())
				want := src.values()
				for i, v := range want {
					want[i] = quantize(ddt, v)
				}
				e.checkDst(fmt.Sprintf("Copy %v(%v) -> %v(%v) %v", sdt, c.src, ddt, c.dst, shapeName(c.shape)), dst, want, exact)
			}
		}
		// in place: a copy onto itself changes nothing
		x := e.newOperand(sdt, []int{4, 5}, stepped, e.copyGen(sdt))
		e.dev.Copy(x.view(), x.view())
		e.checkDst(fmt.Sprintf("Copy %v in place", sdt), x, x.values(), exact)
	}
}

// testCopyRounding checks conversions that round: ties, values just off a
// tie (where rounding twice, through float32, goes wrong), the largest
// finite values, overflow, subnormals, signed zeros, infinities and NaN.
func testCopyRounding(e *env) {
	const (
		p8  = 0x1p-8
		p11 = 0x1p-11
	)
	f64 := []float64{
		1.0 / 3, -1.0 / 3, 0.1, 65504, 65519, 65519.99, 65520, -65520, 1e5,
		1 + p11, 1 + 3*p11, 1 + p11 + 0x1p-40, 1 + p11 - 0x1p-40, // half ties and near-ties
		1 + p8, 1 + 3*p8, 1 + p8 + 0x1p-30, 1 + p8 - 0x1p-30, // bfloat16 ties and near-ties
		1 + 0x1p-24, 1 + 0x1p-24 + 0x1p-50, 1 + 3*0x1p-24, // float32 ties
		0x1p-14, 0x1p-24, 0x1p-25, 1.5 * 0x1p-25, 0x1p-26, 0x1.ffcp-15, 6e-8, 5.96e-8, 3e-5,
		0x1p-126, 0x1p-133, 0x1p-149, 0x1p-150, 1e-40, 1e-45,
		3.3895313892515355e38, 3.4e38, 3.41e38, 1e39, math.MaxFloat32,
		math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
	}
	ints := []float64{
		2049, 2051, 2053, 4097, 65504, 65519, 65520, -65520, 100000,
		1 << 24, 1<<24 + 1, 1<<24 + 3, 1<<24 + 1<<16, 1<<24 + 1<<16 + 1, 1<<24 + 3<<16, 1<<24 + 3<<16 - 1,
		-(1<<24 + 1<<16 + 1), 1<<31 - 1, -1 << 31,
	}
	ints64 := append(append([]float64{}, ints...), 1<<53+1, 1<<53+2, -(1<<53 + 6), 1<<62+1<<38+1)
	bitEq := func(_ int, got, want float64) bool {
		return sameValue(got, want) && math.Signbit(got) == math.Signbit(want)
	}
	cases := []struct {
		src  tensor.DType
		vals []float64
	}{
		{tensor.Float64, f64},
		{tensor.Float32, f64},
		{tensor.Int32, ints},
		{tensor.Int64, ints64},
		{tensor.BFloat16, f64},
		{tensor.Float16, f64},
	}
	for _, c := range cases {
		vals := make([]float64, len(c.vals))
		for i, v := range c.vals {
			vals[i] = quantize(c.src, v)
		}
		src := operand{buf: e.upload(c.src, vals), shape: []int{len(vals)}, strides: []int{1}}
		for _, ddt := range floatDTypes {
			if ddt == c.src {
				continue
			}
			dst := e.newOperand(ddt, []int{len(vals)}, contiguous, e.defaultGen(ddt))
			e.dev.Copy(dst.view(), src.view())
			want := make([]float64, len(vals))
			for i, v := range vals {
				want[i] = quantize(ddt, v)
			}
			e.checkDst(fmt.Sprintf("Copy %v -> %v rounding", c.src, ddt), dst, want, bitEq)
		}
	}
	// int64 values beyond 2^53, which float64 cannot hold: the reference
	// rounds the exact integer with math/big.
	big64 := []int64{1<<53 + 1, 1<<62 + 1<<38 + 1, -(1<<62 + 1<<38 + 1), 1<<62 + 1<<54 + 1, 1<<62 + 1<<54, 1<<62 + 3<<54, math.MaxInt64, math.MinInt64}
	srcBig := tensor.FromSlice(big64).To(e.dev)
	for _, ddt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float64} {
		prec := map[tensor.DType]uint{tensor.Float32: 24, tensor.BFloat16: 8, tensor.Float64: 53}[ddt]
		dst := e.newOperand(ddt, []int{len(big64)}, contiguous, e.defaultGen(ddt))
		e.dev.Copy(dst.view(), srcBig.View())
		want := make([]float64, len(big64))
		for i, v := range big64 {
			want[i], _ = new(big.Float).SetPrec(prec).SetMode(big.ToNearestEven).SetInt64(v).Float64()
		}
		e.checkDst(fmt.Sprintf("Copy large int64 -> %v rounding", ddt), dst, want, bitEq)
	}

	// Known bit patterns (independent of the reference rounding above).
	known := []struct {
		dt   tensor.DType
		v    float64
		bits uint16
	}{
		{tensor.Float16, 65504, 0x7bff}, {tensor.Float16, 1.0 / 3, 0x3555}, {tensor.Float16, 65520, 0x7c00},
		{tensor.Float16, 0x1p-24, 0x0001}, {tensor.Float16, 0x1p-25, 0x0000}, {tensor.Float16, 1.5 * 0x1p-25, 0x0001},
		{tensor.Float16, 1 + p11 + 0x1p-40, 0x3c01}, {tensor.Float16, -2, 0xc000}, {tensor.Float16, 0x1p-14, 0x0400},
		{tensor.BFloat16, 1 + p8, 0x3f80}, {tensor.BFloat16, 1 + 3*p8, 0x3f82}, {tensor.BFloat16, 1 + p8 + 0x1p-30, 0x3f81},
		{tensor.BFloat16, 1.0 / 3, 0x3eab}, {tensor.BFloat16, 1e39, 0x7f80}, {tensor.BFloat16, -1, 0xbf80},
	}
	for _, k := range known {
		src := operand{buf: e.upload(tensor.Float64, []float64{k.v}), shape: []int{}, strides: []int{}}
		dst := e.newOperand(k.dt, []int{}, contiguous, e.defaultGen(k.dt))
		e.dev.Copy(dst.view(), src.view())
		got := e.download(dst.buf.st)[0]
		want := f16Value(k.bits)
		if k.dt == tensor.BFloat16 {
			want = bf16Value(k.bits)
		}
		assert.True(e.t, bitEq(0, got, want), "Copy float64 %v -> %v: got %v, want %v (bits %#04x)", k.v, k.dt, got, want, k.bits)
	}
}

// largeShape has enough elements (69000) for the CPU to split even the
// cheapest elementwise kernels across goroutines; the ops in largeUnary and
// largeBinary also run at that size.
var (
	largeShape  = []int{300, 230}
	largeUnary  = map[tensor.UnaryOp]bool{tensor.OpNeg: true, tensor.OpExp: true, tensor.OpSigmoid: true, tensor.OpTanh: true}
	largeBinary = map[tensor.BinaryOp]bool{tensor.OpAdd: true, tensor.OpDiv: true, tensor.OpGt: true, tensor.OpAnd: true}
)

// unaryCase describes one UnaryOp and its reference.
type unaryCase struct {
	op     tensor.UnaryOp
	name   string
	p0, p1 float64
	gen    func(e *env) func() float64 // inputs for float dtypes (nil: ±[0.1, 4))
	ref    func(x, p0, p1 float64) float64
	exact  bool // no rounding: the result is exactly representable
	ints   bool // defined on integer dtypes too
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

func sigmoidRef(x float64) float64 {
	if x < 0 {
		e := math.Exp(x)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(-x))
}

var unaryCases = []unaryCase{
	{op: tensor.OpNeg, name: "Neg", ref: func(x, _, _ float64) float64 { return -x }, exact: true, ints: true},
	{op: tensor.OpAbs, name: "Abs", ref: func(x, _, _ float64) float64 { return math.Abs(x) }, exact: true, ints: true},
	{op: tensor.OpSign, name: "Sign", ref: func(x, _, _ float64) float64 { return sign(x) }, exact: true, ints: true},
	{op: tensor.OpExp, name: "Exp", ref: func(x, _, _ float64) float64 { return expRef(x) }},
	{op: tensor.OpLog, name: "Log", gen: pos, ref: func(x, _, _ float64) float64 { return math.Log(x) }},
	{op: tensor.OpLog1p, name: "Log1p", gen: func(e *env) func() float64 { return e.uniform(-0.9, 5) },
		ref: func(x, _, _ float64) float64 { return math.Log1p(x) }},
	{op: tensor.OpSqrt, name: "Sqrt", gen: pos, ref: func(x, _, _ float64) float64 { return math.Sqrt(x) }},
	{op: tensor.OpRsqrt, name: "Rsqrt", gen: pos, ref: func(x, _, _ float64) float64 { return 1 / math.Sqrt(x) }},
	{op: tensor.OpSin, name: "Sin", ref: func(x, _, _ float64) float64 { return math.Sin(x) }},
	{op: tensor.OpCos, name: "Cos", ref: func(x, _, _ float64) float64 { return math.Cos(x) }},
	{op: tensor.OpTanh, name: "Tanh", ref: func(x, _, _ float64) float64 { return math.Tanh(x) }},
	{op: tensor.OpSigmoid, name: "Sigmoid", gen: wide, ref: func(x, _, _ float64) float64 { return sigmoidRef(x) }},
	{op: tensor.OpReLU, name: "ReLU", ref: func(x, _, _ float64) float64 { return math.Max(x, 0) }, exact: true, ints: true},
	{op: tensor.OpGELUTanh, name: "GELUTanh", ref: func(x, _, _ float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}},
	{op: tensor.OpGELUErf, name: "GELUErf", ref: func(x, _, _ float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }},
	{op: tensor.OpPowScalar, name: "Pow3", p0: 3, ref: func(x, p, _ float64) float64 { return math.Pow(x, p) }},
	{op: tensor.OpPowScalar, name: "Pow2", p0: 2, ref: func(x, p, _ float64) float64 { return math.Pow(x, p) }},
	{op: tensor.OpPowScalar, name: "Pow1", p0: 1, ref: func(x, p, _ float64) float64 { return x }, exact: true},
	{op: tensor.OpPowScalar, name: "Pow0.5", p0: 0.5, gen: pos, ref: func(x, p, _ float64) float64 { return math.Pow(x, p) }},
	{op: tensor.OpPowScalar, name: "Pow-1.5", p0: -1.5, gen: pos, ref: func(x, p, _ float64) float64 { return math.Pow(x, p) }},
	{op: tensor.OpClamp, name: "Clamp", p0: -1.5, p1: 2.25, ref: func(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) },
		exact: true},
	{op: tensor.OpClamp, name: "ClampInt", p0: -20, p1: 30, ref: func(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) },
		exact: true, ints: true},
	{op: tensor.OpClamp, name: "ClampBelow", p0: math.Inf(-1), p1: 1, ref: func(x, lo, hi float64) float64 { return math.Min(x, hi) },
		exact: true, ints: true},
	{op: tensor.OpClamp, name: "ClampAbove", p0: -1, p1: math.Inf(1), ref: func(x, lo, hi float64) float64 { return math.Max(x, lo) },
		exact: true, ints: true},
	{op: tensor.OpSquare, name: "Square", ref: func(x, _, _ float64) float64 { return x * x }, ints: true},
	{op: tensor.OpRecip, name: "Recip", ref: func(x, _, _ float64) float64 { return 1 / x }},
	{op: tensor.OpAffine, name: "Affine", p0: -1.75, p1: 0.625, ref: func(x, a, b float64) float64 { return a*x + b }},
	{op: tensor.OpAffine, name: "AffineInt", p0: 3, p1: -7, ref: func(x, a, b float64) float64 { return a*x + b }, ints: true},
	{op: tensor.OpFloor, name: "Floor", gen: wide, ref: func(x, _, _ float64) float64 { return math.Floor(x) }, exact: true, ints: true},
	{op: tensor.OpCeil, name: "Ceil", gen: wide, ref: func(x, _, _ float64) float64 { return math.Ceil(x) }, exact: true, ints: true},
	{op: tensor.OpRound, name: "Round", gen: halves, ref: func(x, _, _ float64) float64 { return math.RoundToEven(x) }, exact: true, ints: true},
	{op: tensor.OpErf, name: "Erf", ref: func(x, _, _ float64) float64 { return math.Erf(x) }},
	{op: tensor.OpLeakyReLU, name: "LeakyReLU", p0: 0.125, ref: func(x, s, _ float64) float64 {
		if x < 0 {
			return s * x
		}
		return x
	}},
	{op: tensor.OpStep, name: "Step", ref: func(x, _, _ float64) float64 {
		if x > 0 {
			return 1
		}
		return 0
	}, exact: true, ints: true},
}

// expRef is e^x in float64. Go's math.Exp on amd64 returns +Inf for x in
// (1023.5·ln 2, ln(MaxFloat64)] ≈ (709.437, 709.783], where e^x is still
// finite; there it is computed as e^(x-1)·e (two roundings, within the
// tolerance), so a device that returns the finite value is not failed.
func expRef(x float64) float64 {
	if x > 709 && x < 710 {
		return math.Exp(x-1) * math.E
	}
	return math.Exp(x)
}

func pos(e *env) func() float64    { return e.uniform(0.05, 10) }
func wide(e *env) func() float64   { return e.magnitude(0.01, 20) }
func halves(e *env) func() float64 { return func() float64 { return float64(e.rng.IntN(41)-20) / 2 } }

// condUnary is |x·f'(x)| by a central difference, the conditioning of f at x.
func condUnary(f func(float64) float64, x float64) float64 {
	h := 1e-6 * math.Abs(x)
	if h == 0 {
		h = 1e-9
	}
	return math.Abs((f(x+h)-f(x-h))/(2*h)) * math.Abs(x)
}

// tiny is an absolute error allowance of a few subnormal units of dt.
func tiny(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float32:
		return 0x1p-147
	case tensor.Float16:
		return 0x1p-22
	case tensor.BFloat16:
		return 0x1p-131
	}
	return 0x1p-1070
}

func (e *env) unaryRun(c unaryCase, dt tensor.DType, what string, x, dst operand) {
	e.t.Helper()
	xs := x.values()
	e.dev.Unary(c.op, dst.view(), x.view(), c.p0, c.p1)
	want := make([]float64, len(xs))
	cond := make([]float64, len(xs))
	for i, v := range xs {
		want[i] = quantize(dt, c.ref(v, c.p0, c.p1))
		if dt.IsFloat() && !c.exact {
			cond[i] = condUnary(func(v float64) float64 { return c.ref(v, c.p0, c.p1) }, v) + tiny(dt)/rel(dt)
		}
	}
	check := checker(dt, cond)
	if c.exact {
		check = exact
	}
	e.checkDst(what, dst, want, check)
}

func testUnary(e *env) {
	for _, c := range unaryCases {
		dts := floatDTypes
		if c.ints {
			dts = append(append([]tensor.DType{}, floatDTypes...), intDTypes...)
		}
		for _, dt := range dts {
			gen := e.magnitude(0.1, 4)
			switch {
			case dt.IsInt():
				gen = e.ints(-40, 40, true)
			case c.gen != nil:
				gen = c.gen(e)
			}
			name := fmt.Sprintf("%s %v", c.name, dt)
			for _, l := range inputLayouts {
				x := e.newOperand(dt, []int{4, 5, 6}, l, gen)
				dst := e.newOperand(dt, []int{4, 5, 6}, contiguous, gen)
				e.unaryRun(c, dt, name+" x "+l.String(), x, dst)
			}
			for _, l := range dstLayouts[1:] {
				x := e.newOperand(dt, []int{4, 5, 6}, contiguous, gen)
				dst := e.newOperand(dt, []int{4, 5, 6}, l, gen)
				e.unaryRun(c, dt, name+" dst "+l.String(), x, dst)
			}
			for _, shape := range [][]int{{}, {0, 3}, {2, 0}, {37}} {
				x := e.newOperand(dt, shape, offsetL, gen)
				dst := e.newOperand(dt, shape, stepped, gen)
				e.unaryRun(c, dt, name+" "+shapeName(shape), x, dst)
			}
			for _, l := range []layout{contiguous, stepped} {
				x := e.newOperand(dt, []int{3, 7}, l, gen)
				e.unaryRun(c, dt, name+" in place "+l.String(), x, x.same())
			}
			if largeUnary[c.op] && (dt == tensor.Float32 || dt == tensor.BFloat16 || dt == tensor.Int64) {
				// large enough to be split across goroutines
				x := e.newOperand(dt, largeShape, contiguous, gen)
				dst := e.newOperand(dt, largeShape, contiguous, gen)
				e.unaryRun(c, dt, name+" large", x, dst)
				x = e.newOperand(dt, []int{largeShape[1], largeShape[0]}, permuted, gen)
				e.unaryRun(c, dt, name+" large in place", x, x.same())
			}
		}
	}
	// OpNot on bool
	for _, l := range inputLayouts {
		x := e.newOperand(tensor.Bool, []int{4, 5, 6}, l, e.bools())
		dst := e.newOperand(tensor.Bool, []int{4, 5, 6}, stepped, e.bools())
		e.dev.Unary(tensor.OpNot, dst.view(), x.view(), 0, 0)
		want := x.values()
		for i, v := range want {
			want[i] = 1 - v
		}
		e.checkDst("Not "+l.String(), dst, want, exact)
	}
	x := e.newOperand(tensor.Bool, []int{7, 3}, permuted, e.bools())
	want := x.values()
	for i, v := range want {
		want[i] = 1 - v
	}
	e.dev.Unary(tensor.OpNot, x.view(), x.view(), 0, 0)
	e.checkDst("Not in place", x, want, exact)
}

// testUnarySpecial covers infinities, NaN, zeros and the extremes of each
// float dtype's range, where fast approximations tend to go wrong.
func testUnarySpecial(e *env) {
	inf, nan := math.Inf(1), math.NaN()
	special := []float64{inf, -inf, nan, 0, math.Copysign(0, -1), 1e-30, -1e-30, 30, -30, 100, -100, 1e4, -1e4, 1e30, -1e30}
	for _, dt := range floatDTypes {
		for _, c := range unaryCases {
			switch c.op {
			case tensor.OpSign, tensor.OpReLU, tensor.OpStep, tensor.OpFloor, tensor.OpCeil, tensor.OpRound, tensor.OpSin, tensor.OpCos:
				// NaN and ±0 conventions of these are not pinned down; Sin/Cos of huge arguments neither.
				continue
			}
			vals := make([]float64, 0, len(special))
			for _, v := range special {
				v = quantize(dt, v)
				if math.IsInf(v, 0) && (c.op == tensor.OpGELUTanh || c.op == tensor.OpGELUErf) ||
					math.IsInf(v, -1) && c.op == tensor.OpPowScalar && c.p0 == 0.5 {
					continue // ∞·0 in the formula; pow(-∞, 0.5) is +∞ by C's pow but NaN by sqrt
				}
				vals = append(vals, v)
			}
			x := operand{buf: e.upload(dt, vals), shape: []int{len(vals)}, strides: []int{1}}
			dst := e.newOperand(dt, []int{len(vals)}, contiguous, e.defaultGen(dt))
			e.unaryRun(c, dt, fmt.Sprintf("%s %v special values %v", c.name, dt, vals), x, dst)
		}
		// The whole range of Exp, Tanh and Sigmoid, into overflow and underflow.
		for _, c := range unaryCases {
			if c.op != tensor.OpExp && c.op != tensor.OpTanh && c.op != tensor.OpSigmoid && c.op != tensor.OpGELUTanh {
				continue
			}
			lim := map[tensor.DType]float64{tensor.Float32: 110, tensor.Float64: 750, tensor.BFloat16: 110, tensor.Float16: 20}[dt]
			x := e.newOperand(dt, []int{4001}, contiguous, e.uniform(-lim, lim))
			dst := e.newOperand(dt, []int{4001}, contiguous, e.defaultGen(dt))
			e.unaryRun(c, dt, fmt.Sprintf("%s %v over [-%g, %g]", c.name, dt, lim, lim), x, dst)
		}
	}
}

// binaryCase describes one BinaryOp and its reference.
type binaryCase struct {
	op        tensor.BinaryOp
	name      string
	ref       func(a, b float64) float64
	genA      func(e *env, dt tensor.DType) func() float64
	genB      func(e *env, dt tensor.DType) func() float64
	cond      func(a, b, want float64) float64 // nil: exact in every dtype
	cmp       bool                             // writes Bool
	ints      bool                             // defined on integers
	boolsOnly bool                             // logical: Bool operands only
	onBool    bool                             // also defined on Bool operands
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// discrete draws from a small set so that comparisons meet equal operands.
func discrete(e *env, dt tensor.DType) func() float64 {
	if dt.IsFloat() {
		return func() float64 {
			k := e.rng.IntN(16) - 8
			if k >= 0 {
				k++
			}
			return float64(k) / 4
		}
	}
	return e.ints(-3, 3, false)
}

func defGen(e *env, dt tensor.DType) func() float64 {
	if dt.IsInt() {
		return e.ints(-40, 40, true)
	}
	return e.magnitude(0.1, 4)
}

var binaryCases = []binaryCase{
	{op: tensor.OpAdd, name: "Add", ref: func(a, b float64) float64 { return a + b }, ints: true,
		cond: func(a, b, _ float64) float64 { return math.Abs(a) + math.Abs(b) }},
	{op: tensor.OpSub, name: "Sub", ref: func(a, b float64) float64 { return a - b }, ints: true,
		cond: func(a, b, _ float64) float64 { return math.Abs(a) + math.Abs(b) }},
	{op: tensor.OpMul, name: "Mul", ref: func(a, b float64) float64 { return a * b }, ints: true,
		cond: func(_, _, w float64) float64 { return 0 }},
	{op: tensor.OpDiv, name: "Div", ref: func(a, b float64) float64 { return a / b },
		cond: func(_, _, w float64) float64 { return 0 }},
	{op: tensor.OpMaximum, name: "Maximum", ref: math.Max, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpMinimum, name: "Minimum", ref: math.Min, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpPow, name: "Pow", ref: math.Pow,
		genA: func(e *env, _ tensor.DType) func() float64 { return e.uniform(0.5, 3) },
		genB: func(e *env, _ tensor.DType) func() float64 { return e.uniform(-2, 2) },
		cond: func(a, b, w float64) float64 { return math.Abs(w) * (math.Abs(b*math.Log(a)) + 1) }},
	{op: tensor.OpEq, name: "Eq", ref: func(a, b float64) float64 { return b2f(a == b) }, cmp: true, ints: true, onBool: true, genA: discrete, genB: discrete},
	{op: tensor.OpNe, name: "Ne", ref: func(a, b float64) float64 { return b2f(a != b) }, cmp: true, ints: true, onBool: true, genA: discrete, genB: discrete},
	{op: tensor.OpLt, name: "Lt", ref: func(a, b float64) float64 { return b2f(a < b) }, cmp: true, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpLe, name: "Le", ref: func(a, b float64) float64 { return b2f(a <= b) }, cmp: true, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpGt, name: "Gt", ref: func(a, b float64) float64 { return b2f(a > b) }, cmp: true, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpGe, name: "Ge", ref: func(a, b float64) float64 { return b2f(a >= b) }, cmp: true, ints: true, genA: discrete, genB: discrete},
	{op: tensor.OpAnd, name: "And", ref: func(a, b float64) float64 { return b2f(a != 0 && b != 0) }, boolsOnly: true},
	{op: tensor.OpOr, name: "Or", ref: func(a, b float64) float64 { return b2f(a != 0 || b != 0) }, boolsOnly: true},
	{op: tensor.OpXor, name: "Xor", ref: func(a, b float64) float64 { return b2f((a != 0) != (b != 0)) }, boolsOnly: true},
}

// Integer-only references where they differ from the float ones.
var intRefs = map[tensor.BinaryOp]func(a, b float64) float64{
	tensor.OpDiv: func(a, b float64) float64 { return math.Trunc(a / b) },
}

func (e *env) binaryRun(c binaryCase, dt tensor.DType, what string, a, b, dst operand) {
	e.t.Helper()
	av, bv := a.values(), b.values()
	e.dev.Binary(c.op, dst.view(), a.view(), b.view())
	odt := dt
	if c.cmp {
		odt = tensor.Bool
	}
	ref := c.ref
	if r, ok := intRefs[c.op]; ok && dt.IsInt() {
		ref = r
	}
	want := make([]float64, len(av))
	cond := make([]float64, len(av))
	for i := range av {
		w := ref(av[i], bv[i])
		want[i] = quantize(odt, w)
		if c.cond != nil {
			cond[i] = c.cond(av[i], bv[i], w)
		}
	}
	check := exact
	if c.cond != nil {
		check = checker(odt, cond)
	}
	e.checkDst(what, dst, want, check)
}

func testBinary(e *env) {
	type combo struct{ a, b, d layout }
	combos := []combo{
		{contiguous, contiguous, contiguous},
		{permuted, broadcastTail, contiguous},
		{broadcastHead, stepped, stepped},
		{stepped, permuted, permuted},
		{offsetL, broadcastAll, offsetL},
		{broadcastAll, contiguous, contiguous},
		{broadcastTail, broadcastHead, stepped},
	}
	for _, c := range binaryCases {
		var dts []tensor.DType
		switch {
		case c.boolsOnly:
			dts = []tensor.DType{tensor.Bool}
		case c.ints:
			dts = append(append([]tensor.DType{}, floatDTypes...), intDTypes...)
		default:
			dts = floatDTypes
		}
		if c.op == tensor.OpDiv || c.op == tensor.OpPow {
			dts = append(append([]tensor.DType{}, floatDTypes...), intDTypes...)
		}
		if c.onBool {
			dts = append(dts, tensor.Bool)
		}
		for _, dt := range dts {
			ga, gb := defGen(e, dt), defGen(e, dt)
			switch {
			case dt == tensor.Bool:
				ga, gb = e.bools(), e.bools()
			case dt.IsInt() && c.op == tensor.OpPow:
				ga, gb = e.ints(-3, 3, true), e.ints(0, 4, false)
			case dt.IsInt() && c.op == tensor.OpDiv:
				ga, gb = e.ints(-40, 40, true), e.ints(-7, 7, true)
			default:
				if c.genA != nil {
					ga = c.genA(e, dt)
				}
				if c.genB != nil {
					gb = c.genB(e, dt)
				}
			}
			odt := dt
			if c.cmp {
				odt = tensor.Bool
			}
			name := fmt.Sprintf("%s %v", c.name, dt)
			shape := []int{4, 5, 6}
			for _, cb := range combos {
				a := e.newOperand(dt, shape, cb.a, ga)
				b := e.newOperand(dt, shape, cb.b, gb)
				dst := e.newOperand(odt, shape, cb.d, e.defaultGen(odt))
				e.binaryRun(c, dt, fmt.Sprintf("%s a %v b %v dst %v", name, cb.a, cb.b, cb.d), a, b, dst)
			}
			for _, s := range [][]int{{}, {0, 4}, {3, 0}, {1, 9}} {
				a := e.newOperand(dt, s, offsetL, ga)
				b := e.newOperand(dt, s, broadcastHead, gb)
				dst := e.newOperand(odt, s, stepped, e.defaultGen(odt))
				e.binaryRun(c, dt, fmt.Sprintf("%s %v", name, s), a, b, dst)
			}
			if !c.cmp {
				for _, l := range []layout{contiguous, stepped} {
					a := e.newOperand(dt, []int{3, 7}, l, ga)
					b := e.newOperand(dt, []int{3, 7}, permuted, gb)
					e.binaryRun(c, dt, fmt.Sprintf("%s in place dst=a %v", name, l), a, b, a.same())
					a = e.newOperand(dt, []int{3, 7}, broadcastHead, ga)
					b = e.newOperand(dt, []int{3, 7}, l, gb)
					e.binaryRun(c, dt, fmt.Sprintf("%s in place dst=b %v", name, l), a, b, b.same())
				}
				x := e.newOperand(dt, []int{5, 4}, stepped, ga)
				e.binaryRun(c, dt, name+" in place a=b=dst", x, x, x.same())
			}
			if largeBinary[c.op] && (dt == tensor.Float32 || dt == tensor.Float16 || dt == tensor.Int32 || dt == tensor.Bool) {
				s := largeShape
				a := e.newOperand(dt, s, contiguous, ga)
				b := e.newOperand(dt, s, broadcastHead, gb)
				dst := e.newOperand(odt, s, contiguous, e.defaultGen(odt))
				e.binaryRun(c, dt, name+" large", a, b, dst)
			}
		}
	}
}

// testBinarySpecial: NaN propagation of Maximum and Minimum (documented),
// IEEE results of comparisons with NaN, and arithmetic with infinities.
func testBinarySpecial(e *env) {
	inf, nan := math.Inf(1), math.NaN()
	av := []float64{nan, 1, nan, inf, -inf, inf, 2, -3, 0, inf}
	bv := []float64{1, nan, nan, 1, 5, inf, inf, -inf, nan, -inf}
	for _, dt := range floatDTypes {
		a := operand{buf: e.upload(dt, av), shape: []int{len(av)}, strides: []int{1}}
		b := operand{buf: e.upload(dt, bv), shape: []int{len(bv)}, strides: []int{1}}
		for _, c := range binaryCases {
			if c.boolsOnly || c.op == tensor.OpPow {
				continue
			}
			odt := dt
			if c.cmp {
				odt = tensor.Bool
			}
			dst := e.newOperand(odt, []int{len(av)}, contiguous, e.defaultGen(odt))
			e.dev.Binary(c.op, dst.view(), a.view(), b.view())
			want := make([]float64, len(av))
			for i := range av {
				want[i] = c.ref(av[i], bv[i])
				if (c.op == tensor.OpMaximum || c.op == tensor.OpMinimum) && (math.IsNaN(av[i]) || math.IsNaN(bv[i])) {
					want[i] = nan
				}
			}
			e.checkDst(fmt.Sprintf("%s %v special values", c.name, dt), dst, want, exact)
		}
	}
}

func testWhere(e *env) {
	type combo struct{ c, a, b, d layout }
	combos := []combo{
		{contiguous, contiguous, contiguous, contiguous},
		{broadcastHead, permuted, broadcastAll, stepped},
		{permuted, broadcastTail, stepped, permuted},
		{stepped, offsetL, broadcastHead, offsetL},
	}
	for _, dt := range allDTypes {
		run := func(what string, cond, a, b, dst operand) {
			cv, av, bv := cond.values(), a.values(), b.values()
			e.dev.Where(dst.view(), cond.view(), a.view(), b.view())
			want := make([]float64, len(cv))
			for i := range cv {
				want[i] = bv[i]
				if cv[i] != 0 {
					want[i] = av[i]
				}
			}
			e.checkDst(what, dst, want, exact)
		}
		for _, cb := range combos {
			for _, s := range [][]int{{4, 5, 6}, {}, {0, 3}, {2, 0, 2}} {
				cond := e.newOperand(tensor.Bool, s, cb.c, e.bools())
				a := e.newOperand(dt, s, cb.a, e.defaultGen(dt))
				b := e.newOperand(dt, s, cb.b, e.defaultGen(dt))
				dst := e.newOperand(dt, s, cb.d, e.defaultGen(dt))
				run(fmt.Sprintf("Where %v %v cond %v a %v b %v dst %v", dt, s, cb.c, cb.a, cb.b, cb.d), cond, a, b, dst)
			}
		}
		cond := e.newOperand(tensor.Bool, []int{6, 7}, broadcastTail, e.bools())
		a := e.newOperand(dt, []int{6, 7}, stepped, e.defaultGen(dt))
		b := e.newOperand(dt, []int{6, 7}, permuted, e.defaultGen(dt))
		run(fmt.Sprintf("Where %v in place dst=a", dt), cond, a, b, a.same())
		if dt != tensor.Float32 && dt != tensor.Bool {
			continue
		}
		s := largeShape
		cond = e.newOperand(tensor.Bool, s, contiguous, e.bools())
		a = e.newOperand(dt, s, contiguous, e.defaultGen(dt))
		b = e.newOperand(dt, s, broadcastHead, e.defaultGen(dt))
		dst := e.newOperand(dt, s, contiguous, e.defaultGen(dt))
		run(fmt.Sprintf("Where %v large", dt), cond, a, b, dst)
	}
}
