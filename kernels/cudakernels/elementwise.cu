// Elementwise kernels: unary and binary ops with broadcasting over strided
// operands (TessStrided, up to 8 dims), strided copy, casts, fill.
//
//   tess_unary_<op>_<t>(i64 n, TessStrided d, const T* a, T* out)
//       out[off0(i)] = op(a[off1(i)]) for i in [0, n), n = prod(d.shape)
//   tess_binary_<op>_<t>(i64 n, TessStrided d, const T* a, const T* b, T* out)
//       out[off0(i)] = op(a[off1(i)], b[off2(i)]); comparison ops write 1 or 0
//   tess_copy_<t>(i64 n, TessStrided d, const T* a, T* out)   (any dtype)
//   tess_cast_<src>_<dst>(i64 n, TessStrided d, const S* a, D* out)
//   tess_fill_<t>(i64 n, T value, T* out)                      (contiguous)
//
// t in {f32, f64} for arithmetic; copy and cast cover f32 f64 f16 bf16 i32 i64.
#include "tess_common.cuh"
#include "tess_convert.cuh"

// ---------------- unary ----------------
#define UNARY_OPS(X)                                        \
  X(neg, -x)                                                \
  X(abs, t_abs(x))                                          \
  X(exp, t_exp(x))                                          \
  X(log, t_log(x))                                          \
  X(sqrt, t_sqrt(x))                                        \
  X(rsqrt, t_rsqrt(x))                                      \
  X(sin, t_sin(x))                                          \
  X(cos, t_cos(x))                                          \
  X(tanh, t_tanh(x))                                        \
  X(sigmoid, T(1) / (T(1) + t_exp(-x)))                     \
  X(relu, (x > T(0) ? x : (x != x ? x : T(0))))             \
  X(gelu, T(0.5) * x * (T(1) + t_erf(x * T(0.70710678118654752440)))) \
  X(silu, x / (T(1) + t_exp(-x)))                           \
  X(square, x * x)                                          \
  X(recip, T(1) / x)                                        \
  X(sign, (x > T(0) ? T(1) : (x < T(0) ? T(-1) : x)))       \
  X(floor, t_floor(x))                                      \
  X(ceil, t_ceil(x))                                        \
  X(log1p, t_log1p(x))                                      \
  X(expm1, t_expm1(x))

#define DEF_UNARY(name, expr)                                                        \
  template <typename T> __device__ __forceinline__ T u_##name(T x) { return expr; }  \
  extern "C" __global__ void tess_unary_##name##_f32(i64 n, TessStrided d, const float* a, float* out) { \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = u_##name<float>(a[p]); } \
  }                                                                                  \
  extern "C" __global__ void tess_unary_##name##_f64(i64 n, TessStrided d, const double* a, double* out) { \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = u_##name<double>(a[p]); } \
  }
UNARY_OPS(DEF_UNARY)

// ---------------- binary ----------------
#define BINARY_OPS(X)          \
  X(add, x + y)                \
  X(sub, x - y)                \
  X(mul, x * y)                \
  X(div, x / y)                \
  X(maximum, t_max(x, y))      \
  X(minimum, t_min(x, y))      \
  X(pow, t_pow(x, y))          \
  X(eq, T(x == y ? 1 : 0))     \
  X(ne, T(x != y ? 1 : 0))     \
  X(lt, T(x < y ? 1 : 0))      \
  X(le, T(x <= y ? 1 : 0))     \
  X(gt, T(x > y ? 1 : 0))      \
  X(ge, T(x >= y ? 1 : 0))

#define DEF_BINARY(name, expr)                                                               \
  template <typename T> __device__ __forceinline__ T b_##name(T x, T y) { return expr; }     \
  extern "C" __global__ void tess_binary_##name##_f32(i64 n, TessStrided d, const float* a,  \
                                                      const float* b, float* out) {          \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = b_##name<float>(a[p], b[q]); } \
  }                                                                                          \
  extern "C" __global__ void tess_binary_##name##_f64(i64 n, TessStrided d, const double* a, \
                                                      const double* b, double* out) {        \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = b_##name<double>(a[p], b[q]); } \
  }
BINARY_OPS(DEF_BINARY)

// ---------------- conversions (tess_convert.cuh) ----------------
// float -> f16/bf16 round to nearest even; float -> int truncates toward
// zero and saturates (NaN -> 0); i64 -> i32 keeps the low 32 bits (wraps,
// as C and PyTorch do); integers -> floats round to nearest even.
// Storage type and conversions to/from a "wide" value for each dtype.
struct F32 { typedef float S; };
struct F64 { typedef double S; };
struct F16 { typedef u16 S; };
struct BF16 { typedef u16 S; };
struct I32 { typedef int S; };
struct I64 { typedef i64 S; };

// cvt<Src, Dst>(x): one correctly rounded conversion.
template <typename Src, typename Dst> struct Cvt;
#define CVT(SRC, DST, body) \
  template <> struct Cvt<SRC, DST> { __device__ static DST::S f(SRC::S x) { body } };
