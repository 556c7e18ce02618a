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

func expSlice32(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = exp32(v)
	}
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

func reluSlice32(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = max(v, 0)
	}
}

// fastFloat32Kernel returns a float32-specialised kernel for op, if any.
func fastFloat32Kernel(op UnaryOp) (func(d, x []float32), int) {
	switch op {
	case OpExp:
		return expSlice32, 3
	case OpSigmoid:
		return sigmoidSlice32, 4
	case OpTanh:
		return tanhSlice32, 4
	case OpReLU:
		return reluSlice32, 1
	}
	return nil, 0
}
