"""The numba kernel table: every kernel has its op's name and signature and returns what the
generic op returns (float32 and float64, 1-row and odd shapes); parallel variants equal serial."""

import inspect

import numpy as np
import pytest

from conftest import tolerance
from nnkit.ops import ACTIVATION_NAMES, GENERIC_OPS

numba = pytest.importorskip("numba")
from nnkit._kernels.numba import KERNELS, _jit, _threads  # noqa: E402

SHAPES = [(1, 7), (5, 3), (33, 17)]
DTYPES = ["float32", "float64"]


def close(actual, expected, dtype):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **tolerance(dtype))


def pair(name, *args, **kwargs):
    """(kernel result, generic result), each on its own copies of the arrays."""
    copies = [[a.copy() if isinstance(a, np.ndarray) else a for a in args] for _ in range(2)]
    got = KERNELS[name](*copies[0], xp=np, **kwargs)
    want = GENERIC_OPS[name](*copies[1], xp=np, **kwargs)
    return got, want, copies


def kinks_away(rng, shape, dtype, scale=2.0):
    x = rng.normal(0, scale, size=shape)
    return np.where(np.abs(x) < 1e-2, 0.5, x).astype(dtype)


def test_every_kernel_has_its_ops_name_and_signature():
    assert KERNELS, "the numba backend binds no kernel"
    for name, kernel in KERNELS.items():
        assert name in GENERIC_OPS, f"{name} is not an op"
        assert kernel.__name__ == name
        assert inspect.signature(kernel) == inspect.signature(GENERIC_OPS[name]), name


def test_the_hot_ops_have_kernels():
    hot = {"bias_activation", "bias_activation_backward", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mse", "sgd_update",
           "adagrad_update", "rmsprop_update", "adam_update", "adamw_update", "dropout",
           "dropout_backward"}
    assert hot <= set(KERNELS)


def test_backend_binds_the_kernels():
    import nnkit as nk

    be = nk.get_backend("numba")
    assert be.ops.bias_activation.func is KERNELS["bias_activation"]
    assert be.ops.affine.func is GENERIC_OPS["affine"]  # no kernel: the generic op


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activations_match_generic(rng, dtype, shape, name):
    z = kinks_away(rng, shape, dtype)
    b = rng.normal(size=shape[1]).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    (a, y), (a_ref, y_ref), _ = pair("bias_activation", z, b, name)
    assert y.dtype == np.dtype(dtype) and a.dtype == np.dtype(dtype)
    close(a, a_ref, dtype)
    close(y, y_ref, dtype)
    for with_bias in (True, False):
        (da, db), (da_ref, db_ref), _ = pair("bias_activation_backward", dy, a_ref, y_ref, name,
                                              with_bias)
        close(da, da_ref, dtype)
        if with_bias:
            close(db, db_ref, dtype)
        else:
            assert db is None and db_ref is None
    (a0, y0), (_, y0_ref), _ = pair("bias_activation", z, None, name)
    close(y0, y0_ref, dtype)
    y1, y1_ref, _ = pair("activation", z, name)
    close(y1, y1_ref, dtype)
    dx, dx_ref, _ = pair("activation_backward", dy, z, y1_ref, name)
    close(dx, dx_ref, dtype)
    y2, y2_ref, _ = pair(name, z)
    close(y2, y2_ref, dtype)
    dx2, dx2_ref, _ = pair(f"{name}_backward", dy, z, y2_ref)
    close(dx2, dx2_ref, dtype)


def test_activation_keeps_nan_and_handles_other_ranks(rng):
    x = np.array([[np.nan, -1.0, 2.0]])
    for name in ("relu", "sigmoid", "tanh", "elu", "softplus"):
        y = KERNELS["activation"](x, name, xp=np)
        assert np.isnan(y[0, 0]), name
    x3 = rng.normal(size=(2, 3, 4))
    for x_in in (x3, x3[0, 0], x3.transpose(0, 2, 1)):  # 3-D, 1-D and a strided view
        for name in ("relu", "softmax", "gelu"):
            got = KERNELS["activation"](x_in, name, xp=np)
            np.testing.assert_allclose(got, GENERIC_OPS["activation"](x_in, name, xp=np), rtol=1e-12)


LOSSES = ["mse", "binary_cross_entropy", "sigmoid_binary_cross_entropy",
          "categorical_cross_entropy", "softmax_cross_entropy"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LOSSES)
def test_losses_match_generic(rng, dtype, shape, name):
    if name in ("binary_cross_entropy", "categorical_cross_entropy"):
        pred = rng.uniform(0.01, 0.99, size=shape).astype(dtype)
    else:
        pred = rng.normal(0, 3, size=shape).astype(dtype)
    target = rng.uniform(0, 1, size=shape).astype(dtype)
    (loss, grad), (loss_ref, grad_ref), _ = pair(name, pred, target)
    assert grad.dtype == np.dtype(dtype) and np.asarray(loss).dtype == np.dtype(dtype)
    close(loss, loss_ref, dtype)
    close(grad, grad_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["sparse_softmax_cross_entropy", "sparse_categorical_cross_entropy"])
