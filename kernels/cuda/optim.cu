// Optimizer updates of nnkit, each one pass over a parameter, in place, with torch.optim's rules.
//
// The per-element steps are __host__ __device__ so the test suite checks them on the CPU against
// the generic ops (nnkit/ops/optim.py), whose evaluation order they keep. Hyperparameters arrive
// in the parameter's precision, already combined on the host in double exactly as the generic op
// combines its Python floats (1 - beta1, lr / (1 - beta1^t), ...); flags say which optional terms
// apply, as the generic op's `if weight_decay:` does.

#include "scalars.cuh"

namespace nnkit {

enum : int { HAS_WEIGHT_DECAY = 1, HAS_MOMENTUM = 2, NESTEROV = 4, CENTERED = 8, DECOUPLED = 16 };

// SGD: g' = g + wd W; V = mu V + g'; W -= lr (g' + mu V) (Nesterov) or lr V, or lr g' (mu = 0).
template <typename Real>
__host__ __device__ inline void sgd_step(Real& w, Real g, Real& v, Real lr, Real momentum,
                                         Real weight_decay, int flags) {
  if (flags & HAS_WEIGHT_DECAY) g = g + weight_decay * w;
  if (flags & HAS_MOMENTUM) {
    v = v * momentum + g;
    g = (flags & NESTEROV) ? g + momentum * v : v;
  }
  w = w - lr * g;
}

// Adagrad: g' = g + wd W; S += g'^2; W -= clr g' / (sqrt(S) + eps), clr the decayed rate.
template <typename Real>
__host__ __device__ inline void adagrad_step(Real& w, Real g, Real& s, Real clr, Real eps,
                                             Real weight_decay, int flags) {
  if (flags & HAS_WEIGHT_DECAY) g = g + weight_decay * w;
  s = s + g * g;
  w = w - clr * (g / (nk_sqrt(s) + eps));
}

// RMSprop: S = alpha S + (1 - alpha) g'^2; D = sqrt(S - G^2) + eps (centered, with
// G = alpha G + (1 - alpha) g') or sqrt(S) + eps; W -= lr B with B = mu B + g'/D, or lr g'/D.
template <typename Real>
__host__ __device__ inline void rmsprop_step(Real& w, Real g, Real& sq, Real& buf, Real& g_avg,
                                             Real lr, Real alpha, Real one_minus_alpha, Real eps,
                                             Real weight_decay, Real momentum, int flags) {
  if (flags & HAS_WEIGHT_DECAY) g = g + weight_decay * w;
  sq = sq * alpha + one_minus_alpha * (g * g);
  Real denom;
  if (flags & CENTERED) {
    g_avg = g_avg * alpha + one_minus_alpha * g;
    denom = nk_sqrt(sq - g_avg * g_avg) + eps;
  } else {
    denom = nk_sqrt(sq) + eps;
  }
  if (flags & HAS_MOMENTUM) {
    buf = buf * momentum + g / denom;
    w = w - lr * buf;
  } else {
    w = w - lr * (g / denom);
  }
}

// Adam / AdamW: g' = g + wd W (Adam) or W *= 1 - lr wd (AdamW, `decay` = 1 - lr wd);
// M = b1 M + (1 - b1) g'; V = b2 V + (1 - b2) g'^2;
// W -= step_size M / (sqrt(V) / sqrt(1 - b2^t) + eps), step_size = lr / (1 - b1^t).
template <typename Real>
__host__ __device__ inline void adam_step(Real& w, Real g, Real& m, Real& v, Real step_size,
                                          Real beta1, Real one_minus_beta1, Real beta2,
                                          Real one_minus_beta2, Real bias_correction2_sqrt,
                                          Real eps, Real weight_decay, Real decay, int flags) {
  if (flags & HAS_WEIGHT_DECAY) g = g + weight_decay * w;
  if (flags & DECOUPLED) w = w * decay;
  m = m * beta1 + one_minus_beta1 * g;
  v = v * beta2 + one_minus_beta2 * (g * g);
  w = w - step_size * (m / (nk_sqrt(v) / bias_correction2_sqrt + eps));
}

#define NNKIT_GRID_STRIDE(k, size)                                                   \
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < (size); \
       k += (long long)gridDim.x * blockDim.x)

