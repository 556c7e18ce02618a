// Row-wise kernels over a contiguous [rows, cols] view (the host permutes
// the reduced axis innermost and makes the input contiguous first).
// One block per row (grid-stride over rows); blockDim.x must be a multiple
// of 32 and at most 1024 (256 is a good default).
//
//   tess_reduce_<op>_<t>(i64 rows, i64 cols, const T* x, T* out, T scale)
//       out[r] = scale * op_{c} x[r, c],  op in sum, prod, max, min
//       (mean = sum with scale = 1/cols; pass scale = 1 otherwise)
//   tess_softmax_<t>(rows, cols, x, y)          y = softmax(x) per row
//   tess_log_softmax_<t>(rows, cols, x, y)      y = log_softmax(x) per row
//   tess_softmax_bwd_<t>(rows, cols, y, dy, dx)     dx = y * (dy - sum(dy*y))
//   tess_log_softmax_bwd_<t>(rows, cols, y, dy, dx) dx = dy - exp(y) * sum(dy)
//   tess_layernorm_fwd_<t>(rows, cols, x, gamma, beta, eps, y, mean, rstd)
//       gamma/beta may be null (no affine); mean/rstd: [rows], saved for bwd
//   tess_layernorm_bwd_dx_<t>(rows, cols, dy, x, mean, rstd, gamma, dx)
//   tess_layernorm_bwd_dgamma_<t>(rows, cols, dy, x, mean, rstd, dgamma, dbeta)
//       one thread per column; dgamma/dbeta may be null
//   tess_cross_entropy_fwd_<t>(rows, cols, logits, target(i64), ignore_index, loss, lse)
//       loss[r] = lse[r] - logits[r, target[r]]  (0 where target == ignore_index)
//   tess_cross_entropy_bwd_<t>(rows, cols, logits, target, ignore_index, lse, dloss, dlogits)
//       dlogits[r, c] = dloss[r] * (softmax[r, c] - (c == target[r]))
//
// Reductions accumulate in the element type (f32 in f32, f64 in f64) with a
// fixed per-thread strided order and a fixed shuffle tree, so results are
// deterministic for a given blockDim.
#include "tess_common.cuh"

#define ROW_LOOP(r, rows) for (i64 r = blockIdx.x; r < (rows); r += gridDim.x)

template <typename T, typename Op>
__device__ void reduce_rows(i64 rows, i64 cols, const T* x, T* out, T scale, T identity, Op op) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* row = x + r * cols;
    T acc = identity;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) acc = op(acc, row[c]);
    acc = block_reduce(acc, identity, op, shm);
    if (threadIdx.x == 0) out[r] = acc * scale;
  }
}

#define DEF_REDUCE(tn, T)                                                                                   \
  extern "C" __global__ void tess_reduce_sum_##tn(i64 rows, i64 cols, const T* x, T* out, T scale) {        \
    reduce_rows<T>(rows, cols, x, out, scale, T(0), OpSum());                                              \
  }                                                                                                         \
  extern "C" __global__ void tess_reduce_prod_##tn(i64 rows, i64 cols, const T* x, T* out, T scale) {       \
    reduce_rows<T>(rows, cols, x, out, scale, T(1), OpProd());                                             \
  }                                                                                                         \
  extern "C" __global__ void tess_reduce_max_##tn(i64 rows, i64 cols, const T* x, T* out, T scale) {        \
    reduce_rows<T>(rows, cols, x, out, scale, t_neg_inf<T>(), OpMax());                                    \
  }                                                                                                         \
  extern "C" __global__ void tess_reduce_min_##tn(i64 rows, i64 cols, const T* x, T* out, T scale) {        \
    reduce_rows<T>(rows, cols, x, out, scale, t_pos_inf<T>(), OpMin());                                    \
  }
DEF_REDUCE(f32, float)
DEF_REDUCE(f64, double)

