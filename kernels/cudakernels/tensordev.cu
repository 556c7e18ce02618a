// Kernels of the tensor.Device implementation in cuda/cudatensor. They
// reproduce the CPU device's semantics (package tensor, cpu_*.go) for every
// dtype, so the conformance suite (tensor/devicetest) can hold the GPU to the
// same answers:
//
//  * dtypes: f32 (float), f64 (double), f16 / bf16 (u16 bit patterns),
//    i32 (int), i64 (long long), bool (unsigned char, 0 or 1); the copy,
//    fill, where and gather kernels only move bits and are named by element
//    size instead: x1, x2, x4, x8;
//  * elementwise kernels take a TessStrided4 (up to four strided operands
//    over one shape, up to 8 dims; the host merges axes first) by value;
//  * float unary ops are evaluated in double and rounded once to the
//    element type (f16/bf16 through round-to-odd float, so once); binary
//    arithmetic is done in float for f32/f16/bf16 and in double for f64, as
//    the CPU does; integer arithmetic wraps;
//  * reductions accumulate floats in double and integers/bools in i64 and
//    write the accumulator (the host casts it to the destination), so the
//    result is rounded once, as on the CPU;
//  * random fills use Philox-4x32-10 with the stream of package tensor:
//    word w of (seed, offset-in-words) is lane w%4 of block w/4, and values
//    are computed in double with explicitly rounded operations (no FMA).
//
// Signatures (n = number of elements of d's shape; slot k of d is operand k):
//   tess_td_copy_x<S>(i64 n, TessStrided4 d, const T* a, T* out)        out=0 a=1
//   tess_td_fill_x<S>(i64 n, TessStrided4 d, u64 bits, T* out)          out=0
//   tess_td_cast_<s>_<t>(i64 n, TessStrided4 d, const S* a, T* out)     out=0 a=1
//   tess_td_unary_<op>_<t>(i64 n, TessStrided4 d, const T* a, T* out, double p0, double p1)
//   tess_td_iunary_<op>_<t>(i64 n, TessStrided4 d, const T* a, T* out, i64 p0, i64 p1)
//   tess_td_not_bool(i64 n, TessStrided4 d, const u8* a, u8* out)
//   tess_td_binary_<op>_<t>(i64 n, TessStrided4 d, const T* a, const T* b, T* out, int* err)
//       out=0 a=1 b=2; integer division by zero writes 0 and sets *err = 1
//   tess_td_cmp_<op>_<t>(i64 n, TessStrided4 d, const T* a, const T* b, u8* out)
//   tess_td_logic_<op>_bool(i64 n, TessStrided4 d, const u8* a, const u8* b, u8* out)
//   tess_td_where_x<S>(i64 n, TessStrided4 d, const u8* cond, const T* a, const T* b, T* out)
//       out=0 cond=1 a=2 b=3
//   tess_td_reduce_<op>_<t>(i64 rows, i64 cols, const T* x, A* out)     one block (256) per row
//   tess_td_reducet_<op>_<t>(i64 rows, i64 cols, const T* x, A* out)    one thread per row
//       x is contiguous [rows, cols]; A is double for float t, i64 for the
//       others and for argmax/argmin (the index of the first maximum; the
//       first NaN wins)
//   tess_td_softmax_<t>(i64 rows, i64 cols, const T* x, T* y, int log)  one block (256) per row
//   tess_td_gather_x<S>(i64 n, TessStrided4 d, const T* src, const i64* idx, T* out,
//                       i64 axis_len, i64 axis_stride, int* err)
//       over out's shape: out=0 idx=1 src=2 (src's stride on the axis set to 0);
//       out[o0] = src[o2 + idx[o1]*axis_stride]; an index outside
//       [0, axis_len) is skipped and sets *err = 1
//   tess_td_scatter_add_<t>(i64 n, TessStrided4 d, const T* src, const i64* idx, T* dst,
//                           i64 axis_len, i64 axis_stride, int* err)
//       over src's shape: src=0 idx=1 dst=2 (dst's axis stride 0); atomicAdd
//   tess_td_rand_<t>(i64 n, TessStrided4 d, u64 seed, u64 offset, int dist, int rdt,
//                    double p0, double p1, double top, T* out)            out=0
//       t in f32, f64; dist: 0 uniform, 1 normal, 2 bernoulli, 3 randint;
//       rdt is the dtype the value is for (0 f32, 1 f64, 2 bf16, 3 f16,
//       other: no clamp); a uniform draw that rounds to >= p1 in rdt
//       becomes top (the largest rdt value below p1).
#include "tess_common.cuh"
#include "tess_convert.cuh"
#include "tess_philox.cuh"

typedef unsigned char u8;

struct TessStrided4 {
  int ndim;
  int pad_;
  i64 shape[TESS_MAXDIM];
  i64 stride[4][TESS_MAXDIM];  // slot k: operand k's strides in elements
};