def test_sparse_losses_match_generic(rng, dtype, shape, name):
    pred = rng.uniform(0.01, 0.99, size=shape).astype(dtype)
    labels = rng.integers(0, shape[1], size=shape[0])
    (loss, grad), (loss_ref, grad_ref), _ = pair(name, pred, labels)
    close(loss, loss_ref, dtype)
    close(grad, grad_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_losses_stable_at_extreme_logits(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=dtype)
    target = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=dtype)
    for name, t in (("softmax_cross_entropy", target), ("sigmoid_binary_cross_entropy", target),
                    ("sparse_softmax_cross_entropy", np.array([1, 0]))):
        (loss, grad), (loss_ref, grad_ref), _ = pair(name, logits, t)
        assert np.isfinite(loss) and np.all(np.isfinite(grad)), name
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-6)
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-6, atol=1e-7)
    assert float(KERNELS["sigmoid_binary_cross_entropy"](logits, target, xp=np)[0]) == \
        pytest.approx(4000 / 2 + np.log(2) / 2, rel=1e-6)
    nan = np.array([[np.nan, 0.0]], dtype=dtype)
    assert np.isnan(KERNELS["softmax_cross_entropy"](nan, np.array([[1.0, 0.0]], dtype), xp=np)[0])


OPTIMIZERS = [
    ("sgd_update", 1, dict(lr=0.1)),
    ("sgd_update", 1, dict(lr=0.1, momentum=0.9)),
    ("sgd_update", 1, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adagrad_update", 1, dict(lr=0.1, step=3, lr_decay=0.01, weight_decay=0.1)),
    ("rmsprop_update", 3, dict(lr=0.01)),
    ("rmsprop_update", 3, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("adam_update", 2, dict(lr=0.01, step=5)),
    ("adam_update", 2, dict(lr=0.01, step=1, weight_decay=0.1)),
    ("adamw_update", 2, dict(lr=0.01, step=7, weight_decay=0.1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (3001,)])
@pytest.mark.parametrize("name, n_state, kwargs", OPTIMIZERS)
def test_optimizer_updates_match_generic(rng, dtype, shape, name, n_state, kwargs):
    w = rng.normal(size=shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    state = [np.abs(rng.normal(size=shape)).astype(dtype) for _ in range(n_state)]
    if name == "rmsprop_update" and kwargs.get("centered"):
        state[0] += 1.0  # keep S - G^2 > 0
        state[2] *= 0.1
    result, _, (mine, ref) = pair(name, w, g, *state, **kwargs)
    assert result is None
    for a, b in zip(mine, ref):  # w, g and every state array, updated in place
        assert a.dtype == np.dtype(dtype)
        close(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 5), (9, 7)])
def test_dropout_matches_generic(rng, dtype, shape):
    x = rng.normal(size=shape).astype(dtype)
    u = rng.random(shape).astype(dtype)
    (y, mask), (y_ref, mask_ref), _ = pair("dropout", x, u, 0.3)
    close(y, y_ref, dtype)
    close(mask, mask_ref, dtype)
    dx, dx_ref, _ = pair("dropout_backward", x, mask_ref)
    close(dx, dx_ref, dtype)


def test_kernels_fall_back_on_arrays_they_do_not_take(rng):
    z = rng.normal(size=(6, 4)).T  # F-ordered: goes to the generic op
    b = rng.normal(size=6)
    a, y = KERNELS["bias_activation"](z, b, "tanh", xp=np)
    np.testing.assert_allclose(y, np.tanh(z + b), rtol=1e-12)
    w, g, v = rng.normal(size=(3, 5)), rng.normal(size=(5, 3)).T, np.zeros((3, 5))
    w_ref = w - 0.1 * g
    KERNELS["sgd_update"](w, g, v, lr=0.1, momentum=0.0, xp=np)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12)


@pytest.fixture
def always_parallel(monkeypatch):
    for kind in _threads.PARALLEL_MIN_SIZE:
        monkeypatch.setitem(_threads.PARALLEL_MIN_SIZE, kind, 0)


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax"])
def test_parallel_variants_equal_serial(rng, always_parallel, name):
    z = rng.normal(size=(37, 19))
    b, dy = rng.normal(size=19), rng.normal(size=(37, 19))
    a_par, y_par = KERNELS["bias_activation"](z.copy(), b, name, xp=np)
    a_ser, y_ser = z + b, np.empty_like(z)
    _jit.bias_activation_serial(z.copy(), b, y_ser, True, _jit.__dict__[name.upper()])
    np.testing.assert_array_equal(y_par, y_ser)
    da_par, db_par = KERNELS["bias_activation_backward"](dy, a_par, y_par, name, True, xp=np)
    da_ser, db_ser = np.empty_like(dy), np.empty(19)
    _jit.bias_activation_backward_serial(dy, a_ser, y_ser, da_ser, db_ser, True,
                                         _jit.__dict__[name.upper()])
    np.testing.assert_array_equal(da_par, da_ser)
    np.testing.assert_allclose(db_par, db_ser, rtol=1e-14)


def test_parallel_optimizer_and_dropout_equal_serial(rng, always_parallel):
    w, g, m, v = (rng.normal(size=1001) for _ in range(4))
    v = np.abs(v)
    par = [a.copy() for a in (w, g, m, v)]
    KERNELS["adam_update"](*par, lr=0.01, step=3, weight_decay=0.1, xp=np)
    ser = [a.copy() for a in (w, g, m, v)]
    _jit.adam_serial(ser[0], ser[1], ser[2], ser[3], 0.01 / (1 - 0.9**3), np.sqrt(1 - 0.999**3),
                     0.9, 1 - 0.9, 0.999, 1 - 0.999, 1e-8, 0.1, 1.0)
    for a, b in zip(par, ser):
        np.testing.assert_array_equal(a, b)
    par = [w.copy(), g.copy(), m.copy()]
    KERNELS["sgd_update"](*par, lr=0.1, momentum=0.9, nesterov=True, xp=np)
    ser = [w.copy(), g.copy(), m.copy()]
    _jit.sgd_serial(*ser, 0.1, 0.9, True, 0.0)
    for a, b in zip(par, ser):
        np.testing.assert_array_equal(a, b)
    u = rng.random(1001)
    y, mask = KERNELS["dropout"](w, u, 0.25, xp=np)
    np.testing.assert_array_equal(mask, (u >= 0.25) / 0.75)
    np.testing.assert_array_equal(y, w * mask)


# -- the scalar pairs the per-op kernels and the generated training steps share ---------------
@numba.njit(cache=False)
def _map_forward(f, x, y):
    for i in range(x.size):
        y.flat[i] = f(x.flat[i])


@numba.njit(cache=False)
def _map_backward(df, dy, x, y, dx):
    for i in range(x.size):
        dx.flat[i] = df(dy.flat[i], x.flat[i], y.flat[i])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(_jit.SCALAR_NAMES.values()))
