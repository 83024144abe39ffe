// Image kernels of nnkit for the CuPy backend (nnkit/ops/conv.py, pooling.py, normalization.py).
//
// Images are channels-last (n, h, w, c), C-contiguous. A window is (kh, kw) with strides (sh, sw)
// and dilations (dh, dw); (top, left) are the padding before the rows and columns. Every kernel
// but the batch statistics is a grid-stride loop over its output; the adjoints gather (each input
// pixel sums the entries read from it), so no atomics are needed and results are deterministic.
// Conv2D's products run in cuBLAS through CuPy's matmul; its bias + activation epilogue is the
// existing bias_activation kernel (activations.cu).

namespace nnkit {

// P[m, i, j, (a kw + b) c + k] = x[m, i sh + a dh - top, j sw + b dw - left, k], or fill outside.
template <typename Real>
__global__ void patches(const Real* x, Real* out, long long size, int h, int w, int c, int ho, int wo,
                        int kh, int kw, int sh, int sw, int dh, int dw, int top, int left, Real fill) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const int t = (int)((e / c) % (kh * kw));
    const long long pixel = e / ((long long)c * kh * kw);
    const int j = (int)(pixel % wo), i = (int)((pixel / wo) % ho);
    const long long m = pixel / ((long long)wo * ho);
    const int r = i * sh + (t / kw) * dh - top, s = j * sw + (t % kw) * dw - left;
    out[e] = (r >= 0 && r < h && s >= 0 && s < w) ? x[((m * h + r) * w + s) * c + k] : fill;
  }
}

// dx[m, r, s, k] = sum of dP over the patch entries read from pixel (r, s).
template <typename Real>
__global__ void patches_backward(const Real* dp, Real* dx, long long size, int h, int w, int c, int ho,
                                 int wo, int kh, int kw, int sh, int sw, int dh, int dw, int top,
                                 int left) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long cols = (long long)kh * kw * c;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const int s = (int)((e / c) % w), r = (int)((e / ((long long)c * w)) % h);
    const long long m = e / ((long long)c * w * h);
    Real sum = Real(0);
    for (int a = 0; a < kh; ++a) {
      const int ri = r + top - a * dh;
      if (ri < 0 || ri % sh != 0 || ri / sh >= ho) continue;
      for (int b = 0; b < kw; ++b) {
        const int sj = s + left - b * dw;
        if (sj < 0 || sj % sw != 0 || sj / sw >= wo) continue;
        sum += dp[((m * ho + ri / sh) * wo + sj / sw) * cols + (a * kw + b) * c + k];
      }
    }
    dx[e] = sum;
  }
}

// y = the window's first maximum (NaN wins), idx = its tap a pw + b; the padding never wins.
template <typename Real>
__global__ void max_pool(const Real* x, Real* y, long long* idx, long long size, int h, int w, int c,
                         int ho, int wo, int ph, int pw, int sh, int sw, int top, int left) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const int j = (int)((e / c) % wo), i = (int)((e / ((long long)c * wo)) % ho);
    const long long m = e / ((long long)c * wo * ho);
    Real best = Real(0);
    long long arg = -1;
    for (int a = 0; a < ph; ++a) {
      const int r = i * sh + a - top;
      if (r < 0 || r >= h) continue;
      for (int b = 0; b < pw; ++b) {
        const int s = j * sw + b - left;
        if (s < 0 || s >= w) continue;
        const Real v = x[((m * h + r) * w + s) * c + k];
        if (arg < 0 || v > best || (v != v && best == best)) {
          best = v;
          arg = a * pw + b;
        }
      }
    }
    y[e] = best;
    idx[e] = arg;
  }
}

// The sum, over the windows (i, j) holding the pixel of image element e, of term(o, i, j, t): o the
// window's output element, t = a pw + b the pixel's tap in it (what both pooling backwards gather).
template <typename Real, typename Term>
__device__ inline Real sum_over_windows(long long e, int h, int w, int c, int ho, int wo, int ph, int pw,
                                        int sh, int sw, int top, int left, Term term) {
  const int k = (int)(e % c);
  const int s = (int)((e / c) % w), r = (int)((e / ((long long)c * w)) % h);
  const long long m = e / ((long long)c * w * h);
  Real sum = Real(0);
  for (int a = 0; a < ph; ++a) {
    const int ri = r + top - a;
    if (ri < 0 || ri % sh != 0 || ri / sh >= ho) continue;
    for (int b = 0; b < pw; ++b) {
      const int sj = s + left - b;
      if (sj < 0 || sj % sw != 0 || sj / sw >= wo) continue;
      const int i = ri / sh, j = sj / sw;
      sum += term(((m * ho + i) * wo + j) * c + k, i, j, a * pw + b);
    }
  }
  return sum;
}

// dx[m, r, s, k] = the sum of dy over the windows whose winner is pixel (r, s).
template <typename Real>
__global__ void max_pool_backward(const Real* dy, const long long* idx, Real* dx, long long size, int h,
                                  int w, int c, int ho, int wo, int ph, int pw, int sh, int sw, int top,
                                  int left) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride)
    dx[e] = sum_over_windows<Real>(e, h, w, c, ho, wo, ph, pw, sh, sw, top, left,
                                   [&](long long o, int, int, int tap) { return idx[o] == tap ? dy[o] : Real(0); });
}