template <int K>
__device__ __forceinline__ void td_offsets(const TessStrided4& d, i64 i, i64* o) {
#pragma unroll
  for (int k = 0; k < K; k++) o[k] = 0;
#pragma unroll 1
  for (int j = d.ndim - 1; j >= 0; j--) {
    i64 s = d.shape[j];
    i64 q = i / s;
    i64 r = i - q * s;
    i = q;
#pragma unroll
    for (int k = 0; k < K; k++) o[k] += r * d.stride[k][j];
  }
}

// ---------------- storage types and conversions ----------------
struct TF32 { typedef float S; typedef float W; };
struct TF64 { typedef double S; typedef double W; };
struct TF16 { typedef u16 S; typedef float W; };
struct TBF16 { typedef u16 S; typedef float W; };
struct TI32 { typedef int S; typedef i64 W; };
struct TI64 { typedef i64 S; typedef i64 W; };
struct TBOOL { typedef u8 S; typedef i64 W; };

// Exact loads of float types into float/double.
__device__ __forceinline__ float ldf(TF32, float x) { return x; }
__device__ __forceinline__ double ldf(TF64, double x) { return x; }
__device__ __forceinline__ float ldf(TF16, u16 x) { return f16_to_f32(x); }
__device__ __forceinline__ float ldf(TBF16, u16 x) { return bf16_to_f32(x); }

// Stores of a float / double into a float storage type, rounded once.
__device__ __forceinline__ float stf(TF32, float x) { return x; }
__device__ __forceinline__ float stf(TF32, double x) { return (float)x; }
__device__ __forceinline__ double stf(TF64, double x) { return x; }
__device__ __forceinline__ double stf(TF64, float x) { return (double)x; }
__device__ __forceinline__ u16 stf(TF16, float x) { return f32_to_f16(x); }
__device__ __forceinline__ u16 stf(TF16, double x) { return f32_to_f16(f64_to_f32_odd(x)); }
__device__ __forceinline__ u16 stf(TBF16, float x) { return f32_to_bf16(x); }
__device__ __forceinline__ u16 stf(TBF16, double x) { return f32_to_bf16(f64_to_f32_odd(x)); }

// i64 -> float rounded toward zero with the last bit set when inexact
// (round to odd), exact for every i64: the second rounding, to f16/bf16,
// is then the correctly rounded one (tensor.int64ToOdd32).
__device__ __forceinline__ float i64_to_f32_odd(i64 x) {
  u64 u = x < 0 ? (u64)0 - (u64)x : (u64)x;
  int n = 64 - __clzll((long long)u);
  if (n > 24) {
    int sh = n - 24;
    bool sticky = (u & ((1ull << sh) - 1)) != 0;
    u >>= sh;
    if (sticky) u |= 1;
    u <<= sh;
  }
  float f = __ull2float_rz(u);  // exact: at most 24 significant bits
  return x < 0 ? -f : f;
}

// Cast<S, D>::f: one conversion with the CPU device's semantics.
template <typename S, typename D> struct Cast;
// to bool: x != 0 (NaN is true)
template <typename S> struct Cast<S, TBOOL> {
  __device__ static u8 f(typename S::S x) { return x != 0 ? 1 : 0; }
};
template <> struct Cast<TF16, TBOOL> { __device__ static u8 f(u16 x) { return (x & 0x7fffu) != 0 ? 1 : 0; } };
template <> struct Cast<TBF16, TBOOL> { __device__ static u8 f(u16 x) { return (x & 0x7fffu) != 0 ? 1 : 0; } };
// from bool
template <> struct Cast<TBOOL, TF32> { __device__ static float f(u8 x) { return x ? 1.0f : 0.0f; } };
template <> struct Cast<TBOOL, TF64> { __device__ static double f(u8 x) { return x ? 1.0 : 0.0; } };
template <> struct Cast<TBOOL, TF16> { __device__ static u16 f(u8 x) { return x ? 0x3c00 : 0; } };
template <> struct Cast<TBOOL, TBF16> { __device__ static u16 f(u8 x) { return x ? 0x3f80 : 0; } };
template <> struct Cast<TBOOL, TI32> { __device__ static int f(u8 x) { return x ? 1 : 0; } };
template <> struct Cast<TBOOL, TI64> { __device__ static i64 f(u8 x) { return x ? 1 : 0; } };
// float sources (f32, f16, bf16 widen exactly to float; f64 is double)
#define FLOAT_SRC(SRC)                                                                                  \
  template <> struct Cast<SRC, TF32> { __device__ static float f(SRC::S x) { return (float)ldf(SRC(), x); } }; \
  template <> struct Cast<SRC, TF64> { __device__ static double f(SRC::S x) { return (double)ldf(SRC(), x); } }; \
  template <> struct Cast<SRC, TF16> { __device__ static u16 f(SRC::S x) { return stf(TF16(), ldf(SRC(), x)); } }; \
  template <> struct Cast<SRC, TBF16> { __device__ static u16 f(SRC::S x) { return stf(TBF16(), ldf(SRC(), x)); } }; \
  template <> struct Cast<SRC, TI32> { __device__ static int f(SRC::S x) { return __double2int_rz((double)ldf(SRC(), x)); } }; \
  template <> struct Cast<SRC, TI64> { __device__ static i64 f(SRC::S x) { return __double2ll_rz((double)ldf(SRC(), x)); } };
