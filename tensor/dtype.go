package tensor

import (
	"fmt"
	"math"
	"math/bits"
)

// DType is the element type of a tensor.
type DType uint8

// The element types. Float16 and BFloat16 are stored as their 16-bit patterns and
// computed in float32 on the CPU; conversions round to nearest even.
const (
	Float32 DType = iota
	Float64
	BFloat16
	Float16
	Int32
	Int64
	Bool
	numDTypes
)

var dtypeNames = [...]string{"float32", "float64", "bfloat16", "float16", "int32", "int64", "bool"}
var dtypeSizes = [...]int{4, 8, 2, 2, 4, 8, 1}

// String returns the dtype's name, e.g. "float32".
func (d DType) String() string {
	if d < numDTypes {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the size of one element in bytes.
func (d DType) Size() int { d.check("DType.Size"); return dtypeSizes[d] }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d <= Float16 }

// IsInt reports whether d is an integer type.
func (d DType) IsInt() bool { return d == Int32 || d == Int64 }

// ParseDType returns the dtype with the given name.
func ParseDType(s string) (DType, error) {
	for i, n := range dtypeNames {
		if n == s {
			return DType(i), nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown dtype %q", s)
}

func (d DType) check(op string) {
	if d >= numDTypes {
		fail(op, "invalid dtype %d", uint8(d))
	}
}

// computeDType is the dtype in which CPU kernels compute values of dtype d.
func (d DType) computeDType() DType {
	switch d {
	case BFloat16, Float16:
		return Float32
	}
	return d
}

// Elem is the set of Go types that tensors can wrap directly.
type Elem interface {
	float32 | float64 | int32 | int64 | bool
}

// DTypeOf returns the dtype that matches the Go type T.
func DTypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int32:
		return Int32
	case int64:
		return Int64
	case bool:
		return Bool
	}
	panic(Errorf("tensor.DTypeOf", "unsupported Go type %T", z))
}

// promote returns the dtype two operands compute in, following PyTorch's
// type promotion for the dtypes Tessera has.
func promote(a, b DType) DType {
	if a == b {
		return a
	}
	rank := func(d DType) int {
		switch d {
		case Bool:
			return 0
		case Int32:
			return 1
		case Int64:
			return 2
		case BFloat16, Float16:
			return 3
		case Float32:
			return 4
		case Float64:
			return 5
		}
		return -1
	}
	if (a == BFloat16 && b == Float16) || (a == Float16 && b == BFloat16) {
		return Float32
	}
	if rank(a) >= rank(b) {
		return a
	}
	return b
}

// Float32ToBFloat16 converts f to bfloat16 bits, rounding to nearest even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f { // NaN: keep it a quiet NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32 (exact).
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToFloat16 converts f to IEEE 754 half-precision bits, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 142: // overflow: |f| >= 65520 rounds to Inf
		return sign | 0x7c00
	case exp >= 113: // normal half
		h := uint32(exp-112)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, and into Inf: both correct
		}
		return sign | uint16(h)
	case exp >= 102: // subnormal half
		m := mant | 0x800000
		shift := uint32(126 - exp) // 14..24
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign // underflow to signed zero
}

// Float16ToFloat32 converts IEEE 754 half-precision bits to float32 (exact).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// roundToOdd32 rounds x to float32 toward zero and, when that is inexact,
// sets the lowest significand bit (round to odd). Rounding the result once
// more, to nearest even, into a format of at most 22 significand bits
// (Float16, BFloat16) gives the correctly rounded value of x; rounding x to
// the nearest float32 first would round twice and can miss by one ulp near
// a tie.
func roundToOdd32(x float64) float32 {
	f := float32(x)
	if float64(f) == x || f != f {
		return f
	}
	b := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(x) {
		b-- // one step toward zero (also from ±Inf to ±MaxFloat32)
	}
	return math.Float32frombits(b | 1)
}

// int64ToOdd32 is roundToOdd32 for an integer, exact for every int64.
func int64ToOdd32(x int64) float32 {
	u := uint64(x)
	if x < 0 {
		u = -u
	}
	if n := bits.Len64(u); n > 24 {
		sh := uint(n - 24)
		sticky := u&(1<<sh-1) != 0
		u >>= sh
		if sticky {
			u |= 1
		}
		u <<= sh
	}
	f := float32(u) // exact: at most 24 significant bits
	if x < 0 {
		f = -f
	}
	return f
}