// from f32
CVT(F32, F32, return x;)
CVT(F32, F64, return (double)x;)
CVT(F32, F16, return f32_to_f16(x);)
CVT(F32, BF16, return f32_to_bf16(x);)
CVT(F32, I32, return __float2int_rz(x);)
CVT(F32, I64, return __float2ll_rz(x);)
// from f64
CVT(F64, F32, return (float)x;)
CVT(F64, F64, return x;)
CVT(F64, F16, return f32_to_f16(f64_to_f32_odd(x));)
CVT(F64, BF16, return f32_to_bf16(f64_to_f32_odd(x));)
CVT(F64, I32, return __double2int_rz(x);)
CVT(F64, I64, return __double2ll_rz(x);)
// from f16 (exact to f32)
CVT(F16, F32, return f16_to_f32(x);)
CVT(F16, F64, return (double)f16_to_f32(x);)
CVT(F16, F16, return x;)
CVT(F16, BF16, return f32_to_bf16(f16_to_f32(x));)
CVT(F16, I32, return __float2int_rz(f16_to_f32(x));)
CVT(F16, I64, return __float2ll_rz(f16_to_f32(x));)
// from bf16 (exact to f32)
CVT(BF16, F32, return bf16_to_f32(x);)
CVT(BF16, F64, return (double)bf16_to_f32(x);)
CVT(BF16, F16, return f32_to_f16(bf16_to_f32(x));)
CVT(BF16, BF16, return x;)
CVT(BF16, I32, return __float2int_rz(bf16_to_f32(x));)
CVT(BF16, I64, return __float2ll_rz(bf16_to_f32(x));)
// from i32
CVT(I32, F32, return __int2float_rn(x);)
CVT(I32, F64, return (double)x;)
CVT(I32, F16, return f32_to_f16(f64_to_f32_odd((double)x));)
CVT(I32, BF16, return f32_to_bf16(f64_to_f32_odd((double)x));)
CVT(I32, I32, return x;)
CVT(I32, I64, return (i64)x;)
// from i64 (to f16/bf16 via round-to-odd double->float; i64->double itself
// rounds, so |x| > 2^53 may differ from a single rounding by one ulp of f16/bf16
// only in ties that cannot occur below 2^53)
CVT(I64, F32, return __ll2float_rn(x);)
CVT(I64, F64, return __ll2double_rn(x);)
CVT(I64, F16, return f32_to_f16(f64_to_f32_odd(__ll2double_rn(x)));)
CVT(I64, BF16, return f32_to_bf16(f64_to_f32_odd(__ll2double_rn(x)));)
CVT(I64, I32, return (int)x;)
CVT(I64, I64, return x;)

#define DEF_CAST(sn, SRC, dn, DST)                                                           \
  extern "C" __global__ void tess_cast_##sn##_##dn(i64 n, TessStrided d, const SRC::S* a, DST::S* out) { \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = Cvt<SRC, DST>::f(a[p]); } \
  }
#define DEF_CAST_FROM(sn, SRC) \
  DEF_CAST(sn, SRC, f32, F32)  \
  DEF_CAST(sn, SRC, f64, F64)  \
  DEF_CAST(sn, SRC, f16, F16)  \
  DEF_CAST(sn, SRC, bf16, BF16) \
  DEF_CAST(sn, SRC, i32, I32)  \
  DEF_CAST(sn, SRC, i64, I64)
DEF_CAST_FROM(f32, F32)
DEF_CAST_FROM(f64, F64)
DEF_CAST_FROM(f16, F16)
DEF_CAST_FROM(bf16, BF16)
DEF_CAST_FROM(i32, I32)
DEF_CAST_FROM(i64, I64)

// Strided copy (contiguous(), or any strided -> strided copy).
#define DEF_COPY(tn, TYPE)                                                                   \
  extern "C" __global__ void tess_copy_##tn(i64 n, TessStrided d, const TYPE* a, TYPE* out) { \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = a[p]; }  \
  }                                                                                          \
  extern "C" __global__ void tess_fill_##tn(i64 n, TYPE v, TYPE* out) {                      \
    GRID_STRIDE_LOOP(i, n) { out[i] = v; }                                                   \
  }
DEF_COPY(f32, float)
DEF_COPY(f64, double)
DEF_COPY(f16, u16)
DEF_COPY(bf16, u16)
DEF_COPY(i32, int)
DEF_COPY(i64, i64)

// where(cond, a, b) with broadcasting: cond is a strided operand sharing
// out's offsets (stride[0]) is not possible with 3 slots, so cond must be
// laid out like out (contiguous in the broadcast shape when out is).
#define DEF_WHERE(tn, TYPE)                                                                         \
  extern "C" __global__ void tess_where_##tn(i64 n, TessStrided d, const unsigned char* cond,      \
                                             const TYPE* a, const TYPE* b, TYPE* out) {            \
    GRID_STRIDE_LOOP(i, n) { i64 o, p, q; tess_offsets(d, i, &o, &p, &q); out[o] = cond[o] ? a[p] : b[q]; } \
  }
DEF_WHERE(f32, float)
DEF_WHERE(f64, double)
