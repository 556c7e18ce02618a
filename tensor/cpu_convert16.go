package tensor

import "math"

// Fast conversions between the 16-bit float formats and float32 for the
// CPU kernels' loads and stores (BFloat16 and Float16 compute in float32).
// Each is the exact or correctly rounded conversion of dtype.go's
// functions, inlined, with the rare cases (NaN, subnormal and overflowing
// float16) sent to those functions.

// load16F32 sets d[i] = float32(src[off + i*stride]) for 16-bit patterns
// of dtype dt.
func load16F32(d []float32, src []uint16, off, stride int, dt DType) {
	if stride == 1 {
		s := src[off : off+len(d)]
		if dt == BFloat16 {
			for i, h := range s {
				d[i] = math.Float32frombits(uint32(h) << 16)
			}
			return
		}
		for i, h := range s {
			if f16Special(h) {
				d[i] = Float16ToFloat32(h)
				continue
			}
			d[i] = f16Fast(h)
		}
		return
	}
	if dt == BFloat16 {
		for i := range d {
			d[i] = math.Float32frombits(uint32(src[off+i*stride]) << 16)
		}
		return
	}
	for i := range d {
		h := src[off+i*stride]
		if f16Special(h) {
			d[i] = Float16ToFloat32(h)
			continue
		}
		d[i] = f16Fast(h)
	}
}

// store16F32 sets dst[off + i*stride] = src[i] rounded to dtype dt.
func store16F32(dst []uint16, off, stride int, src []float32, dt DType) {
	if stride == 1 {
		d := dst[off : off+len(src)]
		if dt == BFloat16 {
			for i, x := range src {
				d[i] = f32ToBF16(x)
			}
			return
		}
		for i, x := range src {
			b := math.Float32bits(x)
			if f32F16Special(b) {
				d[i] = Float32ToFloat16(x)
				continue
			}
			d[i] = f32ToF16Fast(b)
		}
		return
	}
	if dt == BFloat16 {
		for i, x := range src {
			dst[off+i*stride] = f32ToBF16(x)
		}
		return
	}
	for i, x := range src {
		b := math.Float32bits(x)
		if f32F16Special(b) {
			dst[off+i*stride] = Float32ToFloat16(x)
			continue
		}
		dst[off+i*stride] = f32ToF16Fast(b)
	}
}

// f16Special reports whether float16 bits h are an infinity, a NaN or a
// subnormal (for Float16ToFloat32); f16Fast converts the others (normal
// numbers and zeros) without a branch between them, as ReLU outputs mix
// them at random.
func f16Special(h uint16) bool {
	a := h & 0x7fff
	return a-1 < 0x3ff || a >= 0x7c00
}

func f16Fast(h uint16) float32 {
	a := uint32(h & 0x7fff)
	mask := uint32(-int32(a) >> 31) // 0 for ±0, all ones otherwise
	return math.Float32frombits(uint32(h&0x8000)<<16 | (a<<13+112<<23)&mask)
}

// f16ToF32 is Float16ToFloat32.
func f16ToF32(h uint16) float32 {
	if f16Special(h) {
		return Float16ToFloat32(h)
	}
	return f16Fast(h)
}

// f32ToBF16 is Float32ToBFloat16 (round to nearest even) for non-NaN f.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return Float32ToBFloat16(f)
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// The float32 bit patterns of float16's smallest normal number, 2^-14,
// of 65520, the least magnitude that rounds to float16's infinity, and of
// 2^-25, the largest that rounds to zero (a tie, to even).
const (
	f16MinNormal = 0x38800000
	f16Overflow  = 0x477ff000
	f16Zero      = 0x33000000
)

// f32F16Special reports whether float32 bits b round to a float16
// infinity or subnormal, or are a NaN (for Float32ToFloat16); f32ToF16Fast
// rounds the others (to a normal float16 or to zero) without a branch
// between them.
func f32F16Special(b uint32) bool {
	m := b & 0x7fffffff
	return m >= f16Overflow || m-(f16Zero+1) < f16MinNormal-(f16Zero+1)
}

func f32ToF16Fast(b uint32) uint16 {
	m := b & 0x7fffffff
	r := max(m, f16MinNormal) - 112<<23           // rebias the exponent by 127-15
	r += 0xfff + (r>>13)&1                        // round to nearest even
	mask := uint16(int32(f16MinNormal-1-m) >> 31) // 0 below 2^-14 (those round to zero here)
	return uint16(b>>16)&0x8000 | uint16(r>>13)&mask
}

// f32ToF16 is Float32ToFloat16.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f32F16Special(b) {
		return Float32ToFloat16(f)
	}
	return f32ToF16Fast(b)
}