FLOAT_SRC(TF32)
FLOAT_SRC(TF64)
FLOAT_SRC(TF16)
FLOAT_SRC(TBF16)
// integer sources
template <> struct Cast<TI32, TF32> { __device__ static float f(int x) { return __int2float_rn(x); } };
template <> struct Cast<TI32, TF64> { __device__ static double f(int x) { return (double)x; } };
template <> struct Cast<TI32, TF16> { __device__ static u16 f(int x) { return stf(TF16(), (double)x); } };
template <> struct Cast<TI32, TBF16> { __device__ static u16 f(int x) { return stf(TBF16(), (double)x); } };
template <> struct Cast<TI32, TI32> { __device__ static int f(int x) { return x; } };
template <> struct Cast<TI32, TI64> { __device__ static i64 f(int x) { return (i64)x; } };
template <> struct Cast<TI64, TF32> { __device__ static float f(i64 x) { return __ll2float_rn(x); } };
template <> struct Cast<TI64, TF64> { __device__ static double f(i64 x) { return __ll2double_rn(x); } };
template <> struct Cast<TI64, TF16> { __device__ static u16 f(i64 x) { return f32_to_f16(i64_to_f32_odd(x)); } };
template <> struct Cast<TI64, TBF16> { __device__ static u16 f(i64 x) { return f32_to_bf16(i64_to_f32_odd(x)); } };
template <> struct Cast<TI64, TI32> { __device__ static int f(i64 x) { return (int)(unsigned int)(u64)x; } };
template <> struct Cast<TI64, TI64> { __device__ static i64 f(i64 x) { return x; } };

#define DEF_CAST(sn, SRC, dn, DST)                                                                     \
  extern "C" __global__ void tess_td_cast_##sn##_##dn(i64 n, TessStrided4 d, const SRC::S* a, DST::S* out) { \
    GRID_STRIDE_LOOP(i, n) {                                                                           \
      i64 o[2];                                                                                        \
      td_offsets<2>(d, i, o);                                                                          \
      out[o[0]] = Cast<SRC, DST>::f(a[o[1]]);                                                          \
    }                                                                                                  \
  }
#define DEF_CAST_FROM(sn, SRC)                                                                         \
  DEF_CAST(sn, SRC, f32, TF32) DEF_CAST(sn, SRC, f64, TF64) DEF_CAST(sn, SRC, f16, TF16)               \
  DEF_CAST(sn, SRC, bf16, TBF16) DEF_CAST(sn, SRC, i32, TI32) DEF_CAST(sn, SRC, i64, TI64)              \
  DEF_CAST(sn, SRC, bool, TBOOL)
DEF_CAST_FROM(f32, TF32)
DEF_CAST_FROM(f64, TF64)
DEF_CAST_FROM(f16, TF16)
DEF_CAST_FROM(bf16, TBF16)
DEF_CAST_FROM(i32, TI32)
DEF_CAST_FROM(i64, TI64)
template <> struct Cast<TBOOL, TBOOL> { __device__ static u8 f(u8 x) { return x; } };
DEF_CAST(bool, TBOOL, f32, TF32)
DEF_CAST(bool, TBOOL, f64, TF64)
DEF_CAST(bool, TBOOL, f16, TF16)
DEF_CAST(bool, TBOOL, bf16, TBF16)
DEF_CAST(bool, TBOOL, i32, TI32)
DEF_CAST(bool, TBOOL, i64, TI64)

// ---------------- copy, fill, where, gather: bits by element size ----------------
#define DEF_MOVE(sz, T)                                                                                 \
  extern "C" __global__ void tess_td_copy_x##sz(i64 n, TessStrided4 d, const T* a, T* out) {           \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[2];                                                                                         \
      td_offsets<2>(d, i, o);                                                                           \
      out[o[0]] = a[o[1]];                                                                              \
    }                                                                                                   \
  }                                                                                                     \
  extern "C" __global__ void tess_td_fill_x##sz(i64 n, TessStrided4 d, u64 bits, T* out) {             \
    T v = (T)bits;                                                                                      \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[1];                                                                                         \
      td_offsets<1>(d, i, o);                                                                           \
      out[o[0]] = v;                                                                                    \
    }                                                                                                   \
  }                                                                                                     \
  extern "C" __global__ void tess_td_where_x##sz(i64 n, TessStrided4 d, const u8* cond, const T* a,    \
                                                 const T* b, T* out) {                                  \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[4];                                                                                         \
      td_offsets<4>(d, i, o);                                                                           \
      out[o[0]] = cond[o[1]] ? a[o[2]] : b[o[3]];                                                       \
    }                                                                                                   \
  }                                                                                                     \
  extern "C" __global__ void tess_td_gather_x##sz(i64 n, TessStrided4 d, const T* src, const i64* idx, \
                                                  T* out, i64 axis_len, i64 axis_stride, int* err) {    \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      i64 s = idx[o[1]];                                                                                \
      if (s < 0 || s >= axis_len) {                                                                     \
        if (err) *err = 1;                                                                              \
        continue;                                                                                       \
      }                                                                                                 \
      out[o[0]] = src[o[2] + s * axis_stride];                                                          \
    }                                                                                                   \
  }
