"""Every op: forward against a NumPy reference, backward against central differences (float64),
on every backend and both float dtypes; dtypes preserved."""

import numpy as np
import pytest

import _reference as ref
from conftest import tolerance
from nnkit.ops import ACTIVATION_NAMES

SHAPES = [(1, 1), (7, 5), (32, 13)]


def host(be, a):
    return np.asarray(be.to_numpy(a))


def away_from_kinks(rng, shape):
    x = rng.normal(0, 2, size=shape)
    return np.where(np.abs(x) < 1e-2, 0.5, x)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_forward(backend, dtype, rng, name, shape):
    x = away_from_kinks(rng, shape)
    y = backend.ops.activation(backend.asarray(x, dtype), name)
    assert backend.dtype_name(y.dtype) == dtype
    np.testing.assert_allclose(host(backend, y), ref.ACTIVATIONS[name](x), **tolerance(dtype))
    # each activation also exists as its own op
    y2 = getattr(backend.ops, name)(backend.asarray(x, dtype))
    np.testing.assert_allclose(host(backend, y2), host(backend, y), rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in ACTIVATION_NAMES if n != "step"])
def test_activation_backward_central_differences(backend, rng, name):
    x = away_from_kinks(rng, (4, 5))
    dy = rng.normal(size=x.shape)
    xb = backend.asarray(x, "float64")
    y = backend.ops.activation(xb, name)
    dx = host(backend, backend.ops.activation_backward(backend.asarray(dy, "float64"), xb, y, name))
    f = lambda v: float(np.sum(host(backend, backend.ops.activation(backend.asarray(v, "float64"), name)) * dy))
    np.testing.assert_allclose(dx, ref.numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


def test_step_backward_is_zero(backend):
    x = backend.asarray(np.array([[-1.0, 0.0, 2.0]]), "float64")
    dx = backend.ops.step_backward(x, x, backend.ops.step(x))
    np.testing.assert_array_equal(host(backend, dx), 0.0)
    np.testing.assert_array_equal(host(backend, backend.ops.step(x)), [[0.0, 1.0, 1.0]])


def test_extreme_inputs_stay_finite(backend, dtype):
    x = backend.asarray(np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]]), dtype)
    for name in ACTIVATION_NAMES:
        y = host(backend, backend.ops.activation(x, name))
        assert np.all(np.isfinite(y)), name
    np.testing.assert_allclose(host(backend, backend.ops.sigmoid(x)), [[0, 9.357622968840175e-14, 0.5, 1, 1]],
                               rtol=1e-5, atol=0)


@pytest.mark.parametrize("with_bias", [True, False])
def test_affine_and_backward(backend, dtype, rng, with_bias):
    x, w, b, dy = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(6, 3))
    be = backend
    y = be.ops.affine(be.asarray(x, dtype), be.asarray(w, dtype), be.asarray(b, dtype) if with_bias else None)
    np.testing.assert_allclose(host(be, y), x @ w + (b if with_bias else 0), **tolerance(dtype))
    dx, dw, db = be.ops.affine_backward(be.asarray(dy, dtype), be.asarray(x, dtype), be.asarray(w, dtype), with_bias)
    np.testing.assert_allclose(host(be, dx), dy @ w.T, **tolerance(dtype))
    np.testing.assert_allclose(host(be, dw), x.T @ dy, **tolerance(dtype))
    if with_bias:
        np.testing.assert_allclose(host(be, db), dy.sum(0), **tolerance(dtype))
        assert be.dtype_name(db.dtype) == dtype
    else:
        assert db is None
    assert be.dtype_name(dw.dtype) == dtype
    # the adjoint identity <x W, dy> = <x, dy W^T>
    assert np.isclose(np.sum((x @ w) * dy), np.sum(x * host(be, dx)), rtol=1e-4)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_bias_activation_matches_parts(backend, dtype, rng, name):
    be = backend
    z, b, dy = rng.normal(size=(5, 4)), rng.normal(size=4), rng.normal(size=(5, 4))
    # a kernel may compute a in z's buffer (the op allows it): give it a copy
    a, y = be.ops.bias_activation(be.asarray(z.copy(), dtype), be.asarray(b, dtype), name)
    np.testing.assert_allclose(host(be, a), z + b, **tolerance(dtype))
    np.testing.assert_allclose(host(be, y), ref.ACTIVATIONS[name](z + b), **tolerance(dtype))
    da, db = be.ops.bias_activation_backward(be.asarray(dy, dtype), a, y, name, True)
    expected = host(be, be.ops.activation_backward(be.asarray(dy, dtype), a, y, name))
    np.testing.assert_allclose(host(be, da), expected, **tolerance(dtype))
    np.testing.assert_allclose(host(be, db), expected.sum(0), **tolerance(dtype))
    _, db_none = be.ops.bias_activation_backward(be.asarray(dy, dtype), a, y, name, False)
    assert db_none is None