// The real (unpadded) pixels of window (i, j) along one axis: [lo, hi).
__host__ __device__ inline void window_span(int i, int stride, int size, int pool, int pad, int* lo, int* hi) {
  const int start = i * stride - pad;
  *lo = start < 0 ? 0 : start;
  *hi = start + pool > size ? size : start + pool;
}

// y = the mean over the window's real pixels.
template <typename Real>
__global__ void avg_pool(const Real* x, Real* y, long long size, int h, int w, int c, int ho, int wo,
                         int ph, int pw, int sh, int sw, int top, int left) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const int j = (int)((e / c) % wo), i = (int)((e / ((long long)c * wo)) % ho);
    const long long m = e / ((long long)c * wo * ho);
    int r0, r1, s0, s1;
    window_span(i, sh, h, ph, top, &r0, &r1);
    window_span(j, sw, w, pw, left, &s0, &s1);
    Real sum = Real(0);
    for (int r = r0; r < r1; ++r)
      for (int s = s0; s < s1; ++s) sum += x[((m * h + r) * w + s) * c + k];
    y[e] = sum / Real((r1 - r0) * (s1 - s0));
  }
}

// dx[m, r, s, k] = the sum over the windows holding (r, s) of dy / (the window's real pixels).
template <typename Real>
__global__ void avg_pool_backward(const Real* dy, Real* dx, long long size, int h, int w, int c, int ho,
                                  int wo, int ph, int pw, int sh, int sw, int top, int left) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride)
    dx[e] = sum_over_windows<Real>(e, h, w, c, ho, wo, ph, pw, sh, sw, top, left,
                                   [&](long long o, int i, int j, int) {
                                     int r0, r1, s0, s1;
                                     window_span(i, sh, h, ph, top, &r0, &r1);
                                     window_span(j, sw, w, pw, left, &s0, &s1);
                                     return dy[o] / Real((r1 - r0) * (s1 - s0));
                                   });
}

// The sum over the block of v (every thread calls it; blockDim.x a power of two <= 256).
__device__ inline double block_sum(double v, double* shared) {
  __syncthreads();
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half >>= 1) {
    if ((int)threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

// One block per feature k of x (m, c): mean, biased variance and 1 / sqrt(var + eps), in double.
template <typename Real>
__global__ void batch_norm_stats(const Real* x, Real* mean, Real* var, Real* inv_std, long long m, int c,
                                 Real epsilon) {
  __shared__ double shared[256];
  const int k = blockIdx.x;
  double sum = 0.0;
  for (long long r = threadIdx.x; r < m; r += blockDim.x) sum += (double)x[r * c + k];
  const Real mu = (Real)(block_sum(sum, shared) / (double)m);
  double sq = 0.0;
  for (long long r = threadIdx.x; r < m; r += blockDim.x) {
    const double d = (double)(x[r * c + k] - mu);
    sq += d * d;
  }
  const Real v = (Real)(block_sum(sq, shared) / (double)m);
  if (threadIdx.x == 0) {
    mean[k] = mu;
    var[k] = v;
    inv_std[k] = Real(1) / (Real)sqrt((double)(v + epsilon));
  }
}

// xhat = (x - mean) inv_std, y = gamma xhat + beta (gamma, beta used where has_gamma, has_beta).
template <typename Real>
__global__ void batch_norm_apply(const Real* x, const Real* mean, const Real* inv_std, const Real* gamma,
                                 const Real* beta, Real* y, Real* xhat, long long size, int c,
                                 int has_gamma, int has_beta) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const Real v = (x[e] - mean[k]) * inv_std[k];
    xhat[e] = v;
    y[e] = (has_gamma ? v * gamma[k] : v) + (has_beta ? beta[k] : Real(0));
  }
}

// One block per feature: dbeta = sum dy, dgamma = sum dy xhat, in double.
template <typename Real>
__global__ void batch_norm_sums(const Real* dy, const Real* xhat, Real* dgamma, Real* dbeta, long long m,
                                int c) {
  __shared__ double shared[256];
  const int k = blockIdx.x;
  double sb = 0.0, sg = 0.0;
  for (long long r = threadIdx.x; r < m; r += blockDim.x) {
    const double g = (double)dy[r * c + k];
    sb += g;
    sg += g * (double)xhat[r * c + k];
  }
  const double total_b = block_sum(sb, shared);
  const double total_g = block_sum(sg, shared);
  if (threadIdx.x == 0) {
    dbeta[k] = (Real)total_b;
    dgamma[k] = (Real)total_g;
  }
}

// dx = gamma inv_std (dy - dbeta / m - xhat dgamma / m).
template <typename Real>
__global__ void batch_norm_backward(const Real* dy, const Real* xhat, const Real* inv_std, const Real* gamma,
                                    const Real* dgamma, const Real* dbeta, Real* dx, long long size, int c,
                                    Real inv_m, int has_gamma) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < size; e += stride) {
    const int k = (int)(e % c);
    const Real scale = has_gamma ? gamma[k] * inv_std[k] : inv_std[k];
    dx[e] = scale * (dy[e] - dbeta[k] * inv_m - xhat[e] * (dgamma[k] * inv_m));
  }
}

}  // namespace nnkit
