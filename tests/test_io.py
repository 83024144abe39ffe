"""save -> load -> predict identical, across backends; damaged, foreign and newer files rejected."""

import json
import zipfile

import numpy as np
import pytest

import nnkit as nk
from conftest import tolerance
from nnkit.layers import Dense, Dropout, Maxout, Residual


def _trained(backend="numpy", dtype="float32"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 3, size=40)
    model = nk.Sequential([Dense(8, activation="elu", input_dim=3, kernel_regularizer="l2"), Dropout(0.1),
                           Residual(Dense(8, activation="tanh")), Maxout(6, pieces=2),
                           Dense(3, activation="softmax")], backend=backend, dtype=dtype, seed=5)
    model.compile(nk.optimizers.Adam(lr=nk.schedules.ExponentialDecay(0.01, 0.9, 10)),
                  "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    return model, X, y


def test_save_load_predict_identical_across_backends(train_backend, tmp_path, dtype):
    model, X, y = _trained("numpy", dtype)
    path = tmp_path / "model.nnk"
    model.save(path)
    again = nk.load_model(path, backend=train_backend)
    assert again.backend.name == train_backend.name
    assert again.backend.dtype_name(again.dtype) == dtype
    if train_backend.name == "numpy":
        np.testing.assert_array_equal(again.predict(X), model.predict(X))
    else:  # another backend's fused kernels round differently: equal to the dtype's precision
        np.testing.assert_allclose(again.predict(X), model.predict(X), **tolerance(dtype))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.optimizer.iterations == model.optimizer.iterations
    assert again.optimizer.get_config() == model.optimizer.get_config()


def test_training_resumes_exactly_after_load(tmp_path):
    model, X, y = _trained("numpy", "float64")
    model.save(tmp_path / "m.nnk")
    again = nk.load_model(tmp_path / "m.nnk")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=3)
    again.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=3)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_is_atomic_and_leaves_no_temporary(tmp_path):
    model, _, _ = _trained()
    model.save(tmp_path / "m.nnk")
    model.save(tmp_path / "m.nnk")  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["m.nnk"]


def test_truncated_file(tmp_path):
    model, _, _ = _trained()
    model.save(tmp_path / "m.nnk")
    data = (tmp_path / "m.nnk").read_bytes()
    (tmp_path / "cut.nnk").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        nk.load_model(tmp_path / "cut.nnk")


def test_foreign_files(tmp_path):
    (tmp_path / "text.nnk").write_text("hello")
    with pytest.raises(ValueError, match="not a readable nnkit model"):
        nk.load_model(tmp_path / "text.nnk")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not an nnkit model file"):
        nk.load_model(tmp_path / "other.npz")
    # a pickled object array is refused, never unpickled
    np.savez(tmp_path / "pickle.npz", __nnkit__=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        nk.load_model(tmp_path / "pickle.npz")
    with pytest.raises(FileNotFoundError):
        nk.load_model(tmp_path / "missing.nnk")


def _rewrite(src, dst, edit_config=None, drop=None, replace=None):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    config = json.loads(arrays["__nnkit__"].tobytes())
    if edit_config:
        edit_config(config)
    arrays["__nnkit__"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    for key in drop or []:
        del arrays[key]
    arrays.update(replace or {})
    np.savez(dst, **arrays)


def test_newer_version_and_damaged_contents(tmp_path):
    model, _, _ = _trained()
    src = tmp_path / "m.nnk.npz"
    model.save(src)
    _rewrite(src, tmp_path / "newer.npz", edit_config=lambda c: c.update(version=99))
    with pytest.raises(ValueError, match="version 99"):
        nk.load_model(tmp_path / "newer.npz")
    _rewrite(src, tmp_path / "noweight.npz", drop=["w/0"])
    with pytest.raises(ValueError, match="lacks weight"):
        nk.load_model(tmp_path / "noweight.npz")
    _rewrite(src, tmp_path / "shape.npz", replace={"w/0": np.ones((2, 2), np.float32)})
    with pytest.raises(ValueError, match="shape"):
        nk.load_model(tmp_path / "shape.npz")
    _rewrite(src, tmp_path / "arch.npz", edit_config=lambda c: c["architecture"].append({"class": "Evil"}))
    with pytest.raises(ValueError, match="unknown layer class"):
        nk.load_model(tmp_path / "arch.npz")
    _rewrite(src, tmp_path / "nokey.npz", edit_config=lambda c: c.pop("dtype"))
    with pytest.raises(ValueError, match="dtype"):
        nk.load_model(tmp_path / "nokey.npz")
    with zipfile.ZipFile(tmp_path / "json.npz", "w") as z:
        z.writestr("__nnkit__.npy", b"\x93NUMPY garbage")
    with pytest.raises(ValueError):
        nk.load_model(tmp_path / "json.npz")


def test_uncompiled_model_round_trip(tmp_path):
    model = nk.Sequential([Dense(3, activation="relu", input_dim=2), Dense(1)], seed=0)
    model.build()
    model.save(tmp_path / "m.nnk")
    again = nk.load_model(tmp_path / "m.nnk")
    assert again.optimizer is None and again.loss is None
    x = np.ones((2, 2))
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