template <typename T, bool LOG>
__device__ void softmax_rows(i64 rows, i64 cols, const T* x, T* y) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T m = t_neg_inf<T>();
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) m = t_max(m, xr[c]);
    m = block_reduce(m, t_neg_inf<T>(), OpMax(), shm);
    T s = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += t_exp(xr[c] - m);
    s = block_reduce(s, T(0), OpSum(), shm);
    if (LOG) {
      T ls = t_log(s);
      for (i64 c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] - m - ls;
    } else {
      T inv = T(1) / s;
      for (i64 c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = t_exp(xr[c] - m) * inv;
    }
  }
}

template <typename T, bool LOG>
__device__ void softmax_bwd_rows(i64 rows, i64 cols, const T* y, const T* dy, T* dx) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* yr = y + r * cols;
    const T* gr = dy + r * cols;
    T* dr = dx + r * cols;
    T s = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += LOG ? gr[c] : gr[c] * yr[c];
    s = block_reduce(s, T(0), OpSum(), shm);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
      dr[c] = LOG ? gr[c] - t_exp(yr[c]) * s : yr[c] * (gr[c] - s);
  }
}

#define DEF_SOFTMAX(tn, T)                                                                                  \
  extern "C" __global__ void tess_softmax_##tn(i64 rows, i64 cols, const T* x, T* y) {                      \
    softmax_rows<T, false>(rows, cols, x, y);                                                               \
  }                                                                                                         \
  extern "C" __global__ void tess_log_softmax_##tn(i64 rows, i64 cols, const T* x, T* y) {                  \
    softmax_rows<T, true>(rows, cols, x, y);                                                                \
  }                                                                                                         \
  extern "C" __global__ void tess_softmax_bwd_##tn(i64 rows, i64 cols, const T* y, const T* dy, T* dx) {    \
    softmax_bwd_rows<T, false>(rows, cols, y, dy, dx);                                                      \
  }                                                                                                         \
  extern "C" __global__ void tess_log_softmax_bwd_##tn(i64 rows, i64 cols, const T* y, const T* dy, T* dx) { \
    softmax_bwd_rows<T, true>(rows, cols, y, dy, dx);                                                       \
  }
DEF_SOFTMAX(f32, float)
DEF_SOFTMAX(f64, double)

// Layer norm: two-pass mean/variance per row (biased variance, as PyTorch).
template <typename T>
__device__ void layernorm_fwd(i64 rows, i64 cols, const T* x, const T* gamma, const T* beta, T eps,
                              T* y, T* mean, T* rstd) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T s = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += xr[c];
    T mu = block_reduce(s, T(0), OpSum(), shm) / T(cols);
    T v = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
      T d = xr[c] - mu;
      v += d * d;
    }
    T var = block_reduce(v, T(0), OpSum(), shm) / T(cols);
    T rs = T(1) / t_sqrt(var + eps);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
      T h = (xr[c] - mu) * rs;
      if (gamma) h *= gamma[c];
      if (beta) h += beta[c];
      yr[c] = h;
    }
    if (threadIdx.x == 0) {
      if (mean) mean[r] = mu;
      if (rstd) rstd[r] = rs;
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma.
template <typename T>
__device__ void layernorm_bwd_dx(i64 rows, i64 cols, const T* dy, const T* x, const T* mean, const T* rstd,
                                 const T* gamma, T* dx) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* xr = x + r * cols;
    const T* gr = dy + r * cols;
    T* dr = dx + r * cols;
    T mu = mean[r], rs = rstd[r];
    T s1 = 0, s2 = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
      T g = gamma ? gr[c] * gamma[c] : gr[c];
      s1 += g;
      s2 += g * (xr[c] - mu) * rs;
    }
    s1 = block_reduce(s1, T(0), OpSum(), shm) / T(cols);
    s2 = block_reduce(s2, T(0), OpSum(), shm) / T(cols);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
      T g = gamma ? gr[c] * gamma[c] : gr[c];
      T xh = (xr[c] - mu) * rs;
      dr[c] = rs * (g - s1 - xh * s2);
    }
  }
}

