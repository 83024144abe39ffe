// Activation functions of nnkit and their derivatives, for the CuPy backend.
//
// The scalar math is __host__ __device__ so the test suite runs it on the CPU against the generic
// ops; the kernels are templates that CuPy instantiates by name expression, e.g.
// "nnkit::bias_activation_forward<float, 4>". Activation numbers are ACTIVATION_IDS in
// activations.py. Formulas and evaluation order follow nnkit/ops/activations.py, so a float64
// kernel agrees with the generic op to rounding.

#include "scalars.cuh"

namespace nnkit {

enum : int {
  STEP = 0, LINEAR = 1, SIGMOID = 2, TANH = 3, RELU = 4,
  LEAKY_RELU = 5, ELU = 6, SOFTPLUS = 7, GELU = 8, SILU = 9
};

// sqrt(2 / pi) and the cubic coefficient of GELU's tanh form.
#define NNKIT_GELU_C 0.7978845608028654
#define NNKIT_GELU_A 0.044715
#define NNKIT_LEAKY_SLOPE 0.1

// y = f(x). Comparisons are written so that NaN passes through (x < 0 is false for NaN), as
// NumPy's maximum and where do, so TerminateOnNaN sees a diverged run on the GPU too.
template <int ACT, typename Real>
__host__ __device__ inline Real activation(Real x) {
  switch (ACT) {
    case STEP: return x >= Real(0) ? Real(1) : Real(0);
    case SIGMOID: return sigmoid(x);
    case TANH: return nk_tanh(x);
    case RELU: return x < Real(0) ? Real(0) : x;
    case LEAKY_RELU: return x > Real(0) ? x : Real(NNKIT_LEAKY_SLOPE) * x;
    case ELU: return x >= Real(0) ? x : nk_expm1(x);
    case SOFTPLUS: return (x < Real(0) ? Real(0) : x) + nk_log1p(nk_exp(-nk_abs(x)));
    case GELU: {
      const Real t = nk_tanh(Real(NNKIT_GELU_C) * (x + Real(NNKIT_GELU_A) * x * x * x));
      return Real(0.5) * x * (Real(1) + t);
    }
    case SILU: return x * sigmoid(x);
    default: return x;  // LINEAR
  }
}

// dx = dy * f'(x), from whichever of the input x and the output y is cheaper.
template <int ACT, typename Real>
__host__ __device__ inline Real activation_grad(Real dy, Real x, Real y) {
  switch (ACT) {
    case STEP: return Real(0);
    case SIGMOID: return dy * y * (Real(1) - y);
    case TANH: return dy * (Real(1) - y * y);
    case RELU: return x > Real(0) ? dy : Real(0);
    case LEAKY_RELU: return x > Real(0) ? dy : Real(NNKIT_LEAKY_SLOPE) * dy;
    case ELU: return x >= Real(0) ? dy : dy * (y + Real(1));
    case SOFTPLUS: return dy * sigmoid(x);
    case GELU: {
      const Real x2 = x * x;
      const Real t = nk_tanh(Real(NNKIT_GELU_C) * (x + Real(NNKIT_GELU_A) * x2 * x));
      return dy * (Real(0.5) * (Real(1) + t)
                   + Real(0.5) * x * (Real(1) - t * t) * Real(NNKIT_GELU_C)
                         * (Real(1) + Real(3.0 * NNKIT_GELU_A) * x2));
    }
    case SILU: {
      const Real s = sigmoid(x);
      return dy * s * (Real(1) + x * (Real(1) - s));
    }
    default: return dy;  // LINEAR
  }
}

// y = f(x) over `size` elements.
template <typename Real, int ACT>
__global__ void activation_forward(const Real* x, Real* y, long long size) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    y[k] = activation<ACT>(x[k]);
  }
}

// a = z + b (b broadcast along the rows of a C-contiguous (size / m, m) matrix), y = f(a).
// For LINEAR, y is a itself and is not written.
template <typename Real, int ACT>
__global__ void bias_activation_forward(const Real* z, const Real* b, Real* a, Real* y,
                                        long long size, long long m) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const Real v = z[k] + b[k % m];
    a[k] = v;
    if (ACT != LINEAR) y[k] = activation<ACT>(v);
  }
}

// dx = dy * f'(x) over `size` elements.
template <typename Real, int ACT>
__global__ void activation_backward(const Real* dy, const Real* x, const Real* y, Real* dx,
                                    long long size) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    dx[k] = activation_grad<ACT>(dy[k], x[k], y[k]);
  }
}

// Rows of the column sum a block's threads walk at once; the block is (32, BIAS_GRAD_ROWS).
#define NNKIT_BIAS_GRAD_ROWS 16

// da = dy * f'(a) and db_j = sum_i da_ij in one pass over a C-contiguous (n, m) matrix.
// Block (32, 16), grid (ceil(m / 32)): threadIdx.x walks the columns, so a warp reads 32
// neighbouring elements of a row; threadIdx.y strides the rows, and the 16 partial sums of a
// column meet in shared memory in a fixed order, so db is deterministic (no atomics).
// For LINEAR, da is dy itself and is not written.
template <typename Real, int ACT>
__global__ void bias_activation_backward(const Real* dy, const Real* a, const Real* y, Real* da,
                                         Real* db, int n, int m) {
  __shared__ Real partial[NNKIT_BIAS_GRAD_ROWS][32];
  const int col = blockIdx.x * 32 + threadIdx.x;
  Real acc = Real(0);
  if (col < m) {
    for (int row = threadIdx.y; row < n; row += NNKIT_BIAS_GRAD_ROWS) {
      const long long k = (long long)row * m + col;
      const Real d = activation_grad<ACT>(dy[k], a[k], y[k]);
      if (ACT != LINEAR) da[k] = d;
      acc += d;
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < m) {
    Real total = Real(0);
    for (int r = 0; r < NNKIT_BIAS_GRAD_ROWS; ++r) total += partial[r][threadIdx.x];
    db[col] = total;
  }
}

}  // namespace nnkit
