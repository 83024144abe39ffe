"""Properties of the ops for arbitrary inputs (hypothesis): ranges, sums, stability."""

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # an optional test dependency: a bare GPU machine may lack it

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

import nnkit as nk  # noqa: E402

BE = nk.get_backend("numpy")
finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=64)
matrices = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=finite)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_softmax_rows_are_distributions(z):
    y = BE.ops.softmax(z)
    assert np.all(y >= 0) and np.all(y <= 1)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_sigmoid_and_tanh_ranges(z):
    s = BE.ops.sigmoid(z)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(BE.ops.sigmoid(-z), 1.0 - s, atol=1e-12)
    assert np.all(np.abs(BE.ops.tanh(z)) <= 1)


@settings(max_examples=60, deadline=None)
@given(matrices, st.data())
def test_fused_cross_entropies_finite_with_zero_sum_gradients(z, data):
    n, k = z.shape
    labels = data.draw(arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    loss, grad = BE.ops.sparse_softmax_cross_entropy(z, labels)
    assert np.isfinite(loss) and loss >= 0 and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(-1), 0.0, atol=1e-12)
    t = data.draw(arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0])))
    loss, grad = BE.ops.sigmoid_binary_cross_entropy(z, t)
    assert np.isfinite(loss) and loss >= 0 and np.all(np.abs(grad) <= 1.0 / n + 1e-15)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_affine_backward_is_the_adjoint(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x, w, dy = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out)), rng.normal(size=(n, d_out))
    dx, dw, db = BE.ops.affine_backward(dy, x, w)
    np.testing.assert_allclose(np.vdot(x @ w, dy), np.vdot(x, dx), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.vdot(x @ w, dy), np.vdot(w, dw), rtol=1e-10, atol=1e-10)