def test_every_scalar_pair_matches_its_generic_op(dtype, name):
    """f and dy f'(x) of the scalar pair (the step activation included) equal the generic op
    elementwise, in the dtype, on both sides of 0 and at 0 itself."""
    rng = np.random.default_rng(4)
    x = np.concatenate([kinks_away(rng, (64,), dtype), np.array([0.0, -0.0, 30.0, -30.0])]).astype(dtype)
    dy = rng.normal(size=x.shape).astype(dtype)
    y = np.empty_like(x)
    _map_forward(getattr(_jit, f"{name}_scalar"), x, y)
    y_ref = GENERIC_OPS[name](x, xp=np)
    assert y.dtype == np.dtype(dtype)
    close(y, y_ref, dtype)
    dx = np.empty_like(x)
    _map_backward(getattr(_jit, f"{name}_backward_scalar"), dy, x, y_ref, dx)
    close(dx, GENERIC_OPS[f"{name}_backward"](dy, x, y_ref, xp=np), dtype)


def test_the_scalar_pairs_cover_every_elementwise_activation():
    rowwise = {"linear", "softmax"}  # their kernels work on whole rows
    assert set(_jit.SCALAR_NAMES.values()) == set(ACTIVATION_NAMES) - rowwise


@pytest.mark.parametrize("dtype", DTYPES)
def test_elastic_net_kernel_matches_the_generic_penalty(dtype):
    """The training step's elastic_net: the penalty returned and its gradient added to g equal
    nnkit.ops' elastic_net_penalty (zeros keep sign 0)."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(7, 5)).astype(dtype)
    w[0, :2] = 0.0
    g = rng.normal(size=w.shape).astype(dtype)
    l1, l2 = 0.03, 0.2
    T = np.dtype(dtype).type
    g_kernel = g.copy()
    penalty = _jit.elastic_net(w.reshape(-1), g_kernel.reshape(-1), T(l1), T(l2), T(2 * l2))
    p_ref, dp_ref = GENERIC_OPS["elastic_net_penalty"](w, l1, l2, xp=np)
    assert g_kernel.dtype == np.dtype(dtype)
    close(g_kernel, g + dp_ref, dtype)
    np.testing.assert_allclose(penalty, float(p_ref), rtol=1e-6 if dtype == "float32" else 1e-12)
