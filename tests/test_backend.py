"""Backends: names, "auto", array-API namespaces, unavailable ones, the default and use_backend."""

import numpy as np
import pytest

import nnkit as nk
from nnkit.ops import GENERIC_OPS


def test_available_and_default():
    names = nk.available_backends()
    assert names[0] == "numpy" and set(names) <= {"numpy", "numba", "cupy"}
    assert nk.get_backend(None).name == "numpy"
    auto = nk.get_backend("auto")
    expected = "cupy" if "cupy" in names else ("numba" if "numba" in names else "numpy")
    assert auto.name == expected


def test_use_backend_and_set_backend():
    with nk.use_backend("numba" if "numba" in nk.available_backends() else "numpy") as be:
        model = nk.Sequential([nk.layers.Dense(2, input_dim=2)])
        assert model.backend is be
    assert nk.Sequential([]).backend.name == "numpy"
    nk.set_backend("numpy")
    assert nk.get_backend(None).name == "numpy"


def test_unknown_and_unavailable_backends_list_what_is_available():
    with pytest.raises(ValueError, match=r"available here: \['numpy'"):
        nk.get_backend("jax")
    if "cupy" not in nk.available_backends():
        with pytest.raises(ValueError, match="not available"):
            nk.get_backend("cupy")
    with pytest.raises(TypeError):
        nk.get_backend(42)


def test_array_api_namespace_gives_a_generic_backend():
    xp = pytest.importorskip("array_api_strict")
    be = nk.get_backend(xp)
    assert be.xp is xp and be.kernels == {}
    assert set(vars(be.ops)) == set(GENERIC_OPS)
    model = nk.Sequential([nk.layers.Dense(3, activation="relu", input_dim=2), nk.layers.Dense(1)], backend=xp, seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "mse", ["mae"])
    X = np.random.default_rng(0).normal(size=(20, 2))
    history = model.fit(X, X[:, :1] * 2, epochs=5, batch_size=6, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    reference = nk.Sequential([nk.layers.Dense(3, activation="relu", input_dim=2), nk.layers.Dense(1)], seed=0)
    reference.compile(nk.optimizers.SGD(lr=0.1, momentum=0.9), "mse", ["mae"])
    reference.fit(X, X[:, :1] * 2, epochs=5, batch_size=6, verbose=0, seed=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_numpy_namespace_maps_to_numpy_backend():
    assert nk.get_backend(np).name == "numpy"


def test_model_to_moves_parameters_and_optimizer_state(train_backend):
    X = np.random.default_rng(0).normal(size=(16, 3))
    model = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=3), nk.layers.Dense(1)],
                          dtype="float64", seed=0)
    model.compile(nk.optimizers.Adam(lr=0.01), "mse")
    model.fit(X, X[:, :1], epochs=2, batch_size=4, verbose=0, seed=0)
    stay = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=3), nk.layers.Dense(1)],
                         dtype="float64", seed=0)
    stay.compile(nk.optimizers.Adam(lr=0.01), "mse")
    stay.fit(X, X[:, :1], epochs=2, batch_size=4, verbose=0, seed=0)
    model.to(train_backend)
    assert model.backend == train_backend
    assert all(train_backend.is_array(p.value) for p in model.parameters())
    model.fit(X, X[:, :1], epochs=1, batch_size=4, verbose=0, seed=9)
    stay.fit(X, X[:, :1], epochs=1, batch_size=4, verbose=0, seed=9)
    for a, b in zip(model.get_weights(), stay.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    model.to("numpy")
    assert model.backend.name == "numpy"


def test_host_rng_is_pcg64():
    from nnkit.backend import host_rng

    a = host_rng(3).random(4)
    b = np.random.Generator(np.random.PCG64(3)).random(4)
    np.testing.assert_array_equal(a, b)
