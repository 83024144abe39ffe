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


# -- a backend is a value ----------------------------------------------------------------------
def test_a_backend_is_a_value_nothing_of_it_is_reassigned():
    import copy
    import pickle

    be = nk.get_backend("numpy")
    for name, value in (("name", "other"), ("xp", None), ("train_step_factory", None), ("ops", None),
                        ("kernels", {}), ("rng", None)):
        with pytest.raises(AttributeError):
            setattr(be, name, value)
    with pytest.raises(TypeError):
        be.kernels["affine"] = None  # the kernel table is read-only too
    assert be.name == "numpy" and "affine" not in be.kernels
    assert copy.deepcopy(be) is be and copy.copy(be) is be
    assert pickle.loads(pickle.dumps(be)) is be  # a named backend pickles as its name


def test_code_asks_a_backend_what_its_arrays_can_do_not_its_name():
    """A backend under another name with NumPy's arrays and no kernels trains exactly as numpy."""
    from nnkit.backend import NUMPY_NAMESPACE, Backend, HostArrays

    twin = Backend("host-twin", NUMPY_NAMESPACE, HostArrays())
    assert twin.is_host and twin.has_views and twin.array_module is np and twin.kernels == {}
    assert twin.fits_on_device(10**15) and twin.train_step_factory is None and twin.device_updates == {}
    X = np.random.default_rng(0).normal(size=(24, 3))
    models = []
    for backend in (twin, "numpy"):
        m = nk.Sequential([nk.layers.Dense(4, activation="tanh", input_dim=3), nk.layers.Dropout(0.3),
                           nk.layers.Dense(1)], backend=backend, dtype="float64", seed=0)
        m.compile(nk.optimizers.Adam(lr=0.01), "mse")
        models.append((m.fit(X, X[:, :1], epochs=3, batch_size=5, verbose=0, seed=0).history, m.get_weights()))
    assert models[0][0] == models[1][0]
    for a, b in zip(models[0][1], models[1][1]):
        np.testing.assert_array_equal(a, b)


def test_random_streams_belong_to_their_callers():
    be = nk.get_backend("numpy")
    mine, again = be.generator(7), be.generator(7)
    be.seed(1)
    before = be.rng.bit_generator.state
    drawn = be.random_uniform((3, 2), be.dtype("float32"), mine)
    assert drawn.dtype == np.float32 and be.rng.bit_generator.state == before  # the caller's, not the backend's
    np.testing.assert_array_equal(drawn, again.random((3, 2), dtype=np.float32))
    be.seed(1)
    first = be.random_uniform((4,), be.dtype("float64"))
    be.seed(1)
    np.testing.assert_array_equal(be.random_uniform((4,), be.dtype("float64")), first)


def test_the_compiled_step_belongs_to_the_numba_kernel_table():
    import nnkit._kernels.numpy as numpy_table

    assert nk.get_backend("numpy").train_step_factory is None and nk.get_backend("numpy").table is numpy_table
    if "numba" not in nk.available_backends():
        pytest.skip("numba is not installed")
    import nnkit._kernels.numba as numba_table

    be = nk.get_backend("numba")
    assert be.table is numba_table and be.kernels == numba_table.KERNELS
    assert be.train_step_factory is numba_table.make_train_step and be.train_step_refusal is numba_table.refusal


def test_only_the_backend_modules_name_cupy():
    """distributed training (and every module but the backend's own) reaches CuPy through the
    backend's arrays, never by importing it."""
    import ast
    import pathlib

    root = pathlib.Path(nk.__file__).parent
    for path in [root / "distributed.py", root / "training.py", root / "model.py", root / "optimizers.py",
                 *sorted((root / "layers").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "cupy" not in imported, path.name
