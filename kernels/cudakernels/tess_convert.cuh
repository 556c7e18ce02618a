// Scalar conversions between float32/float64 and the 16-bit float formats,
// used by the cast kernels. Also compiled as host C++ (TESS_HOST) by
// kernels/cuda's CPU test, which checks them bit for bit against Go
// references over all 2^16 half values and many float32/float64 values.
#pragma once

#ifdef TESS_HOST
#define TESS_HD inline
#else
#define TESS_HD __device__ __forceinline__
#endif

typedef unsigned int tess_u32;
typedef unsigned short tess_u16;

// f16/bf16 are IEEE binary16 / bfloat16 bit patterns in a tess_u16.
// float -> f16/bf16: round to nearest, ties to even; overflow -> inf; NaN ->
// quiet NaN with the sign kept. double -> f16/bf16 rounds once: the double
// is first narrowed to float with round-to-odd (truncate, then set the last
// bit if inexact), which makes the second rounding exact RNE.
// float/double -> i32/i64: truncation toward zero, saturating at the
// integer range, NaN -> 0 (the semantics of PTX cvt.rzi).

TESS_HD tess_u16 f32_to_f16(float f) {
  tess_u32 x = __float_as_uint(f);
  tess_u32 sign = (x >> 16) & 0x8000u;
  tess_u32 ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (tess_u16)(sign | 0x7e00u);   // NaN
  if (ax >= 0x477ff000u) return (tess_u16)(sign | 0x7c00u);  // >= 65520: inf
  if (ax < 0x38800000u) {                                // < 2^-14: subnormal or 0
    if (ax <= 0x33000000u) return (tess_u16)sign;             // <= 2^-25 (tie to even 0)
    tess_u32 m = (ax & 0x7fffffu) | 0x800000u;
    int shift = 126 - (int)(ax >> 23);                   // 14..24
    tess_u32 r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (tess_u16)(sign | r);
  }
  tess_u32 r = ax - 0x38000000u;  // rebias exponent 127 -> 15
  tess_u32 rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
  return (tess_u16)(sign | r);
}

TESS_HD float f16_to_f32(tess_u16 h) {
  tess_u32 sign = ((tess_u32)h & 0x8000u) << 16;
  tess_u32 e = ((tess_u32)h >> 10) & 0x1fu, m = (tess_u32)h & 0x3ffu;
  if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    float v = (float)m * 5.9604644775390625e-8f;  // m * 2^-24, exact
    return sign ? -v : v;
  }
  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

TESS_HD tess_u16 f32_to_bf16(float f) {
  tess_u32 x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (tess_u16)((x >> 16) | 0x40u);  // quiet NaN
  return (tess_u16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

TESS_HD float bf16_to_f32(tess_u16 h) { return __uint_as_float((tess_u32)h << 16); }

TESS_HD float f64_to_f32_odd(double d) {
  float r = __double2float_rz(d);
  if ((double)r != d && d == d) r = __uint_as_float(__float_as_uint(r) | 1u);
  return r;
}

