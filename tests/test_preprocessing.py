"""nnkit.preprocessing (scalers on every backend, NormalizedModel) and nnkit.augmentation (layers that act
only in training)."""

from __future__ import annotations

import numpy as np
import pytest

import nnkit as nk
from nnkit.augmentation import GaussianNoise, RandomFlip, RandomShift
from nnkit.preprocessing import MinMaxScaler, NormalizedModel, StandardScaler


def _data(rng):
    X = rng.normal(size=(50, 3)) * np.array([1.0, 10.0, 0.01]) + np.array([5.0, -3.0, 100.0])
    X[:, 2] = 7.0  # a constant column: scale 1
    return X


# -- scalers ----------------------------------------------------------------------------------


def test_standard_scaler_statistics_and_round_trip(backend, rng):
    X = _data(rng)
    scaler = StandardScaler(backend=backend)
    Z = scaler.fit_transform(X)
    assert backend.is_array(Z)
    Zn = backend.to_numpy(Z)
    np.testing.assert_allclose(Zn[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Zn[:, :2].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(Zn[:, 2], 0.0)
    np.testing.assert_allclose(backend.to_numpy(scaler.mean_), X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scaler.scale_), [X[:, 0].std(), X[:, 1].std(), 1.0], rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scaler.inverse_transform(Z)), X, rtol=1e-12, atol=1e-12)