def test_maxout_forward_backward(backend, dtype, rng):
    be = backend
    z = rng.normal(size=(4, 6))  # 3 units x 2 pieces
    y, idx = be.ops.maxout(be.asarray(z, dtype), 2)
    np.testing.assert_allclose(host(be, y), z.reshape(4, 3, 2).max(-1), **tolerance(dtype))
    dy = rng.normal(size=(4, 3))
    dz = host(be, be.ops.maxout_backward(be.asarray(dy, dtype), idx, 2))
    expected = np.zeros((4, 3, 2))
    arg = z.reshape(4, 3, 2).argmax(-1)
    for i in range(4):
        for j in range(3):
            expected[i, j, arg[i, j]] = dy[i, j]
    np.testing.assert_allclose(dz, expected.reshape(4, 6), **tolerance(dtype))


def test_dropout(backend, dtype, rng):
    be = backend
    x, u = rng.normal(size=(50, 20)), rng.random((50, 20))
    y, mask = be.ops.dropout(be.asarray(x, dtype), be.asarray(u, dtype), 0.25)
    expected_mask = (u >= 0.25) / 0.75
    np.testing.assert_allclose(host(be, mask), expected_mask, **tolerance(dtype))
    np.testing.assert_allclose(host(be, y), x * expected_mask, **tolerance(dtype))
    dy = rng.normal(size=x.shape)
    np.testing.assert_allclose(host(be, be.ops.dropout_backward(be.asarray(dy, dtype), mask)), dy * expected_mask,
                               **tolerance(dtype))
    assert be.dtype_name(y.dtype) == dtype


def _targets(rng, kind, shape):
    if kind == "binary":
        return (rng.random(shape) > 0.5).astype(float)
    if kind == "onehot":
        return np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    return rng.normal(size=shape)


LOSSES = [
    # op, reference, kind of prediction, kind of target
    ("mse", ref.mse, "real", "real"),
    ("binary_cross_entropy", ref.bce, "prob", "binary"),
    ("sigmoid_binary_cross_entropy", ref.sigmoid_bce, "real", "binary"),
    ("categorical_cross_entropy", ref.cce, "prob", "onehot"),
    ("softmax_cross_entropy", ref.softmax_ce, "real", "onehot"),
]


@pytest.mark.parametrize("op,reference,pred_kind,target_kind", LOSSES)
def test_loss_value_and_gradient(backend, dtype, rng, op, reference, pred_kind, target_kind):
    be = backend
    shape = (6, 3)
    p = rng.uniform(0.05, 0.95, size=shape) if pred_kind == "prob" else rng.normal(size=shape)
    t = _targets(rng, target_kind, shape)
    loss, grad = getattr(be.ops, op)(be.asarray(p, dtype), be.asarray(t, dtype))
    assert be.dtype_name(loss.dtype) == dtype and be.dtype_name(grad.dtype) == dtype
    assert tuple(loss.shape) == ()
    np.testing.assert_allclose(float(loss), reference(p, t), rtol=1e-5 if dtype == "float32" else 1e-12)
    # gradient of the float64 op against central differences of the reference
    _, g64 = getattr(be.ops, op)(be.asarray(p, "float64"), be.asarray(t, "float64"))
    np.testing.assert_allclose(host(be, g64), ref.numerical_gradient(lambda v: reference(v, t), p),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op,dense_op", [("sparse_softmax_cross_entropy", "softmax_cross_entropy"),
                                         ("sparse_categorical_cross_entropy", "categorical_cross_entropy")])
def test_sparse_losses_equal_one_hot(backend, dtype, rng, op, dense_op):
    be = backend
    labels = rng.integers(0, 4, size=9)
    p = rng.uniform(0.05, 0.95, size=(9, 4))
    sparse = getattr(be.ops, op)(be.asarray(p, dtype), be.asarray(labels))
    dense = getattr(be.ops, dense_op)(be.asarray(p, dtype), be.asarray(np.eye(4)[labels], dtype))
    np.testing.assert_allclose(float(sparse[0]), float(dense[0]), rtol=1e-6)
    np.testing.assert_allclose(host(be, sparse[1]), host(be, dense[1]), rtol=1e-6)


@pytest.mark.parametrize("op", ["softmax_cross_entropy", "sigmoid_binary_cross_entropy"])
def test_fused_losses_finite_at_extreme_logits(backend, dtype, op):
    be = backend
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    loss, grad = getattr(be.ops, op)(be.asarray(z, dtype), be.asarray(t, dtype))
    assert np.isfinite(float(loss)) and np.all(np.isfinite(host(be, grad)))
    expected = {"softmax_cross_entropy": 1000.0, "sigmoid_binary_cross_entropy": 1000.0}[op]
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    np.testing.assert_allclose(np.abs(host(be, grad)).max(), 0.5, rtol=1e-6)


def test_elastic_net_penalty(backend, dtype, rng):
    be = backend
    w = away_from_kinks(rng, (3, 4))
    pen, grad = be.ops.elastic_net_penalty(be.asarray(w, dtype), 0.01, 0.02)
    np.testing.assert_allclose(float(pen), 0.01 * np.abs(w).sum() + 0.02 * (w**2).sum(), rtol=1e-6)
    np.testing.assert_allclose(host(be, grad), 0.01 * np.sign(w) + 0.04 * w, **tolerance(dtype))
