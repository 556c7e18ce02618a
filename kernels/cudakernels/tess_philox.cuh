// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11; the Random123 reference definition) and helpers that map its
// 32-bit words to numbers. This header is also compiled as host C++
// (TESS_HOST) by cuda/hostcheck_test.go, which checks it against the
// Random123 known-answer vectors and a Go reference.
//
//   tess_philox_block(seed, b): the four words of Philox block b, with key
//     k = (seed & 0xffffffff, seed >> 32) and counter
//     c = (b & 0xffffffff, b >> 32, 0, 0);
//   tess_u01_f32(x) = (x >> 8) * 2^-24 in [0, 1) (exact in float32);
//   tess_u01_open0(x) = ((x >> 8) + 1) * 2^-24 in (0, 1] (as a double);
//   tess_u01_f64(hi, lo) = ((hi << 32 | lo) >> 11) * 2^-53 in [0, 1).
//
// The stream itself -- word w is lane w % 4 of block w / 4, offsets count
// words -- and the mapping of words to uniform, normal and Bernoulli values
// are those of package tensor (tensor/philox.go); random.cu documents them
// and implements them for the GPU.
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
