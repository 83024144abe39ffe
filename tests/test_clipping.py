"""Gradient clipping: clipnorm, clipvalue, global_clipnorm on every optimizer (Keras 3's meanings)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import nnkit as nk
from nnkit.clipping import clip_gradients
from nnkit.layers.base import Parameter

OPTIMIZERS = [nk.optimizers.SGD, nk.optimizers.Adagrad, nk.optimizers.RMSprop, nk.optimizers.Adam,
              nk.optimizers.AdamW]


def _grads(rng, scale=3.0):
    return [rng.normal(0, scale, (4, 3)), rng.normal(0, scale, (3,)), rng.normal(0, 0.01, (2, 2))]


def test_clipnorm_scales_each_gradient_to_its_own_norm(backend, rng):
    grads = _grads(rng)
    out = clip_gradients([backend.asarray(g, dtype="float64") for g in grads], backend.xp, clipnorm=1.0)
    for g, c in zip(grads, out):
        norm = np.linalg.norm(g)
        np.testing.assert_allclose(backend.to_numpy(c), g * 1.0 / max(norm, 1.0), rtol=1e-14)
    assert np.linalg.norm(backend.to_numpy(out[0])) == pytest.approx(1.0)
    np.testing.assert_array_equal(backend.to_numpy(out[2]), grads[2])  # under the threshold: unchanged


def test_global_clipnorm_scales_all_together(backend, rng):
    grads = _grads(rng)
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    out = clip_gradients([backend.asarray(g, dtype="float64") for g in grads], backend.xp, global_clipnorm=2.0)
    for g, c in zip(grads, out):
        np.testing.assert_allclose(backend.to_numpy(c), g * 2.0 / total, rtol=1e-14)
    small = clip_gradients([backend.asarray(g, dtype="float64") for g in grads], backend.xp,
                           global_clipnorm=10 * total)
    for g, c in zip(grads, small):
        np.testing.assert_array_equal(backend.to_numpy(c), g)


def test_clipvalue_clips_each_entry(backend, rng):
    grads = _grads(rng)
    out = clip_gradients([backend.asarray(g, dtype="float32") for g in grads], backend.xp, clipvalue=0.5)
    for g, c in zip(grads, out):
        np.testing.assert_array_equal(backend.to_numpy(c), np.clip(g.astype(np.float32), -0.5, 0.5))
        assert backend.to_numpy(c).dtype == np.float32


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_global_clipnorm_matches_torch_clip_grad_norm(rng):
    import torch

    grads = _grads(rng)
    tensors = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g.copy())
    total = torch.nn.utils.clip_grad_norm_(tensors, max_norm=1.5)
    ours = clip_gradients(grads, nk.get_backend("numpy").xp, global_clipnorm=1.5)
    assert float(total) == pytest.approx(np.sqrt(sum(np.sum(g * g) for g in grads)), rel=1e-14)
    for t, c in zip(tensors, ours):
        # torch divides by (norm + 1e-6); Keras 3 and nnkit by the norm itself
        np.testing.assert_allclose(c, t.grad.numpy(), rtol=1e-6 / float(total) * 1.01 + 1e-15)
    for g in grads:  # torch's clip_grad_norm_ on one tensor is clipnorm
        t = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
        t.grad = torch.from_numpy(g.copy())
        norm = float(torch.nn.utils.clip_grad_norm_([t], max_norm=0.7))
        c = clip_gradients([g], nk.get_backend("numpy").xp, clipnorm=0.7)[0]
        np.testing.assert_allclose(c, t.grad.numpy(), rtol=1e-6 / norm * 1.01 + 1e-15)


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_every_optimizer_takes_clipping_and_saves_it(cls):
    opt = cls(clipnorm=1.0)
    assert opt.clipnorm == 1.0 and opt.clipvalue is None and opt.global_clipnorm is None
    config = cls(global_clipnorm=2, clipvalue=0.1).get_config()
    assert config["global_clipnorm"] == 2.0 and config["clipvalue"] == 0.1
    again = nk.optimizers.from_config(config)
    assert type(again) is cls and again.global_clipnorm == 2.0 and again.clipvalue == 0.1
    assert "clipnorm" not in cls().get_config()
    with pytest.raises(ValueError, match="Only one of clipnorm and global_clipnorm"):
        cls(clipnorm=1.0, global_clipnorm=1.0)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="clipvalue"):
            cls(clipvalue=bad)
    with pytest.raises(TypeError, match="clipnorm"):
        cls(clipnorm="1")


def test_step_updates_with_the_clipped_gradient(backend):
    be = backend
    w = Parameter(be.asarray(np.zeros(4), dtype="float64"), "w")
    w.grad = be.asarray(np.array([3.0, 4.0, 0.0, 0.0]), dtype="float64")  # norm 5
    nk.optimizers.SGD(lr=1.0, clipnorm=1.0).step([w], be)
    np.testing.assert_allclose(be.to_numpy(w.value), [-0.6, -0.8, 0.0, 0.0], rtol=1e-14)
    v = Parameter(be.asarray(np.zeros(2), dtype="float64"), "v")
    v.grad = be.asarray(np.array([3.0, -0.2]), dtype="float64")
    nk.optimizers.SGD(lr=1.0, clipvalue=0.5, clipnorm=10.0).step([v], be)  # clipnorm wins, as Keras
    np.testing.assert_allclose(be.to_numpy(v.value), [-3.0, 0.2], rtol=1e-14)


def test_fit_with_clipping_is_the_same_on_every_training_backend(train_backend, rng):
    X, y = rng.normal(0, 3, size=(32, 6, 2)), rng.integers(0, 2, 32)

    def run(backend):
        model = nk.Sequential([nk.layers.LSTM(5), nk.layers.Dense(2, activation="softmax")], backend=backend,
                              dtype="float64", seed=4)
        model.compile(nk.optimizers.Adam(0.05, global_clipnorm=0.1), "sparse_categorical_crossentropy")
        model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=1)
        return model.get_weights()

    ref = run("numpy")
    for a, b in zip(run(train_backend), ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    model = nk.Sequential([nk.layers.LSTM(5), nk.layers.Dense(2, activation="softmax")], dtype="float64", seed=4)
    model.compile(nk.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=1)
    assert max(np.abs(a - b).max() for a, b in zip(model.get_weights(), ref)) > 1e-6  # clipping acted


def test_numba_compiled_step_steps_aside_for_clipping():
    pytest.importorskip("numba")
    from nnkit._kernels.numba.train_step import plan

    model = nk.Sequential([nk.layers.Dense(4, activation="relu", input_dim=3), nk.layers.Dense(2)],
                          backend="numba", seed=0)
    model.build(3)
    model.compile(nk.optimizers.SGD(0.1), "mse")
    assert plan(model)[0] is not None
    model.compile(nk.optimizers.SGD(0.1, clipvalue=1.0), "mse")
    spec, why = plan(model)
    assert spec is None and "clipping" in why
