// Shared definitions for Tessera's CUDA kernels, included by every .cu file.
// Only what nvcc includes implicitly (cuda_runtime.h: math functions,
// intrinsics) is used; no other header.
//
// Conventions:
//  * every kernel is extern "C" and named tess_<op>_<dtype>;
//  * dtypes: f32 (float), f64 (double), f16 and bf16 (stored as uint16
//    bits), i32 (int), i64 (long long);
//  * element counts and indices are 64-bit (long long);
//  * kernels use grid-stride loops, so any grid size is correct;
//  * the host passes shapes/strides in a TessStrided struct by value.
#pragma once

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned short u16;

#define TESS_MAXDIM 8

// TessStrided describes up to three strided operands (out, a, b) over a
// common broadcast shape. Strides are in elements; a broadcast dimension has
// stride 0. Layout (264 bytes, 8-byte aligned) must match cuda.Strided in Go.
struct TessStrided {
  int ndim;
  int pad_;
  i64 shape[TESS_MAXDIM];
  i64 stride[3][TESS_MAXDIM];  // [0]: out, [1]: a, [2]: b
};

#define GRID_STRIDE_LOOP(i, n) \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// Offsets of the three operands for linear (row-major) element index i.
__device__ __forceinline__ void tess_offsets(const TessStrided& d, i64 i, i64* o0, i64* o1, i64* o2) {
  i64 a = 0, b = 0, c = 0;
  if (d.ndim == 1) {  // fast path: the host coalesces contiguous operands to 1-D
    *o0 = i * d.stride[0][0];
    *o1 = i * d.stride[1][0];
    *o2 = i * d.stride[2][0];
    return;
  }
#pragma unroll 1
  for (int k = d.ndim - 1; k >= 0; k--) {
    i64 s = d.shape[k];
    i64 q = i / s;
    i64 r = i - q * s;
    i = q;
    a += r * d.stride[0][k];
    b += r * d.stride[1][k];
    c += r * d.stride[2][k];
  }
  *o0 = a;
  *o1 = b;
  *o2 = c;
}

// Overloads so templates work for float and double.
__device__ __forceinline__ float t_exp(float x) { return expf(x); }
__device__ __forceinline__ double t_exp(double x) { return exp(x); }
__device__ __forceinline__ float t_log(float x) { return logf(x); }
__device__ __forceinline__ double t_log(double x) { return log(x); }
__device__ __forceinline__ float t_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double t_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float t_rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double t_rsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float t_sin(float x) { return sinf(x); }
__device__ __forceinline__ double t_sin(double x) { return sin(x); }
__device__ __forceinline__ float t_cos(float x) { return cosf(x); }
__device__ __forceinline__ double t_cos(double x) { return cos(x); }
__device__ __forceinline__ float t_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double t_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float t_erf(float x) { return erff(x); }
__device__ __forceinline__ double t_erf(double x) { return erf(x); }
__device__ __forceinline__ float t_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double t_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float t_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double t_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float t_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double t_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float t_floor(float x) { return floorf(x); }
__device__ __forceinline__ double t_floor(double x) { return floor(x); }
__device__ __forceinline__ float t_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double t_ceil(double x) { return ceil(x); }
__device__ __forceinline__ float t_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double t_abs(double x) { return fabs(x); }
// max/min propagate NaN (as torch.maximum does), unlike fmax/fmin.
template <typename T> __device__ __forceinline__ T t_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> __device__ __forceinline__ T t_min(T a, T b) { return (a != a || a < b) ? a : b; }

template <typename T> __device__ __forceinline__ T t_neg_inf();
template <> __device__ __forceinline__ float t_neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double t_neg_inf<double>() { return __longlong_as_double(0xfff0000000000000LL); }
template <typename T> __device__ __forceinline__ T t_pos_inf();
template <> __device__ __forceinline__ float t_pos_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double t_pos_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

// ---- warp/block reductions (blockDim.x a multiple of 32, <= 1024) ----
__device__ __forceinline__ float t_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double t_shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }

struct OpSum { template <typename T> __device__ T operator()(T a, T b) const { return a + b; } };
struct OpProd { template <typename T> __device__ T operator()(T a, T b) const { return a * b; } };
struct OpMax { template <typename T> __device__ T operator()(T a, T b) const { return t_max(a, b); } };
struct OpMin { template <typename T> __device__ T operator()(T a, T b) const { return t_min(a, b); } };

// Reduces v across the block; every thread gets the result. shm must hold
// 32 T values. Deterministic: a fixed tree for a given blockDim.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T identity, Op op, T* shm) {
#ifdef TESS_HOST_EMU
  return v;  // host emulation (cuda/emu_test.go) runs one thread per block
#endif
  for (int m = 16; m > 0; m >>= 1) v = op(v, t_shfl_xor(v, m));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shm may be in use by a previous reduction
  if (lane == 0) shm[warp] = v;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  v = (lane < nwarps) ? shm[lane] : identity;
  for (int m = 16; m > 0; m >>= 1) v = op(v, t_shfl_xor(v, m));
  return v;
}