def test_min_max_scaler_round_trip(backend, rng):
    X = _data(rng)
    scaler = MinMaxScaler(feature_range=(-1, 1), backend=backend).fit(X)
    Zn = backend.to_numpy(scaler.transform(X))
    np.testing.assert_allclose(Zn[:, :2].min(axis=0), -1.0, atol=1e-12)
    np.testing.assert_allclose(Zn[:, :2].max(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(Zn[:, 2], -1.0)
    x_new = np.array([[X[:, 0].max() * 2, 0.0, 7.0]])  # outside the training range: extrapolated linearly
    z_new = backend.to_numpy(scaler.transform(x_new))
    assert z_new[0, 0] == pytest.approx(-1 + 2 * (x_new[0, 0] - X[:, 0].min()) / np.ptp(X[:, 0]))
    np.testing.assert_allclose(backend.to_numpy(scaler.inverse_transform(scaler.transform(X))), X, rtol=1e-12)


def test_matches_scikit_learn(rng):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X = _data(rng)
    np.testing.assert_allclose(StandardScaler().fit_transform(X), preprocessing.StandardScaler().fit_transform(X),
                               atol=1e-12)
    np.testing.assert_allclose(MinMaxScaler((2, 3)).fit_transform(X),
                               preprocessing.MinMaxScaler((2, 3)).fit_transform(X), atol=1e-12)


def test_one_dimensional_targets_and_dtype(rng):
    y = rng.normal(3.0, 2.0, size=40).astype(np.float32)
    scaler = StandardScaler().fit(y)
    z = scaler.transform(y)
    assert z.shape == (40,) and z.dtype == np.float32
    np.testing.assert_allclose(scaler.inverse_transform(z), y, rtol=1e-5)
    assert StandardScaler().fit_transform(np.arange(4)).dtype == np.float64  # ints become float64


def test_scaler_bad_input(rng):
    with pytest.raises(ValueError, match="not fitted"):
        StandardScaler().transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2 columns"):
        StandardScaler().fit(np.ones((3, 2))).transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        MinMaxScaler().fit(np.ones((0, 2)))
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((1, 0))


def test_normalized_model_predicts_in_original_units(rng):
    X = rng.uniform(-1, 1, size=(200, 2)) * np.array([1000.0, 0.001])
    y = 5000.0 + 2.0 * X[:, 0] - 3e6 * X[:, 1]  # targets in the thousands
    model = nk.Sequential([nk.layers.Dense(1, input_dim=2)], backend="numpy", dtype="float64", seed=0)
    model.compile(nk.optimizers.SGD(lr=0.1), "mse")
    wrapped = NormalizedModel(model)
    wrapped.fit(X, y, epochs=60, batch_size=20, verbose=0, seed=0)
    pred = wrapped.predict(X)
    assert pred.shape == (200, 1)
    np.testing.assert_allclose(pred[:, 0], y, rtol=1e-6)
    assert wrapped.evaluate(X, y)["loss"] < 1e-10  # in normalised units


# -- augmentation -----------------------------------------------------------------------------


def _model(layers, backend="numpy", dtype="float64", input_dim=None):
    model = nk.Sequential(layers, backend=backend, dtype=dtype, seed=0)
    model.build(input_dim)
    return model


def test_gaussian_noise_acts_only_in_training(backend):
    layer = GaussianNoise(0.5)
    layer.build(4, backend=backend, dtype="float64")
    backend.seed(0)
    x = backend.asarray(np.ones((20_000, 4)), dtype="float64")
    assert layer.forward(x, training=False) is x
    noise = backend.to_numpy(layer.forward(x, training=True)) - 1.0
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.5, rel=0.01)
    assert abs(np.mean(noise ** 4) / np.var(noise) ** 2 - 3.0) < 0.1  # a normal's kurtosis
    dy = backend.asarray(np.full((20_000, 4), 2.0), dtype="float64")
    assert layer.backward(dy) is dy


def _image_batch():
    return np.arange(2 * 4 * 5 * 2, dtype=np.float64).reshape(2, 4 * 5 * 2) + 1.0  # 2 images, 4x5, 2 channels


def test_random_shift_moves_pixels_and_fills_zero(backend):
    layer = RandomShift(2, image_shape=(4, 5, 2))
    layer.build(40, backend=backend, dtype="float64")
    x = _image_batch()
    xb = backend.asarray(x, dtype="float64")
    # row 0: dy per image, row 1: dx per image; image 0 (1, 0), image 1 (-1, 2)
    shifts = backend.asarray(np.array([[1, -1], [0, 2]]), dtype="int64")
    y = backend.to_numpy(layer._shift(xb, shifts[0, ...], shifts[1, ...])).reshape(2, 4, 5, 2)
    img = x.reshape(2, 4, 5, 2)
    expected = np.zeros_like(img[0])
    expected[1:, :, :] = img[0, :-1, :, :]   # down by 1
    np.testing.assert_array_equal(y[0], expected)
    # image 1: up by 1 (dy = -1) then right by 2 (dx = 2)
    want = np.zeros_like(img[1])
    want[:-1, 2:, :] = img[1, 1:, :-2, :]
    np.testing.assert_array_equal(y[1], want)


def test_random_shift_training_draws_and_adjoint(backend):
    layer = RandomShift(1, image_shape=(4, 5, 2))
    layer.build(40, backend=backend, dtype="float64")
    backend.seed(3)
    x = backend.asarray(np.random.default_rng(0).normal(size=(64, 40)), dtype="float64")
    assert layer.forward(x, training=False) is x
    y = layer.forward(x, training=True)
    shifts = backend.to_numpy(layer._shifts)
    assert set(np.unique(shifts)) <= {-1, 0, 1} and len(np.unique(shifts)) == 3
    # adjoint: <shift(x), dy> == <x, backward(dy)>
    dy = backend.asarray(np.random.default_rng(1).normal(size=(64, 40)), dtype="float64")
    dx = layer.backward(dy)
    lhs = float(np.sum(backend.to_numpy(y) * backend.to_numpy(dy)))
    rhs = float(np.sum(backend.to_numpy(x) * backend.to_numpy(dx)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_random_flip(backend):
    layer = RandomFlip(image_shape=(4, 5, 2), horizontal=True, vertical=True, p=0.5)
    layer.build((4, 5, 2), backend=backend, dtype="float64")
    backend.seed(0)
    x = np.repeat(_image_batch()[:1], 400, axis=0).reshape(400, 4, 5, 2)
    y = backend.to_numpy(layer.forward(backend.asarray(x, dtype="float64"), training=True))
    img = x[0]
    kinds = []
    for out in y:
        for k, ref in enumerate((img, img[:, ::-1], img[::-1], img[::-1, ::-1])):
            if np.array_equal(out, ref):
                kinds.append(k)
                break
    assert len(kinds) == 400  # every output is one of the four flips of the image
    counts = np.bincount(kinds, minlength=4)
    assert counts.min() > 60  # each about 100
    dx = backend.to_numpy(layer.backward(backend.asarray(y, dtype="float64")))
    np.testing.assert_array_equal(dx, x)  # flipping twice restores the image


def test_augmentation_inside_fit_is_reproducible_and_off_at_inference():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(64, 16))
    y = (X[:, :8].sum(axis=1) > 4).astype(float)

    def train(seed):
        model = nk.Sequential([RandomShift(1, (4, 4)), RandomFlip((4, 4)), GaussianNoise(0.1),
                               nk.layers.Dense(8, activation="tanh", input_dim=16),
                               nk.layers.Dense(1, activation="sigmoid")], backend="numpy", dtype="float64", seed=0)
        model.compile(nk.optimizers.SGD(lr=0.1), "binary_crossentropy")
        history = model.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=seed)
        return model, history.history["loss"]

    model, loss_a = train(1)
    _, loss_b = train(1)
    _, loss_c = train(2)
    assert loss_a == loss_b and loss_a != loss_c
    # inference ignores the augmentation layers: predict equals the Dense stack alone
    plain = nk.Sequential([nk.layers.Dense(8, activation="tanh"), nk.layers.Dense(1, activation="sigmoid")],
                          backend="numpy", dtype="float64")
    plain.build(16)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(X), plain.predict(X), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.predict(X))


def test_augmentation_bad_settings():
    with pytest.raises(ValueError, match="std"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1, (4, 4))
    with pytest.raises(ValueError, match="image_shape"):
        RandomShift(1, (4,))
    with pytest.raises(ValueError, match="p must"):
        RandomFlip((4, 4), p=2)
    with pytest.raises(ValueError, match="does not match"):
        _model([RandomFlip((4, 4)), nk.layers.Dense(1)], input_dim=15)