template <typename Real>
__global__ void sgd_update(Real* w, const Real* g, Real* v, long long size, Real lr,
                           Real momentum, Real weight_decay, int flags) {
  NNKIT_GRID_STRIDE(k, size) {
    Real wk = w[k], vk = v[k];
    sgd_step(wk, g[k], vk, lr, momentum, weight_decay, flags);
    w[k] = wk;
    if (flags & HAS_MOMENTUM) v[k] = vk;
  }
}

template <typename Real>
__global__ void adagrad_update(Real* w, const Real* g, Real* s, long long size, Real clr,
                               Real eps, Real weight_decay, int flags) {
  NNKIT_GRID_STRIDE(k, size) {
    Real wk = w[k], sk = s[k];
    adagrad_step(wk, g[k], sk, clr, eps, weight_decay, flags);
    w[k] = wk;
    s[k] = sk;
  }
}

template <typename Real>
__global__ void rmsprop_update(Real* w, const Real* g, Real* sq, Real* buf, Real* g_avg,
                               long long size, Real lr, Real alpha, Real one_minus_alpha, Real eps,
                               Real weight_decay, Real momentum, int flags) {
  NNKIT_GRID_STRIDE(k, size) {
    Real wk = w[k], sqk = sq[k];
    Real bk = (flags & HAS_MOMENTUM) ? buf[k] : Real(0);
    Real gak = (flags & CENTERED) ? g_avg[k] : Real(0);
    rmsprop_step(wk, g[k], sqk, bk, gak, lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
                 flags);
    w[k] = wk;
    sq[k] = sqk;
    if (flags & HAS_MOMENTUM) buf[k] = bk;
    if (flags & CENTERED) g_avg[k] = gak;
  }
}

template <typename Real>
__device__ inline void adam_elements(Real* w, const Real* g, Real* m, Real* v, long long size,
                                     Real step_size, Real beta1, Real one_minus_beta1, Real beta2,
                                     Real one_minus_beta2, Real bias_correction2_sqrt, Real eps,
                                     Real weight_decay, Real decay, int flags) {
  NNKIT_GRID_STRIDE(k, size) {
    Real wk = w[k], mk = m[k], vk = v[k];
    adam_step(wk, g[k], mk, vk, step_size, beta1, one_minus_beta1, beta2, one_minus_beta2,
              bias_correction2_sqrt, eps, weight_decay, decay, flags);
    w[k] = wk;
    m[k] = mk;
    v[k] = vk;
  }
}

template <typename Real>
__global__ void adam_update(Real* w, const Real* g, Real* m, Real* v, long long size,
                            Real step_size, Real beta1, Real one_minus_beta1, Real beta2,
                            Real one_minus_beta2, Real bias_correction2_sqrt, Real eps,
                            Real weight_decay, Real decay, int flags) {
  adam_elements(w, g, m, v, size, step_size, beta1, one_minus_beta1, beta2, one_minus_beta2,
                bias_correction2_sqrt, eps, weight_decay, decay, flags);
}

// Adam with its per-step scalars on the device, for a step replayed from a CUDA graph (a graph
// keeps the scalar arguments it was captured with: a host step counter would stay at its first
// value). state = [t, lr, step_size, bias_correction2_sqrt, decay] in double: adam_advance, one
// thread, counts the step and combines them as the host does (lr / (1 - beta1^t), ...);
// adam_update_on_device then reads them. The host changes lr by writing state[1] between steps.
template <typename Real>
__global__ void adam_advance(double* state, double beta1, double beta2, double weight_decay) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    double t = state[0] + 1.0, lr = state[1];
    state[0] = t;
    state[2] = lr / (1.0 - pow(beta1, t));
    state[3] = sqrt(1.0 - pow(beta2, t));
    state[4] = 1.0 - lr * weight_decay;
  }
}

template <typename Real>
__global__ void adam_update_on_device(Real* w, const Real* g, Real* m, Real* v, long long size,
                                      const double* state, Real beta1, Real one_minus_beta1,
                                      Real beta2, Real one_minus_beta2, Real eps,
                                      Real weight_decay, int flags) {
  adam_elements(w, g, m, v, size, (Real)state[2], beta1, one_minus_beta1, beta2, one_minus_beta2,
                (Real)state[3], eps, weight_decay, (Real)state[4], flags);
}

}  // namespace nnkit
