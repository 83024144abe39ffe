// The scalar math every kernel file of nnkit shares, __host__ __device__ so the test suite runs it
// on the CPU against the generic ops. Each .cu file includes it; the loader inlines it into the
// source NVRTC compiles, and the guard lets several files share one translation unit.
#ifndef NNKIT_SCALARS_CUH
#define NNKIT_SCALARS_CUH

namespace nnkit {

// C's float and double functions under one name, so templates pick the precision of their input
// (expf for float keeps float32 math in float32, as NumPy does).
__host__ __device__ inline float nk_exp(float x) { return expf(x); }
__host__ __device__ inline double nk_exp(double x) { return exp(x); }
__host__ __device__ inline float nk_expm1(float x) { return expm1f(x); }
__host__ __device__ inline double nk_expm1(double x) { return expm1(x); }
__host__ __device__ inline float nk_log(float x) { return logf(x); }
__host__ __device__ inline double nk_log(double x) { return log(x); }
__host__ __device__ inline float nk_log1p(float x) { return log1pf(x); }
__host__ __device__ inline double nk_log1p(double x) { return log1p(x); }
__host__ __device__ inline float nk_tanh(float x) { return tanhf(x); }
__host__ __device__ inline double nk_tanh(double x) { return tanh(x); }
__host__ __device__ inline float nk_sqrt(float x) { return sqrtf(x); }
__host__ __device__ inline double nk_sqrt(double x) { return sqrt(x); }
__host__ __device__ inline float nk_abs(float x) { return fabsf(x); }
__host__ __device__ inline double nk_abs(double x) { return fabs(x); }

// y = 1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|
// (as nnkit.ops.activations.sigmoid).
template <typename Real>
__host__ __device__ inline Real sigmoid(Real x) {
  const Real e = nk_exp(-nk_abs(x));
  const Real r = Real(1) / (Real(1) + e);
  return x >= Real(0) ? r : e * r;
}

// max that propagates NaN from either side, as NumPy's max does.
template <typename Real>
__host__ __device__ inline Real nan_max(Real a, Real b) {
  return (a != a || a > b) ? a : b;
}

}  // namespace nnkit

#endif  // NNKIT_SCALARS_CUH
