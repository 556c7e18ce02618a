package devicetest

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// Reference rounding, written independently of package tensor: a float64 is
// rounded once, to nearest with ties to even, into a binary format with p
// significand bits (the implicit one included), minimum normal exponent emin
// and maximum exponent emax. Results below the normal range are subnormal;
// results beyond the largest finite value are ±Inf.
func roundFormat(x float64, p, emin, emax int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	_, e := math.Frexp(x) // x = f·2^e, 0.5 <= |f| < 1
	exp := e - 1          // x = 1.m·2^exp
	if exp > emax {
		return math.Copysign(math.Inf(1), x)
	}
	if exp < emin {
		exp = emin
	}
	quantum := math.Ldexp(1, exp-(p-1))
	r := math.RoundToEven(x/quantum) * quantum
	maxFinite := math.Ldexp(2-math.Ldexp(1, 1-p), emax)
	if math.Abs(r) > maxFinite {
		return math.Copysign(math.Inf(1), x)
	}
	return r
}

// roundBF16 rounds x to the nearest bfloat16 (8 significand bits, float32 range).
func roundBF16(x float64) float64 { return roundFormat(x, 8, -126, 127) }

// roundF16 rounds x to the nearest IEEE half (11 significand bits).
func roundF16(x float64) float64 { return roundFormat(x, 11, -14, 15) }

// roundF32 rounds x to the nearest float32.
func roundF32(x float64) float64 { return roundFormat(x, 24, -126, 127) }

// quantize rounds x to the nearest value of dtype dt (floats), truncates it
// toward zero (integers) or maps it to 0/1 (bool): the value a Copy of the
// float64 x into dt must produce.
func quantize(dt tensor.DType, x float64) float64 {
	switch dt {
	case tensor.Float64:
		return x
	case tensor.Float32:
		return roundF32(x)
	case tensor.BFloat16:
		return roundBF16(x)
	case tensor.Float16:
		return roundF16(x)
	case tensor.Int32, tensor.Int64:
		return math.Trunc(x)
	case tensor.Bool:
		if x != 0 {
			return 1
		}
		return 0
	}
	panic("devicetest: bad dtype")
}

// bf16Bits encodes a bfloat16-representable value.
func bf16Bits(v float64) uint16 {
	if math.IsNaN(v) {
		return 0x7fc0
	}
	return uint16(math.Float32bits(float32(v)) >> 16)
}

// bf16Value decodes bfloat16 bits.
func bf16Value(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) }

// f16Bits encodes a half-representable value.
func f16Bits(v float64) uint16 {
	var sign uint16
	if math.Signbit(v) {
		sign = 0x8000
		v = -v
	}
	switch {
	case math.IsNaN(v):
		return 0x7e00
	case math.IsInf(v, 0):
		return sign | 0x7c00
	case v == 0:
		return sign
	case v < 0x1p-14: // subnormal: v = m·2^-24
		return sign | uint16(v*0x1p24)
	}
	f, e := math.Frexp(v) // v = f·2^e, f in [0.5, 1)
	exp := e - 1
	mant := uint16((2*f - 1) * 1024)
	return sign | uint16(exp+15)<<10 | mant
}

// f16Value decodes half bits.
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	case 0:
		return sign * mant * 0x1p-24
	}
	return sign * (1 + mant/1024) * math.Ldexp(1, exp-15)
}
