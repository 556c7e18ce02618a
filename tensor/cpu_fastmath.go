package tensor

import "math"

// Float32 transcendental kernels. Go's math package works in float64; these
// evaluate in float32 with Cephes-style range reduction and minimax
// polynomials, accurate to about 2 ulp, several times faster than
// converting every element to float64.

const (
	exp32Hi   = 88.72283905206835  // above: +Inf
	exp32Lo   = -87.33654475055310 // below: subnormal results, computed in float64
	log2e32   = 1.44269504088896341
	ln2Hi32   = 0.693359375
	ln2Lo32   = -2.12194440e-4
	expP0     = 1.9875691500e-4
	expP1     = 1.3981999507e-3
	expP2     = 8.3334519073e-3
	expP3     = 4.1665795894e-2
	expP4     = 1.6666665459e-1
	expP5     = 5.0000001201e-1
	tanhSmall = 0.25
)

// exp32 returns eˣ for float32 x.
func exp32(x float32) float32 {
	if !(x <= exp32Hi) { // also NaN
		if x != x {
			return x
		}
		return float32(math.Inf(1))
	}
	if x < exp32Lo {
		return float32(math.Exp(float64(x)))
	}
	fn := float32(math.Floor(float64(x*log2e32 + 0.5)))
	r := x - fn*ln2Hi32 - fn*ln2Lo32
	z := r * r
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	p = p*z + r + 1
	n := int32(fn)
	if n > 127 {
		p *= 2
		n--
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

func expSlice32(d, x []float32) { expF32(d, x, 0) }

// expF32Go sets d[i] = exp(x[i] - shift) and returns the sum in float64.
func expF32Go(d, x []float32, shift float32) float64 {
	x = x[:len(d)]
	s := 0.0
	for i, v := range x {
		e := exp32(v - shift)
		d[i] = e
		s += float64(e)
	}
	return s
}

func sigmoidSlice32(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		if v >= 0 {
			d[i] = 1 / (1 + exp32(-v))
		} else {
			e := exp32(v)
			d[i] = e / (1 + e)
		}
	}
}

func tanh32(v float32) float32 {
	a := v
	if a < 0 {
		a = -a
	}
	if a < tanhSmall {
		// Taylor series to x⁹: relative error < 1e-8 on |x| < 0.25.
		z := v * v
		return v * (1 + z*(-1.0/3+z*(2.0/15+z*(-17.0/315+z*(62.0/2835)))))
	}
	if a > 9.1 { // tanh rounds to ±1 in float32
		if v < 0 {
			return -1
		}
		return 1
	}
	t := 1 - 2/(exp32(2*a)+1)
	if v < 0 {
		return -t
	}
	return t
}

func tanhSlice32(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = tanh32(v)
	}
}

func reluF32Go(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = max(v, 0)
	}
}

// reluGradF32Go sets d = g where y > 0, else 0 (the ReLU backward, from the
// forward output y).
func reluGradF32Go(d, g, y []float32) {
	g, y = g[:len(d)], y[:len(d)]
	for i, v := range y {
		if v > 0 {
			d[i] = g[i]
		} else {
			d[i] = 0
		}
	}
}

func affineF32Go(d, x []float32, a, b float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = a*v + b
	}
}

// sumF32Go sums float32 values in float64 (four partial sums).
func sumF32Go(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// accF32F64Go adds x into the float64 accumulator acc elementwise.
func accF32F64Go(acc []float64, x []float32) {
	x = x[:len(acc)]
	for i, v := range x {
		acc[i] += float64(v)
	}
}

// fastFloat32Kernel returns a float32-specialised kernel for op, if any.
func fastFloat32Kernel(op UnaryOp, p0, p1 float64) (func(d, x []float32), int) {
	switch op {
	case OpExp:
		return expSlice32, 3
	case OpSigmoid:
		return sigmoidSlice32, 4
	case OpTanh:
		return tanhF32, 4
	case OpReLU:
		return reluF32, 1
	case OpAffine:
		a, b := float32(p0), float32(p1)
		return func(d, x []float32) { affineF32(d, x, a, b) }, 1
	}
	return nil, 0
}
