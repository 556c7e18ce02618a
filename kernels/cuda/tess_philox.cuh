// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11; the Random123 reference definition) and Tessera's mapping of
// its output to floating-point numbers. This header is also compiled as
// host C++ by kernels/cuda's CPU test (TESS_HOST), which checks it against
// the Random123 known-answer vectors and a Go reference.
//
// THE STREAM (the CPU implementation must match this exactly):
//   key     k = (seed & 0xffffffff, seed >> 32)
//   counter for Philox block b (a 64-bit block index):
//           c = (b & 0xffffffff, b >> 32, 0, 0)
//   x[0..3] = philox4x32_10(c, k)
//   A fill of n elements starting at block offset `offset` uses blocks
//   offset, offset+1, ...; element j comes from block offset + j/E, where E
//   is the number of elements per block:
//     uniform f32: E = 4, lane j%4:   u = (x[lane] >> 8) * 2^-24       in [0, 1)
//                  out = lo + (hi - lo) * u, each operation rounded to
//                  float32 separately (no FMA)
//     normal f32:  E = 4, Box-Muller on lanes (0,1) -> elements 0,1 and
//                  lanes (2,3) -> elements 2,3, in float64:
//                  u1 = ((x[2p] >> 8) + 1) * 2^-24   in (0, 1]
//                  u2 =  (x[2p+1] >> 8) * 2^-24      in [0, 1)
//                  r  = sqrt(-2 log u1),  a = 2 pi * u2 (2 pi rounded to float64)
//                  z_even = r cos(a),  z_odd = r sin(a)
//                  out = float32(mean + std * z)  (mean + std*z in float64,
//                  rounded once to float32)
//     uniform f64: E = 2, lanes (2p, 2p+1):
//                  u = (((x[2p] << 32) | x[2p+1]) >> 11) * 2^-53    in [0, 1)
//                  out = lo + (hi - lo) * u   (float64, no FMA)
//     normal f64:  E = 2: u1 = 1 - u(lanes 0,1) in (0, 1], u2 = u(lanes 2,3)
//                  with u as in uniform f64; r = sqrt(-2 log u1);
//                  element 0 = mean + std * (r cos(2 pi u2)),
//                  element 1 = mean + std * (r sin(2 pi u2))
//     bernoulli f32: E = 4, out = u < p ? 1 : 0 with u as in uniform f32
//   The next fill should start at offset + ceil(n / E).
// Uniform values are bit-identical on every device. Normal values use
// float64 log/sqrt/sin/cos, whose last-bit accuracy differs between
// libraries, so float32 normals match the CPU except in the rare case that
// the float64 values straddle a float32 rounding boundary (then 1 ulp), and
// float64 normals agree to a few ulp.
#pragma once

#ifdef TESS_HOST
#define TESS_HD inline
#else
#define TESS_HD __device__ __forceinline__
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

struct TessU4 {
  unsigned int x[4];
};

TESS_HD void tess_mulhilo(unsigned int a, unsigned int b, unsigned int* hi, unsigned int* lo) {
  unsigned long long p = (unsigned long long)a * (unsigned long long)b;
  *hi = (unsigned int)(p >> 32);
  *lo = (unsigned int)p;
}

TESS_HD TessU4 tess_philox4x32_10(TessU4 c, unsigned int k0, unsigned int k1) {
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    unsigned int hi0, lo0, hi1, lo1;
    tess_mulhilo(PHILOX_M0, c.x[0], &hi0, &lo0);
    tess_mulhilo(PHILOX_M1, c.x[2], &hi1, &lo1);
    TessU4 n;
    n.x[0] = hi1 ^ c.x[1] ^ k0;
    n.x[1] = lo1;
    n.x[2] = hi0 ^ c.x[3] ^ k1;
    n.x[3] = lo0;
    c = n;
  }
  return c;
}

// The four words of Philox block b for seed.
TESS_HD TessU4 tess_philox_block(unsigned long long seed, unsigned long long b) {
  TessU4 c;
  c.x[0] = (unsigned int)b;
  c.x[1] = (unsigned int)(b >> 32);
  c.x[2] = 0;
  c.x[3] = 0;
  return tess_philox4x32_10(c, (unsigned int)seed, (unsigned int)(seed >> 32));
}

// u = (x >> 8) * 2^-24, exactly representable in float32.
TESS_HD float tess_u01_f32(unsigned int x) { return (float)(x >> 8) * 5.9604644775390625e-8f; }

// ((x >> 8) + 1) * 2^-24 in (0, 1], as a double (exact).
TESS_HD double tess_u01_open0(unsigned int x) { return (double)((x >> 8) + 1u) * 5.9604644775390625e-8; }

// 53-bit uniform from two words.
TESS_HD double tess_u01_f64(unsigned int hi, unsigned int lo) {
  unsigned long long v = ((unsigned long long)hi << 32) | lo;
  return (double)(v >> 11) * 1.1102230246251565404236316680908203125e-16;  // 2^-53
}

#define TESS_TWO_PI 6.283185307179586476925286766559