DEF_MOVE(1, u8)
DEF_MOVE(2, u16)
DEF_MOVE(4, unsigned int)
DEF_MOVE(8, u64)

// ---------------- unary ----------------
// Float ops in double (x is the exactly widened input).
__device__ __forceinline__ double td_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}
__device__ __forceinline__ double td_sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }
__device__ __forceinline__ double td_pow_scalar(double x, double p) {
  if (p == 2) return x * x;
  if (p == 1) return x;
  if (p == 0.5) return sqrt(x);
  return pow(x, p);
}
__device__ __forceinline__ double td_clamp(double x, double lo, double hi) {
  double v = (x != x || x > lo) ? x : lo;  // max(x, lo), NaN kept
  return (v != v || v < hi) ? v : hi;      // min(v, hi)
}

#define FLOAT_UNARY_OPS(X)                                                         \
  X(neg, -x)                                                                       \
  X(abs, fabs(x))                                                                  \
  X(sign, td_sign(x))                                                              \
  X(exp, exp(x))                                                                   \
  X(log, log(x))                                                                   \
  X(log1p, log1p(x))                                                               \
  X(sqrt, sqrt(x))                                                                 \
  X(rsqrt, 1.0 / sqrt(x))                                                          \
  X(sin, sin(x))                                                                   \
  X(cos, cos(x))                                                                   \
  X(tanh, tanh(x))                                                                 \
  X(sigmoid, td_sigmoid(x))                                                        \
  X(relu, (x > 0 ? x : 0.0))                                                       \
  X(gelu_tanh, 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))) \
  X(gelu_erf, 0.5 * x * (1.0 + erf(x / 1.4142135623730951)))                       \
  X(pow_scalar, td_pow_scalar(x, p0))                                              \
  X(clamp, td_clamp(x, p0, p1))                                                    \
  X(square, x * x)                                                                 \
  X(recip, 1.0 / x)                                                                \
  X(affine, p0 * x + p1)                                                           \
  X(floor, floor(x))                                                               \
  X(ceil, ceil(x))                                                                 \
  X(round, rint(x))                                                                \
  X(erf, erf(x))                                                                   \
  X(leaky_relu, (x < 0 ? x * p0 : x))                                              \
  X(step, (x > 0 ? 1.0 : 0.0))

#define DEF_FUNARY_T(name, tn, TT)                                                                     \
  extern "C" __global__ void tess_td_unary_##name##_##tn(i64 n, TessStrided4 d, const TT::S* a, TT::S* out, \
                                                         double p0, double p1) {                       \
    GRID_STRIDE_LOOP(i, n) {                                                                           \
      i64 o[2];                                                                                        \
      td_offsets<2>(d, i, o);                                                                          \
      out[o[0]] = stf(TT(), td_u_##name((double)ldf(TT(), a[o[1]]), p0, p1));                          \
    }                                                                                                  \
  }
#define DEF_FUNARY(name, expr)                                                                         \
  __device__ __forceinline__ double td_u_##name(double x, double p0, double p1) { return expr; }        \
  DEF_FUNARY_T(name, f32, TF32) DEF_FUNARY_T(name, f64, TF64) DEF_FUNARY_T(name, f16, TF16)             \
  DEF_FUNARY_T(name, bf16, TBF16)
FLOAT_UNARY_OPS(DEF_FUNARY)

// Integer unary ops (wrapping arithmetic through u64). p0/p1 are already
// converted to the element type by the host (clamp bounds saturated).
#define INT_UNARY_OPS(X)                                                     \
  X(neg, (T)((u64)0 - (u64)x))                                               \
  X(abs, (x < 0 ? (T)((u64)0 - (u64)x) : x))                                 \
  X(sign, (T)(x > 0 ? 1 : (x < 0 ? -1 : 0)))                                 \
  X(square, (T)((u64)x * (u64)x))                                            \
  X(relu, (x > 0 ? x : (T)0))                                                \
  X(step, (T)(x > 0 ? 1 : 0))                                                \
  X(clamp, (x < (T)p0 ? (T)p0 : (x > (T)p1 ? (T)p1 : x)))                    \
  X(affine, (T)((u64)(T)p0 * (u64)x + (u64)(T)p1))                           \
  X(leaky_relu, (x < 0 ? (T)((u64)x * (u64)(T)p0) : x))                      \
  X(identity, x)

#define DEF_IUNARY_T(name, tn, T0)                                                                      \
  extern "C" __global__ void tess_td_iunary_##name##_##tn(i64 n, TessStrided4 d, const T0* a, T0* out,  \
                                                          i64 p0, i64 p1) {                             \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[2];                                                                                         \
      td_offsets<2>(d, i, o);                                                                           \
      out[o[0]] = td_iu_##name<T0>(a[o[1]], p0, p1);                                                    \
    }                                                                                                   \
  }
