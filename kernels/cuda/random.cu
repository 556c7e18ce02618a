// Counter-based random fills with Philox-4x32-10. The exact stream and the
// mapping to numbers are specified in tess_philox.cuh; the CPU generator in
// package tensor must implement the same mapping.
//
//   tess_philox_uniform_f32(i64 n, u64 seed, u64 offset, float lo, float hi, float* out)
//   tess_philox_normal_f32(i64 n, u64 seed, u64 offset, double mean, double std, float* out)
//   tess_philox_bernoulli_f32(i64 n, u64 seed, u64 offset, float p, float* out)
//   tess_philox_uniform_f64(i64 n, u64 seed, u64 offset, double lo, double hi, double* out)
//   tess_philox_normal_f64(i64 n, u64 seed, u64 offset, double mean, double std, double* out)
//   tess_philox_bits(i64 nblocks, u64 seed, u64 offset, unsigned int* out)
//       the raw words: out[4*i + lane] = word `lane` of block offset + i
//
// One thread per Philox block (grid-stride); out is contiguous.
#include "tess_common.cuh"
#include "tess_philox.cuh"

extern "C" __global__ void tess_philox_bits(i64 nblocks, u64 seed, u64 offset, unsigned int* out) {
  GRID_STRIDE_LOOP(i, nblocks) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    for (int l = 0; l < 4; l++) out[4 * i + l] = x.x[l];
  }
}

extern "C" __global__ void tess_philox_uniform_f32(i64 n, u64 seed, u64 offset, float lo, float hi, float* out) {
  GRID_STRIDE_LOOP(i, (n + 3) / 4) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    float span = __fsub_rn(hi, lo);
    for (int l = 0; l < 4; l++) {
      i64 j = 4 * i + l;
      if (j < n) out[j] = __fadd_rn(lo, __fmul_rn(span, tess_u01_f32(x.x[l])));
    }
  }
}

extern "C" __global__ void tess_philox_bernoulli_f32(i64 n, u64 seed, u64 offset, float p, float* out) {
  GRID_STRIDE_LOOP(i, (n + 3) / 4) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    for (int l = 0; l < 4; l++) {
      i64 j = 4 * i + l;
      if (j < n) out[j] = tess_u01_f32(x.x[l]) < p ? 1.0f : 0.0f;
    }
  }
}

extern "C" __global__ void tess_philox_normal_f32(i64 n, u64 seed, u64 offset, double mean, double std,
                                                  float* out) {
  GRID_STRIDE_LOOP(i, (n + 3) / 4) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    for (int pr = 0; pr < 2; pr++) {
      double u1 = tess_u01_open0(x.x[2 * pr]);
      double u2 = (double)tess_u01_f32(x.x[2 * pr + 1]);
      double r = sqrt(__dmul_rn(-2.0, log(u1)));
      double a = __dmul_rn(TESS_TWO_PI, u2);
      double z0 = __dmul_rn(r, cos(a)), z1 = __dmul_rn(r, sin(a));
      i64 j = 4 * i + 2 * pr;
      if (j < n) out[j] = (float)__dadd_rn(mean, __dmul_rn(std, z0));
      if (j + 1 < n) out[j + 1] = (float)__dadd_rn(mean, __dmul_rn(std, z1));
    }
  }
}

extern "C" __global__ void tess_philox_uniform_f64(i64 n, u64 seed, u64 offset, double lo, double hi,
                                                   double* out) {
  GRID_STRIDE_LOOP(i, (n + 1) / 2) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    double span = __dsub_rn(hi, lo);
    for (int l = 0; l < 2; l++) {
      i64 j = 2 * i + l;
      if (j < n) out[j] = __dadd_rn(lo, __dmul_rn(span, tess_u01_f64(x.x[2 * l], x.x[2 * l + 1])));
    }
  }
}

extern "C" __global__ void tess_philox_normal_f64(i64 n, u64 seed, u64 offset, double mean, double std,
                                                  double* out) {
  GRID_STRIDE_LOOP(i, (n + 1) / 2) {
    TessU4 x = tess_philox_block(seed, offset + (u64)i);
    double u1 = __dsub_rn(1.0, tess_u01_f64(x.x[0], x.x[1]));  // (0, 1]
    double u2 = tess_u01_f64(x.x[2], x.x[3]);
    double r = sqrt(__dmul_rn(-2.0, log(u1)));
    double a = __dmul_rn(TESS_TWO_PI, u2);
    i64 j = 2 * i;
    if (j < n) out[j] = __dadd_rn(mean, __dmul_rn(std, __dmul_rn(r, cos(a))));
    if (j + 1 < n) out[j + 1] = __dadd_rn(mean, __dmul_rn(std, __dmul_rn(r, sin(a))));
  }
}
