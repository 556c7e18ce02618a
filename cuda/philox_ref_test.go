package cuda

import "math"

// Go references for the Philox stream and the number mappings specified in
// kernels/cudakernels/tess_philox.cuh. They are written from the Random123
// definition independently of the CUDA source and checked against
// Random123's known-answer vectors in hostcheck_test.go.

func refPhilox(ctr [4]uint32, k0, k1 uint32) [4]uint32 {
	const m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
	for r := 0; r < 10; r++ {
		if r > 0 {
			k0 += w0
			k1 += w1
		}
		p0 := uint64(m0) * uint64(ctr[0])
		p1 := uint64(m1) * uint64(ctr[2])
		ctr = [4]uint32{uint32(p1>>32) ^ ctr[1] ^ k0, uint32(p1), uint32(p0>>32) ^ ctr[3] ^ k1, uint32(p0)}
	}
	return ctr
}

func refBlock(seed, b uint64) [4]uint32 {
	return refPhilox([4]uint32{uint32(b), uint32(b >> 32), 0, 0}, uint32(seed), uint32(seed>>32))
}

// refWord is word w of the stream (tensor/philox.go's philoxWords).
func refWord(seed, w uint64) uint32 { return refBlock(seed, w/4)[w%4] }

// refUniformF32 is element j of a uniform [lo, hi) float32 fill at stream
// offset off (in words), as kernels/cudakernels/random.cu and tensor/philox.go
// define it.
func refUniformF32(seed, off uint64, j int, lo, hi float64) float32 {
	u := float64(refWord(seed, off+uint64(j))>>8) * (1.0 / (1 << 24))
	span := hi - lo
	m := float64(u * span) // explicit rounding: no fused multiply-add
	f := float32(lo + m)
	if hi > lo && float64(f) >= hi {
		top := float32(hi)
		if float64(top) >= hi {
			top = math.Nextafter32(top, float32(math.Inf(-1)))
		}
		f = top
	}
	return f
}

func refNormalZ(seed, off uint64, j int) float64 {
	q := uint64(j / 2)
	x0, x1 := refWord(seed, off+2*q), refWord(seed, off+2*q+1)
	u1 := float64((x0>>8)+1) * (1.0 / (1 << 24))
	u2 := float64(x1>>8) * (1.0 / (1 << 24))
	r := math.Sqrt(-2 * math.Log(u1))
	a := float64(2 * math.Pi * u2)
	if j%2 == 1 {
		return float64(r * math.Sin(a))
	}
	return float64(r * math.Cos(a))
}

func refNormalF32(seed, off uint64, j int, mean, std float64) float32 {
	sz := float64(std * refNormalZ(seed, off, j)) // explicit rounding: no fused multiply-add
	return float32(mean + sz)
}

// refToHalfLike rounds x (any float64) to nearest-even in a binary format
// with `mant` explicit mantissa bits and minimum normal exponent emin,
// maximum exponent emax; returns the bit pattern (sign, exponent, mantissa).
func refToHalfLike(x float64, mant, emin, emax int) uint32 {
	expBits := 0
	for (1 << expBits) < (emax - emin + 3) {
		expBits++
	}
	signBit := uint32(1) << (mant + expBits)
	var sign uint32
	if math.Signbit(x) {
		sign = signBit
		x = -x
	}
	infBits := uint32((1<<expBits)-1) << mant
	if math.IsNaN(x) {
		return sign | infBits | 1<<(mant-1)
	}
	if math.IsInf(x, 0) {
		return sign | infBits
	}
	if x == 0 {
		return sign
	}
	_, e := math.Frexp(x) // x = f * 2^e, f in [0.5, 1): floor(log2 x) = e-1
	e--
	if e < emin {
		e = emin
	}
	q := math.Ldexp(1, e-mant)
	r := math.RoundToEven(x / q)
	if r >= math.Ldexp(1, mant+1) { // rounded up into the next binade
		r /= 2
		e++
	}
	if e > emax {
		return sign | infBits
	}
	if r < math.Ldexp(1, mant) { // subnormal (only when e == emin)
		return sign | uint32(r)
	}
	return sign | uint32(e-emin+1)<<mant | (uint32(r) - 1<<mant)
}

func refF16(x float64) uint16  { return uint16(refToHalfLike(x, 10, -14, 15)) }
func refBF16(x float64) uint16 { return uint16(refToHalfLike(x, 7, -126, 127)) }

func refF16ToF32(h uint16) float32 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch {
	case e == 0x1f && m == 0:
		return float32(math.Inf(int(s)))
	case e == 0x1f:
		return float32(math.NaN())
	case e == 0:
		return float32(s * math.Ldexp(m, -24))
	}
	return float32(s * math.Ldexp(1+m/1024, e-15))
}