#define DEF_IUNARY(name, expr)                                                                          \
  template <typename T> __device__ __forceinline__ T td_iu_##name(T x, i64 p0, i64 p1) { return expr; }  \
  DEF_IUNARY_T(name, i32, int) DEF_IUNARY_T(name, i64, i64)
INT_UNARY_OPS(DEF_IUNARY)

extern "C" __global__ void tess_td_not_bool(i64 n, TessStrided4 d, const u8* a, u8* out) {
  GRID_STRIDE_LOOP(i, n) {
    i64 o[2];
    td_offsets<2>(d, i, o);
    out[o[0]] = a[o[1]] ? 0 : 1;
  }
}

// ---------------- binary ----------------
// Float arithmetic in W (float for f32/f16/bf16, double for f64); pow in double.
template <typename W> __device__ __forceinline__ W td_maxv(W x, W y) { return (x != x || x > y) ? x : y; }
template <typename W> __device__ __forceinline__ W td_minv(W x, W y) { return (x != x || x < y) ? x : y; }

#define FLOAT_BINARY_OPS(X)                 \
  X(add, x + y)                             \
  X(sub, x - y)                             \
  X(mul, x * y)                             \
  X(div, x / y)                             \
  X(maximum, td_maxv(x, y))                 \
  X(minimum, td_minv(x, y))                 \
  X(pow, (W)pow((double)x, (double)y))

#define DEF_FBINARY_T(name, tn, TT)                                                                     \
  extern "C" __global__ void tess_td_binary_##name##_##tn(i64 n, TessStrided4 d, const TT::S* a,        \
                                                          const TT::S* b, TT::S* out, int* err) {       \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      out[o[0]] = stf(TT(), td_b_##name<TT::W>(ldf(TT(), a[o[1]]), ldf(TT(), b[o[2]])));                \
    }                                                                                                   \
  }
#define DEF_FBINARY(name, expr)                                                                         \
  template <typename W> __device__ __forceinline__ W td_b_##name(W x, W y) { return expr; }             \
  DEF_FBINARY_T(name, f32, TF32) DEF_FBINARY_T(name, f64, TF64) DEF_FBINARY_T(name, f16, TF16)          \
  DEF_FBINARY_T(name, bf16, TBF16)
FLOAT_BINARY_OPS(DEF_FBINARY)

// Integer arithmetic: wrapping add/sub/mul, truncating division, pow through double.
#define INT_BINARY_OPS(X)                                                          \
  X(add, (T)((u64)x + (u64)y))                                                     \
  X(sub, (T)((u64)x - (u64)y))                                                     \
  X(mul, (T)((u64)x * (u64)y))                                                     \
  X(div, td_idiv(x, y, err))                                                       \
  X(maximum, (x > y ? x : y))                                                      \
  X(minimum, (x < y ? x : y))                                                      \
  X(pow, (T)__double2ll_rz(pow((double)x, (double)y)))

template <typename T> __device__ __forceinline__ T td_idiv(T x, T y, int* err) {
  if (y == 0) {
    if (err) *err = 1;
    return 0;
  }
  if (y == -1) return (T)((u64)0 - (u64)x);  // no trap on MIN / -1: wraps, as Go
  return x / y;
}

#define DEF_IBINARY_T(name, tn, T0)                                                                     \
  extern "C" __global__ void tess_td_binary_##name##_##tn(i64 n, TessStrided4 d, const T0* a,           \
                                                          const T0* b, T0* out, int* err) {             \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      out[o[0]] = td_ib_##name<T0>(a[o[1]], b[o[2]], err);                                              \
    }                                                                                                   \
  }
#define DEF_IBINARY(name, expr)                                                                         \
  template <typename T> __device__ __forceinline__ T td_ib_##name(T x, T y, int* err) { return expr; }  \
  DEF_IBINARY_T(name, i32, int) DEF_IBINARY_T(name, i64, i64)
INT_BINARY_OPS(DEF_IBINARY)

// Comparisons write bool. Floats compare in W (exact), NaN compares false except ne.
#define CMP_OPS(X) X(eq, ==) X(ne, !=) X(lt, <) X(le, <=) X(gt, >) X(ge, >=)
#define DEF_CMP_F(name, OP, tn, TT)                                                                     \
  extern "C" __global__ void tess_td_cmp_##name##_##tn(i64 n, TessStrided4 d, const TT::S* a,           \
                                                       const TT::S* b, u8* out) {                       \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      out[o[0]] = (ldf(TT(), a[o[1]]) OP ldf(TT(), b[o[2]])) ? 1 : 0;                                   \
    }                                                                                                   \
  }