template <typename T>
__device__ void layernorm_bwd_dgamma(i64 rows, i64 cols, const T* dy, const T* x, const T* mean, const T* rstd,
                                     T* dgamma, T* dbeta) {
  GRID_STRIDE_LOOP(c, cols) {
    T sg = 0, sb = 0;
    for (i64 r = 0; r < rows; r++) {
      T g = dy[r * cols + c];
      sg += g * (x[r * cols + c] - mean[r]) * rstd[r];
      sb += g;
    }
    if (dgamma) dgamma[c] = sg;
    if (dbeta) dbeta[c] = sb;
  }
}

#define DEF_LAYERNORM(tn, T)                                                                               \
  extern "C" __global__ void tess_layernorm_fwd_##tn(i64 rows, i64 cols, const T* x, const T* gamma,       \
                                                     const T* beta, T eps, T* y, T* mean, T* rstd) {      \
    layernorm_fwd<T>(rows, cols, x, gamma, beta, eps, y, mean, rstd);                                     \
  }                                                                                                        \
  extern "C" __global__ void tess_layernorm_bwd_dx_##tn(i64 rows, i64 cols, const T* dy, const T* x,       \
                                                        const T* mean, const T* rstd, const T* gamma,     \
                                                        T* dx) {                                          \
    layernorm_bwd_dx<T>(rows, cols, dy, x, mean, rstd, gamma, dx);                                        \
  }                                                                                                        \
  extern "C" __global__ void tess_layernorm_bwd_dgamma_##tn(i64 rows, i64 cols, const T* dy, const T* x,   \
                                                            const T* mean, const T* rstd, T* dgamma,      \
                                                            T* dbeta) {                                   \
    layernorm_bwd_dgamma<T>(rows, cols, dy, x, mean, rstd, dgamma, dbeta);                                \
  }
DEF_LAYERNORM(f32, float)
DEF_LAYERNORM(f64, double)

// Cross-entropy = log-softmax + NLL, fused. lse[r] (log-sum-exp) is saved
// for the backward pass.
template <typename T>
__device__ void ce_fwd(i64 rows, i64 cols, const T* logits, const i64* target, i64 ignore, T* loss, T* lse) {
  __shared__ T shm[32];
  ROW_LOOP(r, rows) {
    const T* xr = logits + r * cols;
    T m = t_neg_inf<T>();
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) m = t_max(m, xr[c]);
    m = block_reduce(m, t_neg_inf<T>(), OpMax(), shm);
    T s = 0;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) s += t_exp(xr[c] - m);
    s = block_reduce(s, T(0), OpSum(), shm);
    if (threadIdx.x == 0) {
      T l = m + t_log(s);
      if (lse) lse[r] = l;
      i64 t = target[r];
      if (t == ignore || t < 0 || t >= cols) {
        loss[r] = T(0);  // out-of-range targets must be rejected on the host
      } else {
        loss[r] = l - xr[t];
      }
    }
  }
}

template <typename T>
__device__ void ce_bwd(i64 rows, i64 cols, const T* logits, const i64* target, i64 ignore, const T* lse,
                       const T* dloss, T* dlogits) {
  GRID_STRIDE_LOOP(i, rows * cols) {
    i64 r = i / cols, c = i - r * cols;
    i64 t = target[r];
    T g = (t == ignore) ? T(0) : dloss[r];
    T p = t_exp(logits[i] - lse[r]);
    dlogits[i] = g * (p - (c == t ? T(1) : T(0)));
  }
}

#define DEF_CE(tn, T)                                                                                        \
  extern "C" __global__ void tess_cross_entropy_fwd_##tn(i64 rows, i64 cols, const T* logits,                \
                                                         const i64* target, i64 ignore_index, T* loss,      \
                                                         T* lse) {                                          \
    ce_fwd<T>(rows, cols, logits, target, ignore_index, loss, lse);                                         \
  }                                                                                                          \
  extern "C" __global__ void tess_cross_entropy_bwd_##tn(i64 rows, i64 cols, const T* logits,                \
                                                         const i64* target, i64 ignore_index, const T* lse, \
                                                         const T* dloss, T* dlogits) {                      \
    ce_bwd<T>(rows, cols, logits, target, ignore_index, lse, dloss, dlogits);                               \
  }
DEF_CE(f32, float)
DEF_CE(f64, double)
