"""One table of op cases (tests/_op_harness.py) drives four checks: the generic op against its
reference, its backward along a random direction (float64), every backend's kernel against the
generic op, and dtype preservation. A new op adds its cases here."""

import numpy as np
import pytest

import _reference as ref
import nnkit as nk
from _op_harness import OpCase, directional_error, host_outputs, run
from conftest import tolerance
from nnkit.ops import ACTIVATION_NAMES


def away_from_kinks(rng, shape, dtype, scale=2.0):
    x = rng.normal(0, scale, size=shape)
    return np.where(np.abs(x) < 5e-2, 0.5, x).astype(dtype)


def _activation_case(name):
    return OpCase(
        name=name, op=name,
        make=lambda rng, dtype: ((away_from_kinks(rng, (5, 7), dtype),), {}),
        reference=lambda x: ref.ACTIVATIONS[name](x.astype(np.float64)),
        vjp=lambda ops, args, kw, y, dy: (getattr(ops, f"{name}_backward")(dy, args[0], y),),
        wrt=(0,))


def _bias_activation_case(name):
    return OpCase(
        name=f"bias_activation-{name}", op="bias_activation",
        make=lambda rng, dtype: ((away_from_kinks(rng, (6, 5), dtype), rng.normal(size=5).astype(dtype) * 0.01,
                                  name), {}),
        reference=lambda z, b, n: ref.ACTIVATIONS[n](z + b),
        primary=lambda result: result[1],
        vjp=lambda ops, args, kw, r, dy: ops.bias_activation_backward(dy, r[0], r[1], args[2], True),
        wrt=(0, 1))


def _labels(rng, n, k):
    return rng.integers(0, k, size=n)


def _onehot(rng, n, k, dtype):
    return np.eye(k, dtype=dtype)[_labels(rng, n, k)]


def _loss_case(op, make, reference):
    return OpCase(name=op, op=op, make=make, reference=reference, primary=lambda result: result[0],
                  vjp=lambda ops, args, kw, r, dy: (r[1] * dy,), wrt=(0,))


def _dropout_make(rng, dtype):
    u = rng.random((6, 5)).astype(dtype)
    return (rng.normal(size=(6, 5)).astype(dtype), np.where(np.abs(u - 0.3) < 1e-3, 0.5, u), 0.3), {}


def _sgd_reference(w, g, v, lr, momentum, nesterov, weight_decay):
    g = g + weight_decay * w
    v = momentum * v + g
    return [w - lr * (g + momentum * v if nesterov else v), v]


def _adam_reference(w, g, m, v, lr, step, beta1, beta2, eps, weight_decay):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    w = w - lr / (1 - beta1**step) * m / (np.sqrt(v) / np.sqrt(1 - beta2**step) + eps)
    return [w, m, v]


SGD_HP = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
ADAM_HP = dict(lr=0.01, step=3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)


def _state_make(n_state):
    def make(rng, dtype):
        w = rng.normal(size=(4, 3)).astype(dtype)
        return (w, rng.normal(size=w.shape).astype(dtype),
                *[np.abs(rng.normal(size=w.shape)).astype(dtype) for _ in range(n_state)]), {}
    return make