#define DEF_CMP_I(name, OP, tn, T0)                                                                     \
  extern "C" __global__ void tess_td_cmp_##name##_##tn(i64 n, TessStrided4 d, const T0* a, const T0* b, \
                                                       u8* out) {                                       \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      out[o[0]] = (a[o[1]] OP b[o[2]]) ? 1 : 0;                                                         \
    }                                                                                                   \
  }
#define DEF_CMP(name, OP)                                                                               \
  DEF_CMP_F(name, OP, f32, TF32) DEF_CMP_F(name, OP, f64, TF64) DEF_CMP_F(name, OP, f16, TF16)          \
  DEF_CMP_F(name, OP, bf16, TBF16) DEF_CMP_I(name, OP, i32, int) DEF_CMP_I(name, OP, i64, i64)
CMP_OPS(DEF_CMP)
// bool: eq and ne only (as the CPU device)
DEF_CMP_I(eq, ==, bool, u8)
DEF_CMP_I(ne, !=, bool, u8)

#define DEF_LOGIC(name, expr)                                                                           \
  extern "C" __global__ void tess_td_logic_##name##_bool(i64 n, TessStrided4 d, const u8* a, const u8* b, \
                                                         u8* out) {                                     \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      bool x = a[o[1]] != 0, y = b[o[2]] != 0;                                                          \
      out[o[0]] = (expr) ? 1 : 0;                                                                       \
    }                                                                                                   \
  }
DEF_LOGIC(and, x && y)
DEF_LOGIC(or, x || y)
DEF_LOGIC(xor, x != y)

// ---------------- reductions ----------------
// Accumulator: (value, index). idx < 0 marks "no element yet".
template <typename A> struct Acc {
  A v;
  i64 idx;
};
template <typename A> __device__ __forceinline__ bool td_isnan(A v) { return v != v; }

// Combines two partial results over disjoint ranges. OP: 0 sum, 1 prod,
// 2 max, 3 min (arg variants use max/min with the index).
template <int OP, typename A>
__device__ __forceinline__ Acc<A> td_combine(Acc<A> a, Acc<A> b) {
  if (b.idx < 0) return a;
  if (a.idx < 0) return b;
  Acc<A> r;
  r.idx = a.idx < b.idx ? a.idx : b.idx;
  if (OP == 0) {
    r.v = a.v + b.v;
    return r;
  }
  if (OP == 1) {
    r.v = a.v * b.v;
    return r;
  }
  bool an = td_isnan(a.v), bn = td_isnan(b.v);
  if (an || bn) {
    if (an && bn) return a.idx < b.idx ? a : b;  // the first NaN
    return an ? a : b;
  }
  bool better = OP == 2 ? (a.v > b.v) : (a.v < b.v);
  bool worse = OP == 2 ? (a.v < b.v) : (a.v > b.v);
  if (better) return a;
  if (worse) return b;
  return a.idx < b.idx ? a : b;  // ties: the first occurrence
}

template <typename TT> struct AccOf { typedef double A; };
template <> struct AccOf<TI32> { typedef i64 A; };
template <> struct AccOf<TI64> { typedef i64 A; };
template <> struct AccOf<TBOOL> { typedef i64 A; };

template <typename TT> __device__ __forceinline__ typename AccOf<TT>::A td_load_acc(typename TT::S x) {
  return (typename AccOf<TT>::A)x;
}
template <> __device__ __forceinline__ double td_load_acc<TF16>(u16 x) { return (double)f16_to_f32(x); }
template <> __device__ __forceinline__ double td_load_acc<TBF16>(u16 x) { return (double)bf16_to_f32(x); }
template <> __device__ __forceinline__ i64 td_load_acc<TBOOL>(u8 x) { return x ? 1 : 0; }

// Wrapping integer product for i64 accumulators.
__device__ __forceinline__ i64 td_mulacc(i64 a, i64 b) { return (i64)((u64)a * (u64)b); }
__device__ __forceinline__ double td_mulacc(double a, double b) { return a * b; }

template <int OP, typename A> __device__ __forceinline__ Acc<A> td_step(Acc<A> r, A v, i64 c) {
  if (r.idx < 0) {
    r.v = v;
    r.idx = c;
    return r;
  }
  if (OP == 0) {
    r.v += v;
    return r;
  }
  if (OP == 1) {
    r.v = td_mulacc(r.v, v);
    return r;
  }
  Acc<A> b;
  b.v = v;
  b.idx = c;
  return td_combine<OP, A>(r, b);
}

template <int OP, typename A> __device__ __forceinline__ Acc<A> td_combine_any(Acc<A> a, Acc<A> b) {
  if (OP == 1 && a.idx >= 0 && b.idx >= 0) {
    Acc<A> r;
    r.idx = a.idx < b.idx ? a.idx : b.idx;
    r.v = td_mulacc(a.v, b.v);
    return r;
  }
  return td_combine<OP, A>(a, b);
}

