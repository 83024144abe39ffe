// Fused recurrent cells of nnkit for the CuPy backend: one launch computes every gate of a time
// step, the cell update and the new state; one launch computes their derivatives.
//
// Formulas and gate layouts follow nnkit/ops/recurrent.py (lstm_cell, lstm_cell_backward,
// gru_cell, gru_cell_backward): an LSTM's pre-activations z (n, 4u) hold the blocks i, f, c, o;
// a GRU's zx and zh (n, 3u) hold z, r, h, and its saved gates (n, 4u) are z, r, hh, zh_h. Every
// thread takes one (row, unit) of the state and all of that unit's gates (a grid-stride loop).

#include "scalars.cuh"

namespace nnkit {

// h, c, gates from z = x W + h_prev U + b and c_prev: i, f, o = sigmoid, g = tanh,
// c = f c_prev + i g, h = o tanh(c); gates = [i, f, g, o].
template <typename Real>
__global__ void lstm_cell_forward(const Real* z, const Real* c_prev, Real* h, Real* c, Real* gates,
                                  long long n, long long units) {
  const long long size = n * units, stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const long long row = k / units, j = k - row * units, base = row * 4 * units + j;
    const Real i = sigmoid(z[base]);
    const Real f = sigmoid(z[base + units]);
    const Real g = nk_tanh(z[base + 2 * units]);
    const Real o = sigmoid(z[base + 3 * units]);
    const Real cv = f * c_prev[k] + i * g;
    c[k] = cv;
    h[k] = o * nk_tanh(cv);
    gates[base] = i;
    gates[base + units] = f;
    gates[base + 2 * units] = g;
    gates[base + 3 * units] = o;
  }
}

// dz (n, 4u) and dc_prev from dh, the carried dc and the forward's gates, c_prev and c.
template <typename Real>
__global__ void lstm_cell_backward(const Real* dh, const Real* dc, const Real* gates, const Real* c_prev,
                                   const Real* c, Real* dz, Real* dc_prev, long long n, long long units) {
  const long long size = n * units, stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const long long row = k / units, j = k - row * units, base = row * 4 * units + j;
    const Real i = gates[base], f = gates[base + units];
    const Real g = gates[base + 2 * units], o = gates[base + 3 * units];
    const Real tc = nk_tanh(c[k]);
    const Real dct = dc[k] + dh[k] * o * (Real(1) - tc * tc);
    dz[base] = dct * g * i * (Real(1) - i);
    dz[base + units] = dct * c_prev[k] * f * (Real(1) - f);
    dz[base + 2 * units] = dct * i * (Real(1) - g * g);
    dz[base + 3 * units] = dh[k] * tc * o * (Real(1) - o);
    dc_prev[k] = dct * f;
  }
}

// h and gates = [z, r, hh, zh_h] from zx = x W + b_0, zh = h_prev U + b_1 and h_prev (reset after).
template <typename Real>
__global__ void gru_cell_forward(const Real* zx, const Real* zh, const Real* h_prev, Real* h, Real* gates,
                                 long long n, long long units) {
  const long long size = n * units, stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const long long row = k / units, j = k - row * units;
    const long long b3 = row * 3 * units + j, b4 = row * 4 * units + j;
    const Real z = sigmoid(zx[b3] + zh[b3]);
    const Real r = sigmoid(zx[b3 + units] + zh[b3 + units]);
    const Real inner = zh[b3 + 2 * units];
    const Real hh = nk_tanh(zx[b3 + 2 * units] + r * inner);
    h[k] = z * h_prev[k] + (Real(1) - z) * hh;
    gates[b4] = z;
    gates[b4 + units] = r;
    gates[b4 + 2 * units] = hh;
    gates[b4 + 3 * units] = inner;
  }
}

// dzx, dzh (n, 3u) and the direct part of dh_prev (dh z) from dh, the gates and h_prev.
template <typename Real>
__global__ void gru_cell_backward(const Real* dh, const Real* gates, const Real* h_prev, Real* dzx,
                                  Real* dzh, Real* direct, long long n, long long units) {
  const long long size = n * units, stride = (long long)gridDim.x * blockDim.x;
  for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size; k += stride) {
    const long long row = k / units, j = k - row * units;
    const long long b3 = row * 3 * units + j, b4 = row * 4 * units + j;
    const Real z = gates[b4], r = gates[b4 + units];
    const Real hh = gates[b4 + 2 * units], inner = gates[b4 + 3 * units];
    const Real d = dh[k];
    const Real dah = d * (Real(1) - z) * (Real(1) - hh * hh);
    const Real daz = d * (h_prev[k] - hh) * z * (Real(1) - z);
    const Real dar = dah * inner * r * (Real(1) - r);
    dzx[b3] = daz;
    dzx[b3 + units] = dar;
    dzx[b3 + 2 * units] = dah;
    dzh[b3] = daz;
    dzh[b3 + units] = dar;
    dzh[b3 + 2 * units] = dah * r;
    direct[k] = d * z;
  }
}

}  // namespace nnkit
