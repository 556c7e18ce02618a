// Counter-based random fills with Philox-4x32-10, producing the stream of
// package tensor (tensor/philox.go), so a fill gives the same numbers on the
// CPU and the GPU for the same seed and offset.
//
// THE STREAM. key k = (seed & 0xffffffff, seed >> 32). Word w of the stream
// (a 64-bit word index) is lane w % 4 of philox4x32_10(c, k) with counter
// c = (w/4 & 0xffffffff, w/4 >> 32, 0, 0) (tess_philox_block in
// tess_philox.cuh). A fill of n elements at stream offset `off` (in words)
// uses, for element e:
//   uniform f32   word off+e; u = (x >> 8) * 2^-24 in [0, 1);
//                 v = lo + u * (hi - lo) in double (lo, hi are doubles; each
//                 operation rounded, no FMA), rounded once to float; if that
//                 float is >= hi it is replaced by the largest float below hi
//   uniform f64   words off+2e (high) and off+2e+1 (low);
//                 u = ((hi32 << 32 | lo32) >> 11) * 2^-53; v = lo + u * (hi - lo)
//   normal        pair q = e/2 uses words off+2q and off+2q+1:
//                 u1 = ((x0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (x1 >> 8) * 2^-24,
//                 r = sqrt(-2 ln u1), a = 2pi * u2 (2pi rounded to double),
//                 z = r cos(a) for even e, r sin(a) for odd e;
//                 v = mean + std * z in double, rounded once to the element type
//   bernoulli f32 word off+e; 1 if (x >> 8) * 2^-24 < p else 0
// The caller advances the offset by n words (2n for uniform f64 and normal,
// as tensor.Generator does).
// Uniform and Bernoulli values are bit-identical to the CPU's. Normal
// values use double log/sqrt/sin/cos, whose last bit can differ between
// CUDA's libdevice and Go's math package, so float32 normals match except,
// rarely, by one ulp, and float64 normals agree to a few ulp.
//
//   tess_philox_uniform_f32(i64 n, u64 seed, u64 off, double lo, double hi, float* out)
//   tess_philox_uniform_f64(i64 n, u64 seed, u64 off, double lo, double hi, double* out)
//   tess_philox_normal_f32(i64 n, u64 seed, u64 off, double mean, double std, float* out)
//   tess_philox_normal_f64(i64 n, u64 seed, u64 off, double mean, double std, double* out)
//   tess_philox_bernoulli_f32(i64 n, u64 seed, u64 off, double p, float* out)
//   tess_philox_bits(i64 nwords, u64 seed, u64 off, unsigned int* out)   out[i] = word off+i
//
// One thread per element (grid-stride); out is contiguous.
#include "tess_common.cuh"
#include "tess_philox.cuh"

__device__ __forceinline__ unsigned int stream_word(u64 seed, u64 w) {
  TessU4 x = tess_philox_block(seed, w >> 2);
  return x.x[w & 3];
}

__device__ __forceinline__ double u24(unsigned int x) { return (double)(x >> 8) * 5.9604644775390625e-8; }

// z for element e of a normal fill (float64).
__device__ __forceinline__ double normal_z(u64 seed, u64 off, i64 e) {
  u64 q = (u64)e >> 1;
  unsigned int x0 = stream_word(seed, off + 2 * q), x1 = stream_word(seed, off + 2 * q + 1);
  double u1 = (double)((x0 >> 8) + 1u) * 5.9604644775390625e-8;
  double u2 = u24(x1);
  double r = sqrt(__dmul_rn(-2.0, log(u1)));
  double a = __dmul_rn(TESS_TWO_PI, u2);
  return __dmul_rn(r, (e & 1) ? sin(a) : cos(a));
}

extern "C" __global__ void tess_philox_bits(i64 n, u64 seed, u64 off, unsigned int* out) {
  GRID_STRIDE_LOOP(i, n) { out[i] = stream_word(seed, off + (u64)i); }
}

extern "C" __global__ void tess_philox_uniform_f32(i64 n, u64 seed, u64 off, double lo, double hi, float* out) {
  double span = __dsub_rn(hi, lo);
  // The largest float below hi, for draws that round up to hi.
  float top = (float)hi;
  if ((double)top >= hi) top = nextafterf(top, -__int_as_float(0x7f800000));
  GRID_STRIDE_LOOP(i, n) {
    double v = __dadd_rn(lo, __dmul_rn(u24(stream_word(seed, off + (u64)i)), span));
    float f = (float)v;
    if (hi > lo && (double)f >= hi) f = top;
    out[i] = f;
  }
}

extern "C" __global__ void tess_philox_uniform_f64(i64 n, u64 seed, u64 off, double lo, double hi, double* out) {
  double span = __dsub_rn(hi, lo);
  GRID_STRIDE_LOOP(i, n) {
    unsigned int h = stream_word(seed, off + 2 * (u64)i), l = stream_word(seed, off + 2 * (u64)i + 1);
    double u = tess_u01_f64(h, l);
    out[i] = __dadd_rn(lo, __dmul_rn(u, span));
  }
}

extern "C" __global__ void tess_philox_normal_f32(i64 n, u64 seed, u64 off, double mean, double std, float* out) {
  GRID_STRIDE_LOOP(i, n) { out[i] = (float)__dadd_rn(mean, __dmul_rn(std, normal_z(seed, off, i))); }
}

extern "C" __global__ void tess_philox_normal_f64(i64 n, u64 seed, u64 off, double mean, double std, double* out) {
  GRID_STRIDE_LOOP(i, n) { out[i] = __dadd_rn(mean, __dmul_rn(std, normal_z(seed, off, i))); }
}

extern "C" __global__ void tess_philox_bernoulli_f32(i64 n, u64 seed, u64 off, double p, float* out) {
  GRID_STRIDE_LOOP(i, n) { out[i] = u24(stream_word(seed, off + (u64)i)) < p ? 1.0f : 0.0f; }
}