// One block per row; blockDim.x a power of two <= 256.
template <typename TT, int OP, bool ARG>
__device__ void td_reduce_block(i64 rows, i64 cols, const typename TT::S* x, void* outp) {
  typedef typename AccOf<TT>::A A;
  __shared__ A sv[256];
  __shared__ i64 si[256];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename TT::S* row = x + r * cols;
    Acc<A> acc;
    acc.v = 0;
    acc.idx = -1;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) acc = td_step<OP, A>(acc, td_load_acc<TT>(row[c]), c);
    __syncthreads();
    sv[threadIdx.x] = acc.v;
    si[threadIdx.x] = acc.idx;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        Acc<A> a, b;
        a.v = sv[threadIdx.x];
        a.idx = si[threadIdx.x];
        b.v = sv[threadIdx.x + s];
        b.idx = si[threadIdx.x + s];
        a = td_combine_any<OP, A>(a, b);
        sv[threadIdx.x] = a.v;
        si[threadIdx.x] = a.idx;
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      if (ARG) {
        ((i64*)outp)[r] = si[0];
      } else {
        ((A*)outp)[r] = sv[0];
      }
    }
  }
}

// One thread per row (short rows).
template <typename TT, int OP, bool ARG>
__device__ void td_reduce_thread(i64 rows, i64 cols, const typename TT::S* x, void* outp) {
  typedef typename AccOf<TT>::A A;
  GRID_STRIDE_LOOP(r, rows) {
    const typename TT::S* row = x + r * cols;
    Acc<A> acc;
    acc.v = 0;
    acc.idx = -1;
    for (i64 c = 0; c < cols; c++) acc = td_step<OP, A>(acc, td_load_acc<TT>(row[c]), c);
    if (ARG) {
      ((i64*)outp)[r] = acc.idx;
    } else {
      ((A*)outp)[r] = acc.v;
    }
  }
}

#define DEF_REDUCE_OP(name, OP, ARG, tn, TT)                                                            \
  extern "C" __global__ void tess_td_reduce_##name##_##tn(i64 rows, i64 cols, const TT::S* x, void* out) { \
    td_reduce_block<TT, OP, ARG>(rows, cols, x, out);                                                   \
  }                                                                                                     \
  extern "C" __global__ void tess_td_reducet_##name##_##tn(i64 rows, i64 cols, const TT::S* x, void* out) { \
    td_reduce_thread<TT, OP, ARG>(rows, cols, x, out);                                                  \
  }
#define DEF_REDUCE(tn, TT)                                                                              \
  DEF_REDUCE_OP(sum, 0, false, tn, TT)                                                                  \
  DEF_REDUCE_OP(prod, 1, false, tn, TT)                                                                 \
  DEF_REDUCE_OP(max, 2, false, tn, TT)                                                                  \
  DEF_REDUCE_OP(min, 3, false, tn, TT)                                                                  \
  DEF_REDUCE_OP(argmax, 2, true, tn, TT)                                                                \
  DEF_REDUCE_OP(argmin, 3, true, tn, TT)
DEF_REDUCE(f32, TF32)
DEF_REDUCE(f64, TF64)
DEF_REDUCE(f16, TF16)
DEF_REDUCE(bf16, TBF16)
DEF_REDUCE(i32, TI32)
DEF_REDUCE(i64, TI64)
DEF_REDUCE(bool, TBOOL)

// ---------------- softmax ----------------
// One block per row (blockDim.x a power of two <= 256), in double; a row
// whose maximum is -inf uses 0 as its shift (so an all -inf row gives NaN,
// as on the CPU).
template <typename TT>
__device__ void td_softmax(i64 rows, i64 cols, const typename TT::S* x, typename TT::S* y, int logv) {
  __shared__ double sh[256];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const typename TT::S* xr = x + r * cols;
    typename TT::S* yr = y + r * cols;
    double m = t_neg_inf<double>();
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
      double v = (double)ldf(TT(), xr[c]);
      if (v > m || v != v) m = (m != m) ? m : v;
    }
    __syncthreads();
    sh[threadIdx.x] = m;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        double a = sh[threadIdx.x], b = sh[threadIdx.x + s];
        sh[threadIdx.x] = (a != a || a > b) ? a : b;
      }
      __syncthreads();
    }
    m = sh[0];
    if (m == t_neg_inf<double>()) m = 0;
    __syncthreads();
    double acc = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) acc += exp((double)ldf(TT(), xr[c]) - m);
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
      __syncthreads();
    }
    double sum = sh[0];
    if (logv) {
      double ls = log(sum);
      for (i64 c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = stf(TT(), ((double)ldf(TT(), xr[c]) - m) - ls);
    } else {
      double inv = 1.0 / sum;
      for (i64 c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = stf(TT(), exp((double)ldf(TT(), xr[c]) - m) * inv);
    }
    __syncthreads();
  }
}
#define DEF_SOFTMAX(tn, TT)                                                                             \
  extern "C" __global__ void tess_td_softmax_##tn(i64 rows, i64 cols, const TT::S* x, TT::S* y, int logv) { \
    td_softmax<TT>(rows, cols, x, y, logv);                                                             \
  }