CASES = [_activation_case(name) for name in ACTIVATION_NAMES] + [
    _bias_activation_case("relu"), _bias_activation_case("softmax"), _bias_activation_case("linear"),
    OpCase(name="affine", op="affine",
           make=lambda rng, dtype: ((rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=(4, 3)).astype(dtype),
                                     rng.normal(size=3).astype(dtype)), {}),
           reference=lambda x, w, b: x @ w + b,
           vjp=lambda ops, args, kw, y, dy: ops.affine_backward(dy, args[0], args[1]), wrt=(0, 1, 2)),
    OpCase(name="maxout", op="maxout",
           make=lambda rng, dtype: ((rng.normal(size=(5, 6)).astype(dtype), 3), {}),
           reference=lambda z, k: z.reshape(z.shape[0], -1, k).max(-1),
           primary=lambda result: result[0],
           vjp=lambda ops, args, kw, r, dy: (ops.maxout_backward(dy, r[1], args[1]),), wrt=(0,)),
    OpCase(name="dropout", op="dropout", make=_dropout_make,
           reference=lambda x, u, rate: x * (u >= rate) / (1 - rate),
           primary=lambda result: result[0],
           vjp=lambda ops, args, kw, r, dy: (ops.dropout_backward(dy, r[1]),), wrt=(0,)),
    _loss_case("mse", lambda rng, d: ((rng.normal(size=(6, 3)).astype(d), rng.normal(size=(6, 3)).astype(d)), {}),
               ref.mse),
    _loss_case("binary_cross_entropy",
               lambda rng, d: ((rng.uniform(0.05, 0.95, (6, 2)).astype(d), (rng.random((6, 2)) > 0.5).astype(d)), {}),
               ref.bce),
    _loss_case("sigmoid_binary_cross_entropy",
               lambda rng, d: ((rng.normal(0, 3, (6, 2)).astype(d), (rng.random((6, 2)) > 0.5).astype(d)), {}),
               ref.sigmoid_bce),
    _loss_case("categorical_cross_entropy",
               lambda rng, d: ((rng.dirichlet(np.ones(4), 6).astype(d), _onehot(rng, 6, 4, d)), {}), ref.cce),
    _loss_case("softmax_cross_entropy",
               lambda rng, d: ((rng.normal(0, 3, (6, 4)).astype(d), _onehot(rng, 6, 4, d)), {}), ref.softmax_ce),
    _loss_case("sparse_softmax_cross_entropy",
               lambda rng, d: ((rng.normal(0, 3, (6, 4)).astype(d), _labels(rng, 6, 4)), {}),
               lambda z, labels: ref.softmax_ce(z, np.eye(z.shape[1])[labels])),
    _loss_case("sparse_categorical_cross_entropy",
               lambda rng, d: ((rng.dirichlet(np.ones(4), 6).astype(d), _labels(rng, 6, 4)), {}),
               lambda p, labels: ref.cce(p, np.eye(p.shape[1])[labels])),
    OpCase(name="elastic_net_penalty", op="elastic_net_penalty",
           make=lambda rng, d: ((away_from_kinks(rng, (4, 3), d), 0.03, 0.2), {}),
           reference=lambda w, l1, l2: l1 * np.abs(w).sum() + l2 * (w * w).sum(),
           primary=lambda result: result[0],
           vjp=lambda ops, args, kw, r, dy: (r[1] * dy,), wrt=(0,)),
    OpCase(name="sgd_update", op="sgd_update", make=lambda rng, d: (_state_make(1)(rng, d)[0], SGD_HP),
           reference=lambda w, g, v, **kw: _sgd_reference(w, g, v, **kw), mutates=(0, 2)),
    OpCase(name="adam_update", op="adam_update", make=lambda rng, d: (_state_make(2)(rng, d)[0], ADAM_HP),
           reference=lambda w, g, m, v, **kw: _adam_reference(w, g, m, v, **kw), mutates=(0, 2, 3)),
]
DIFFERENTIABLE = [c for c in CASES if c.vjp is not None and c.op not in ("step",)]


def _listed(expected):
    return [np.asarray(e, dtype=np.float64) for e in (expected if isinstance(expected, list) else [expected])]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_generic_op_matches_its_reference(case, dtype):
    numpy_be = nk.get_backend("numpy")
    args, kwargs = case.make(np.random.default_rng(7), dtype)
    dev, result = run(numpy_be, case, args, kwargs, generic=True)
    got = host_outputs(numpy_be, case, dev, case.primary(result) if not case.mutates else result)
    wide = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    expected = _listed(case.reference(*wide, **kwargs))
    tol = tolerance(dtype) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, **tol)


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=repr)
def test_backward_along_a_random_direction(case):
    rng = np.random.default_rng(11)
    args, kwargs = case.make(rng, "float64")
    ops = nk.get_backend("numpy").ops
    assert directional_error(case, ops, args, kwargs, rng) < 1e-6


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_kernel_table_matches_the_generic_op_and_keeps_the_dtype(case, backend, dtype):
    args, kwargs = case.make(np.random.default_rng(3), dtype)
    dev_k, got = run(backend, case, args, kwargs)
    dev_g, want = run(backend, case, args, kwargs, generic=True)
    got, want = host_outputs(backend, case, dev_k, got), host_outputs(backend, case, dev_g, want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w.dtype.kind == "f" and w.ndim:  # every float array keeps the inputs' dtype
            assert g.dtype == np.dtype(dtype), (case, g.dtype)
        np.testing.assert_allclose(g, w, **tolerance(dtype))
