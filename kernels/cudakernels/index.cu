// Indexing and convolution-lowering kernels.
//
// gather / scatter-add along one axis of a contiguous [outer, dim, inner]
// view (torch.gather / Tensor.scatter_add_ semantics on that view):
//   tess_gather_<t>(i64 outer, i64 src_dim, i64 idx_dim, i64 inner,
//                   const T* src, const i64* idx, i64 is0, i64 is1, i64 is2,
//                   T* out, int* err)
//       out[o, j, k] = src[o, idx[o*is0 + j*is1 + k*is2], k]
//       for o < outer, j < idx_dim, k < inner. With is0 = is2 = 0, is1 = 1
//       this is index_select / embedding lookup.
//   tess_scatter_add_<t>(outer, dst_dim, idx_dim, inner, const T* src,
//                        idx, is0, is1, is2, T* dst, int* err)
//       dst[o, idx[...], k] += src[o, j, k]  (atomicAdd; order, and so
//       rounding, of colliding f32 adds is not deterministic)
//   An index outside [0, dim) is skipped and sets *err = 1 (err may be null).
//
// im2col / col2im for NCHW images (as Caffe/PyTorch):
//   tess_im2col_<t>(i64 n, i64 c, i64 h, i64 w, int kh, int kw, int sh, int sw,
//                   int ph, int pw, int dh, int dw, i64 oh, i64 ow, const T* im, T* col)
//       col[b, (ci*kh + ki)*kw + kj, y*ow + x] = im[b, ci, y*sh - ph + ki*dh, x*sw - pw + kj*dw]
//       (0 outside the image); col is [n, c*kh*kw, oh*ow]
//   tess_col2im_<t>(same geometry, const T* col, T* im)
//       the adjoint: im = sum of the col entries that read each pixel,
//       computed per pixel (deterministic, no atomics); overwrites im.
#include "tess_common.cuh"

__device__ __forceinline__ float atomic_add(float* p, float v) { return atomicAdd(p, v); }
__device__ __forceinline__ double atomic_add(double* p, double v) { return atomicAdd(p, v); }

template <typename T>
__device__ void gather(i64 outer, i64 sdim, i64 jdim, i64 inner, const T* src, const i64* idx, i64 is0,
                       i64 is1, i64 is2, T* out, int* err) {
  GRID_STRIDE_LOOP(i, outer * jdim * inner) {
    i64 k = i % inner;
    i64 t = i / inner;
    i64 j = t % jdim;
    i64 o = t / jdim;
    i64 s = idx[o * is0 + j * is1 + k * is2];
    if (s < 0 || s >= sdim) {
      if (err) *err = 1;
      continue;
    }
    out[i] = src[(o * sdim + s) * inner + k];
  }
}

template <typename T>
__device__ void scatter_add(i64 outer, i64 ddim, i64 jdim, i64 inner, const T* src, const i64* idx, i64 is0,
                            i64 is1, i64 is2, T* dst, int* err) {
  GRID_STRIDE_LOOP(i, outer * jdim * inner) {
    i64 k = i % inner;
    i64 t = i / inner;
    i64 j = t % jdim;
    i64 o = t / jdim;
    i64 s = idx[o * is0 + j * is1 + k * is2];
    if (s < 0 || s >= ddim) {
      if (err) *err = 1;
      continue;
    }
    atomic_add(&dst[(o * ddim + s) * inner + k], src[i]);
  }
}

template <typename T>
__device__ void im2col(i64 n, i64 c, i64 h, i64 w, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                       int dw, i64 oh, i64 ow, const T* im, T* col) {
  i64 rowsPerImage = c * kh * kw;
  GRID_STRIDE_LOOP(i, n * rowsPerImage * oh * ow) {
    i64 x = i % ow;
    i64 t = i / ow;
    i64 y = t % oh;
    t /= oh;
    i64 row = t % rowsPerImage;
    i64 b = t / rowsPerImage;
    i64 kj = row % kw;
    i64 ki = (row / kw) % kh;
    i64 ci = row / (kw * kh);
    i64 iy = y * sh - ph + ki * dh;
    i64 ix = x * sw - pw + kj * dw;
    col[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? im[((b * c + ci) * h + iy) * w + ix] : T(0);
  }
}

template <typename T>
__device__ void col2im(i64 n, i64 c, i64 h, i64 w, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                       int dw, i64 oh, i64 ow, const T* col, T* im) {
  GRID_STRIDE_LOOP(i, n * c * h * w) {
    i64 ix = i % w;
    i64 t = i / w;
    i64 iy = t % h;
    t /= h;
    i64 ci = t % c;
    i64 b = t / c;
    T acc = 0;
    for (int ki = 0; ki < kh; ki++) {
      i64 yy = iy + ph - (i64)ki * dh;  // = y*sh
      if (yy < 0 || yy % sh != 0) continue;
      i64 y = yy / sh;
      if (y >= oh) continue;
      for (int kj = 0; kj < kw; kj++) {
        i64 xx = ix + pw - (i64)kj * dw;
        if (xx < 0 || xx % sw != 0) continue;
        i64 x = xx / sw;
        if (x >= ow) continue;
        i64 row = (ci * kh + ki) * kw + kj;
        acc += col[((b * c * kh * kw + row) * oh + y) * ow + x];
      }
    }
    im[i] = acc;
  }
}

#define DEF_INDEX(tn, T)                                                                                     \
  extern "C" __global__ void tess_gather_##tn(i64 outer, i64 sdim, i64 jdim, i64 inner, const T* src,        \
                                              const i64* idx, i64 is0, i64 is1, i64 is2, T* out, int* err) { \
    gather<T>(outer, sdim, jdim, inner, src, idx, is0, is1, is2, out, err);                                  \
  }                                                                                                          \
  extern "C" __global__ void tess_scatter_add_##tn(i64 outer, i64 ddim, i64 jdim, i64 inner, const T* src,   \
                                                   const i64* idx, i64 is0, i64 is1, i64 is2, T* dst,        \
                                                   int* err) {                                               \
    scatter_add<T>(outer, ddim, jdim, inner, src, idx, is0, is1, is2, dst, err);                             \
  }                                                                                                          \
  extern "C" __global__ void tess_im2col_##tn(i64 n, i64 c, i64 h, i64 w, int kh, int kw, int sh, int sw,    \
                                              int ph, int pw, int dh, int dw, i64 oh, i64 ow, const T* im,  \
                                              T* col) {                                                      \
    im2col<T>(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, im, col);                                  \
  }                                                                                                          \
  extern "C" __global__ void tess_col2im_##tn(i64 n, i64 c, i64 h, i64 w, int kh, int kw, int sh, int sw,    \
                                              int ph, int pw, int dh, int dw, i64 oh, i64 ow, const T* col, \
                                              T* im) {                                                       \
    col2im<T>(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col, im);                                  \
  }
DEF_INDEX(f32, float)
DEF_INDEX(f64, double)
