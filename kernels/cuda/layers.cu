// Dropout of nnkit for the CuPy backend: mask and scale in one pass over uniform numbers that
// CuPy's device generator drew (nnkit/ops/layers.py: mask = (u >= rate) / (1 - rate), y = x mask).

namespace nnkit {

// The inverted-dropout mask of one element: `scale` = 1 / (1 - rate) where kept, else 0.
template <typename Real>
__host__ __device__ inline Real dropout_mask(Real u, Real rate, Real scale) {
  return u >= rate ? scale : Real(0);
}

template <typename Real>
__global__ void dropout(const Real* x, const Real* u, Real* y, Real* mask, long long size,
                        Real rate, Real scale) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const Real keep = dropout_mask(u[k], rate, scale);
    mask[k] = keep;
    y[k] = x[k] * keep;
  }
}

}  // namespace nnkit