DEF_SOFTMAX(f32, TF32)
DEF_SOFTMAX(f64, TF64)
DEF_SOFTMAX(f16, TF16)
DEF_SOFTMAX(bf16, TBF16)

// ---------------- scatter-add ----------------
__device__ __forceinline__ void td_atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void td_atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void td_atomic_add(int* p, int v) { atomicAdd(p, v); }
__device__ __forceinline__ void td_atomic_add(i64* p, i64 v) {
  atomicAdd((unsigned long long*)p, (unsigned long long)v);
}
#define DEF_SCATTER(tn, T)                                                                              \
  extern "C" __global__ void tess_td_scatter_add_##tn(i64 n, TessStrided4 d, const T* src, const i64* idx, \
                                                      T* dst, i64 axis_len, i64 axis_stride, int* err) { \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[3];                                                                                         \
      td_offsets<3>(d, i, o);                                                                           \
      i64 s = idx[o[1]];                                                                                \
      if (s < 0 || s >= axis_len) {                                                                     \
        if (err) *err = 1;                                                                              \
        continue;                                                                                       \
      }                                                                                                 \
      td_atomic_add(&dst[o[2] + s * axis_stride], src[o[0]]);                                           \
    }                                                                                                   \
  }
DEF_SCATTER(f32, float)
DEF_SCATTER(f64, double)
DEF_SCATTER(i32, int)
DEF_SCATTER(i64, i64)

// ---------------- random fill ----------------
__device__ __forceinline__ u32 td_word(u64 seed, u64 w) {
  TessU4 x = tess_philox_block(seed, w >> 2);
  return x.x[w & 3];
}
__device__ __forceinline__ double td_u24(u32 x) { return (double)(x >> 8) * 5.9604644775390625e-8; }

// x rounded to the dtype rdt (0 f32, 1 f64, 2 bf16, 3 f16).
__device__ __forceinline__ double td_round_to(int rdt, double v) {
  switch (rdt) {
    case 0:
      return (double)(float)v;
    case 2:
      return (double)bf16_to_f32(f32_to_bf16(f64_to_f32_odd(v)));
    case 3:
      return (double)f16_to_f32(f32_to_f16(f64_to_f32_odd(v)));
  }
  return v;
}

__device__ __forceinline__ double td_rand_value(i64 e, u64 seed, u64 off, int dist, int rdt, double p0,
                                                double p1, double top) {
  u64 ue = (u64)e;
  double v = 0;
  if (dist == 1) {  // normal
    u64 q = ue >> 1;
    u32 w1 = td_word(seed, off + 2 * q), w2 = td_word(seed, off + 2 * q + 1);
    double u1 = (double)((w1 >> 8) + 1u) * 5.9604644775390625e-8;
    double u2 = td_u24(w2);
    double r = sqrt(__dmul_rn(-2.0, log(u1)));
    double a = __dmul_rn(6.283185307179586, u2);
    double z = (ue & 1) ? __dmul_rn(r, sin(a)) : __dmul_rn(r, cos(a));
    return __dadd_rn(p0, __dmul_rn(p1, z));
  }
  if (dist == 0 && rdt == 1) {  // uniform float64: 53 bits from two words
    u32 hi = td_word(seed, off + 2 * ue), lo = td_word(seed, off + 2 * ue + 1);
    u64 bits = (((u64)hi << 32) | (u64)lo) >> 11;
    double u = (double)bits * 1.1102230246251565404236316680908203125e-16;
    return __dadd_rn(p0, __dmul_rn(u, __dsub_rn(p1, p0)));
  }
  u32 x = td_word(seed, off + ue);
  switch (dist) {
    case 0:
      v = __dadd_rn(p0, __dmul_rn(td_u24(x), __dsub_rn(p1, p0)));
      if (p1 > p0 && rdt != 1 && rdt >= 0 && rdt <= 3 && td_round_to(rdt, v) >= p1) v = top;
      return v;
    case 2:
      return td_u24(x) < p0 ? 1.0 : 0.0;
    case 3: {
      u64 span = __double2ull_rz(__dsub_rn(p1, p0));
      return __dadd_rn(p0, (double)(((u64)x * span) >> 32));
    }
  }
  return v;
}

#define DEF_RAND(tn, T)                                                                                 \
  extern "C" __global__ void tess_td_rand_##tn(i64 n, TessStrided4 d, u64 seed, u64 off, int dist, int rdt, \
                                               double p0, double p1, double top, T* out) {             \
    GRID_STRIDE_LOOP(i, n) {                                                                            \
      i64 o[1];                                                                                         \
      td_offsets<1>(d, i, o);                                                                           \
      out[o[0]] = (T)td_rand_value(i, seed, off, dist, rdt, p0, p1, top);                               \
    }                                                                                                   \
  }
DEF_RAND(f32, float)
DEF_RAND(f64, double)
