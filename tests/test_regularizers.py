"""Regularizers: penalties and gradients against hand-computed numbers and central differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnkit import regularizers

# the fixtures `backend` (every backend, skipped visibly where unavailable) and `dtype` come from
# conftest.py


W = np.array([[0.5, -2.0], [0.0, 3.0]])  # sum |W| = 5.5, sum W^2 = 0.25 + 4 + 0 + 9 = 13.25


@pytest.mark.parametrize("reg, penalty, gradient", [
    # 0.1 * 5.5; 0.1 sign(W), 0 at W = 0
    (regularizers.L1(0.1), 0.55, [[0.1, -0.1], [0.0, 0.1]]),
    # 0.1 * 13.25; 2 * 0.1 W
    (regularizers.L2(0.1), 1.325, [[0.1, -0.4], [0.0, 0.6]]),
    # 0.1 * 5.5 + 0.2 * 13.25 = 0.55 + 2.65; 0.1 sign(W) + 0.4 W
    (regularizers.ElasticNet(l1=0.1, l2=0.2), 3.2, [[0.3, -0.9], [0.0, 1.3]]),
    # defaults 0.01 each: 0.055 + 0.1325; 0.01 sign(W) + 0.02 W
    (regularizers.ElasticNet(), 0.1875, [[0.02, -0.05], [0.0, 0.07]]),
])
def test_penalty_and_gradient_by_hand(reg, penalty, gradient, backend, dtype):
    w = backend.asarray(W.astype(dtype))
    p, g = reg.penalty_and_gradient(w, backend)
    assert p.ndim == 0
    assert backend.dtype_name(p.dtype) == dtype and backend.dtype_name(g.dtype) == dtype
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(float(p), penalty, rtol=rtol)
    np.testing.assert_allclose(backend.to_numpy(g), gradient, rtol=rtol, atol=1e-15)
    assert reg(w, backend) == pytest.approx(penalty, rel=rtol)
    assert isinstance(reg(w, backend), float)


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.7), regularizers.ElasticNet(0.2, 0.5)],
                         ids=["l1", "l2", "elastic_net"])
def test_gradient_matches_central_differences(reg, backend):
    rng = np.random.default_rng(3)
    w0 = rng.uniform(0.1, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))  # away from the kink at 0
    _, g = reg.penalty_and_gradient(backend.asarray(w0), backend)
    h = 1e-6
    numeric = np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        plus, minus = w0.copy(), w0.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (reg(backend.asarray(plus), backend) - reg(backend.asarray(minus), backend)) / (2 * h)
    np.testing.assert_allclose(backend.to_numpy(g), numeric, rtol=1e-7, atol=1e-9)


def test_call_without_backend_uses_the_array_namespace():
    assert regularizers.L2(0.1)(W) == pytest.approx(1.325, rel=1e-12)
    xp = pytest.importorskip("array_api_strict")
    assert regularizers.L1(0.1)(xp.asarray(W)) == pytest.approx(0.55, rel=1e-12)


def test_get_and_config():
    assert regularizers.get(None) is None
    for name, cls in [("l1", regularizers.L1), ("L2", regularizers.L2), ("elastic_net", regularizers.ElasticNet),
                      ("ElasticNet", regularizers.ElasticNet)]:
        assert type(regularizers.get(name)) is cls
    assert regularizers.get("l1") == regularizers.L1(0.01)
    reg = regularizers.ElasticNet(0.3, 0.4)
    assert regularizers.get(reg) is reg
    for obj in (reg, regularizers.L1(0.2), regularizers.L2(0.5)):
        config = json.loads(json.dumps(obj.get_config()))
        assert regularizers.get(config) == obj
        assert regularizers.from_config(config).get_config() == config
    assert regularizers.L1(0.2).get_config() == {"class": "L1", "l": 0.2}
    assert reg.get_config() == {"class": "ElasticNet", "l1": 0.3, "l2": 0.4}
    with pytest.raises(ValueError, match=r"'l3'.*'elastic_net'.*'l1'.*'l2'"):
        regularizers.get("l3")
    with pytest.raises(TypeError, match="float"):
        regularizers.get(0.1)
    with pytest.raises(ValueError, match="'Dropout'"):
        regularizers.from_config({"class": "Dropout"})


@pytest.mark.parametrize("make, exc, argument, value", [
    (lambda: regularizers.L1(-0.1), ValueError, "l", "-0.1"),
    (lambda: regularizers.L2(float("nan")), ValueError, "l", "nan"),
    (lambda: regularizers.ElasticNet(l1=0.1, l2=-2), ValueError, "l2", "-2"),
    (lambda: regularizers.ElasticNet(l1="a"), TypeError, "l1", "'a'"),
    (lambda: regularizers.L2(True), TypeError, "l", "True"),
])
def test_bad_strengths(make, exc, argument, value):
    with pytest.raises(exc) as info:
        make()
    assert argument in str(info.value) and value in str(info.value)
