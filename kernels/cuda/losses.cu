// Losses of nnkit with their gradients in one pass, for the CuPy backend.
//
// Each loss kernel writes d loss / d input and one partial sum per block (or per row); the
// partials are added by sum_partials in a fixed order, so a loss is deterministic (no atomics).
// Formulas follow nnkit/ops/losses.py: the mean over the N rows of a per-row sum, so gradients
// carry 1/N (inv_n). Softmax and sigmoid only ever exponentiate non-positive numbers, so logits
// of +-1000 give finite losses and gradients.

#include "scalars.cuh"

namespace nnkit {

// BCE on a logit z against target t: max(z, 0) - z t + log1p(exp(-|z|)).
template <typename Real>
__host__ __device__ inline Real bce_logit_term(Real z, Real t, Real e) {
  return (z < Real(0) ? Real(0) : z) - z * t + nk_log1p(e);
}

// d BCE / dz before the 1/N: sigmoid(z) - t, with e = exp(-|z|).
template <typename Real>
__host__ __device__ inline Real bce_logit_grad(Real z, Real t, Real e) {
  const Real r = Real(1) / (Real(1) + e);
  return (z >= Real(0) ? r : e * r) - t;
}

// The sum (MAX = false) or NaN-propagating max (MAX = true) of v over the block, returned to
// every thread. blockDim.x must be a multiple of 32 and at most 1024, every thread must call it,
// and `shared` holds 32 values. The leading barrier lets a block call it several times in a row.
template <bool MAX, typename Real>
__device__ inline Real block_reduce(Real v, Real* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const Real other = __shfl_down_sync(0xffffffffu, v, offset);
    v = MAX ? nan_max(v, other) : v + other;
  }
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? shared[lane] : (MAX ? shared[0] : Real(0));
    for (int offset = 16; offset > 0; offset >>= 1) {
      const Real other = __shfl_down_sync(0xffffffffu, v, offset);
      v = MAX ? nan_max(v, other) : v + other;
    }
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// Softmax cross-entropy of one row per block: with s = z - max z and S = sum exp(s),
// row_loss = sum_j t_j (log S - s_j) = T log S - sum_j t_j s_j (T = sum_j t_j) and
// grad_j = (exp(s_j) / S * T - t_j) / N.
template <typename Real>
__global__ void softmax_cross_entropy(const Real* logits, const Real* target, Real* grad,
                                      Real* row_loss, int m, Real inv_n) {
  __shared__ Real shared[32];
  const long long base = (long long)blockIdx.x * m;
  const Real* z = logits + base;
  const Real* t = target + base;
  Real zmax = z[0];
  for (int j = threadIdx.x; j < m; j += blockDim.x) zmax = nan_max(zmax, z[j]);
  zmax = block_reduce<true>(zmax, shared);
  Real sum_e = Real(0), sum_t = Real(0), sum_ts = Real(0);
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    const Real s = z[j] - zmax;
    sum_e += nk_exp(s);
    sum_t += t[j];
    sum_ts += t[j] * s;
  }
  sum_e = block_reduce<false>(sum_e, shared);
  sum_t = block_reduce<false>(sum_t, shared);
  sum_ts = block_reduce<false>(sum_ts, shared);
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    grad[base + j] = (nk_exp(z[j] - zmax) / sum_e * sum_t - t[j]) * inv_n;
  }
  if (threadIdx.x == 0) row_loss[blockIdx.x] = sum_t * nk_log(sum_e) - sum_ts;
}

// The same with integer labels: t_j = 1 where j == label, so T = 1 (0 for a label outside
// [0, m), whose one-hot row is all zeros) and row_loss = log S - s_label.
template <typename Real, typename Label>
__global__ void sparse_softmax_cross_entropy(const Real* logits, const Label* labels, Real* grad,
                                             Real* row_loss, int m, Real inv_n) {
  __shared__ Real shared[32];
  const long long base = (long long)blockIdx.x * m;
  const Real* z = logits + base;
  const Label label = labels[blockIdx.x];
  const bool valid = label >= 0 && label < m;
  Real zmax = z[0];
  for (int j = threadIdx.x; j < m; j += blockDim.x) zmax = nan_max(zmax, z[j]);
  zmax = block_reduce<true>(zmax, shared);
  Real sum_e = Real(0);
  for (int j = threadIdx.x; j < m; j += blockDim.x) sum_e += nk_exp(z[j] - zmax);
  sum_e = block_reduce<false>(sum_e, shared);
  const Real sum_t = valid ? Real(1) : Real(0);
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    const Real t = j == label ? Real(1) : Real(0);
    grad[base + j] = (nk_exp(z[j] - zmax) / sum_e * sum_t - t) * inv_n;
  }
  if (threadIdx.x == 0) {
    row_loss[blockIdx.x] = valid ? nk_log(sum_e) - (z[label] - zmax) : Real(0);
  }
}

// Sigmoid + binary cross-entropy on logits, elementwise with one partial sum per block:
// grad = (sigmoid(z) - t) / N, partial = sum of max(z, 0) - z t + log1p(exp(-|z|)).
template <typename Real>
__global__ void sigmoid_binary_cross_entropy(const Real* logits, const Real* target, Real* grad,
                                             Real* partial, long long size, Real inv_n) {
  __shared__ Real shared[32];
  Real acc = Real(0);
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const Real z = logits[k];
    const Real t = target[k];
    const Real e = nk_exp(-nk_abs(z));
    acc += bce_logit_term(z, t, e);
    grad[k] = bce_logit_grad(z, t, e) * inv_n;
  }
  acc = block_reduce<false>(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Mean squared error, elementwise with one partial sum per block:
// grad = (pred - target) / N, partial = sum of (pred - target)^2.
template <typename Real>
__global__ void mean_squared_error(const Real* pred, const Real* target, Real* grad,
                                   Real* partial, long long size, Real inv_n) {
  __shared__ Real shared[32];
  Real acc = Real(0);
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const Real diff = pred[k] - target[k];
    acc += diff * diff;
    grad[k] = diff * inv_n;
  }
  acc = block_reduce<false>(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// out[0] = scale * sum of the `count` partials, by one block.
template <typename Real>
__global__ void sum_partials(const Real* partial, Real* out, long long count, Real scale) {
  __shared__ Real shared[32];
  Real acc = Real(0);
  for (long long k = threadIdx.x; k < count; k += blockDim.x) acc += partial[k];
  acc = block_reduce<false>(acc, shared);
  if (threadIdx.x == 0) out[0] = acc * scale;
}

}  // namespace nnkit
