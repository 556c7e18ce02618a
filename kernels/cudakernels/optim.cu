// Fused optimizer updates.
//
//   tess_adam_<t>(i64 n, T* p, const T* g, T* m, T* v, T lr, T beta1, T beta2,
//                 T eps, T weight_decay, T bc1, T bc2, int decoupled)
//   with bc1 = 1 - beta1^step, bc2 = 1 - beta2^step computed on the host
//   (in float64, then rounded to T):
//     decoupled == 0 (Adam, L2):  g' = g + weight_decay * p
//     decoupled == 1 (AdamW):     p  = p - lr * weight_decay * p   (before the step)
//     m = beta1*m + (1-beta1)*g';  v = beta2*v + (1-beta2)*g'*g'
//     p = p - lr * (m / bc1) / (sqrt(v / bc2) + eps)
//   This is torch.optim.Adam / AdamW (amsgrad=False, maximize=False).
#include "tess_common.cuh"

template <typename T>
__device__ void adam(i64 n, T* p, const T* g, T* m, T* v, T lr, T b1, T b2, T eps, T wd, T bc1, T bc2,
                     int decoupled) {
  GRID_STRIDE_LOOP(i, n) {
    T pi = p[i];
    T gi = g[i];
    if (decoupled) {
      pi = pi - lr * wd * pi;
    } else if (wd != T(0)) {
      gi = gi + wd * pi;
    }
    T mi = b1 * m[i] + (T(1) - b1) * gi;
    T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - lr * (mi / bc1) / (t_sqrt(vi / bc2) + eps);
  }
}

#define DEF_ADAM(tn, T)                                                                                  \
  extern "C" __global__ void tess_adam_##tn(i64 n, T* p, const T* g, T* m, T* v, T lr, T beta1, T beta2, \
                                            T eps, T weight_decay, T bc1, T bc2, int decoupled) {        \
    adam<T>(n, p, g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled);                    \
  }
DEF_ADAM(f32, float)
DEF_ADAM(f64, double)

// Plain SGD with momentum (torch.optim.SGD, dampening 0, nesterov off):
//   g' = g + weight_decay*p;  buf = momentum*buf + g' (buf = g' when first);  p -= lr*buf
#define DEF_SGD(tn, T)                                                                                   \
  extern "C" __global__ void tess_sgd_##tn(i64 n, T* p, const T* g, T* buf, T lr, T momentum,           \
                                           T weight_decay, int first) {                                  \
    GRID_STRIDE_LOOP(i, n) {                                                                             \
      T gi = g[i] + weight_decay * p[i];                                                                 \
      if (buf) {                                                                                         \
        gi = first ? gi : momentum * buf[i] + gi;                                                        \
        buf[i] = gi;                                                                                     \
      }                                                                                                  \
      p[i] -= lr * gi;                                                                                   \
    }                                                                                                    \
  }
DEF_SGD(f32, float)
DEF_SGD(f64, double)
