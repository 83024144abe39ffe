"""Data sets: the Playground's generators against their formulas (src/dataset.ts), features,
splits, digits (the link parser is tested in tests/test_playground_config.py)."""

import sys

import numpy as np
import pytest

from nnkit import datasets
from nnkit.datasets import (
    FEATURE_NAMES,
    digits,
    mnist_like,
    one_hot,
    playground,
    playground_features,
    playground_split,
)


# ---------------------------------------------------------------------------------------------
# generators


def test_circle_radii_and_labels_without_noise():
    X, y = playground("circle", 1000, noise=0.0, seed=0, shuffle=False)
    r = np.hypot(X[:, 0], X[:, 1])
    assert X.shape == (1000, 2) and y.shape == (1000,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    # class +1 first: r ~ U(0, 2.5); class -1: r ~ U(3.5, 5)
    assert np.all(y[:500] == 1) and np.all(y[500:] == -1)
    assert r[:500].max() < 2.5 and r[:500].min() >= 0
    assert r[500:].min() >= 3.5 and r[500:].max() <= 5.0
    # radius is uniform, so the mean radius of each ring is its midpoint
    assert abs(r[:500].mean() - 1.25) < 0.1
    assert abs(r[500:].mean() - 4.25) < 0.1


def test_circle_noise_moves_labels_not_points():
    X, y = playground("circle", 2000, noise=0.5, seed=1, shuffle=False)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[:1000].max() < 2.5 and r[1000:].min() >= 3.5  # points stay on their rings
    inner_wrong = np.mean(y[:1000] == -1)
    outer_wrong = np.mean(y[1000:] == 1)
    # noise 0.5 shifts the read-out point by U(-2.5, 2.5) per axis: many labels flip, not most
    assert 0.2 < inner_wrong < 0.9
    assert 0.02 < outer_wrong < 0.5


def test_xor_label_is_sign_of_product_and_padding():
    X, y = playground("xor", 1000, noise=0.0, seed=2)
    assert np.array_equal(y, np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0))
    a = np.abs(X)
    assert a.min() >= 0.3 and a.max() <= 5.3
    Xn, yn = playground("xor", 1000, noise=0.5, seed=2)
    flipped = np.mean(yn != np.where(Xn[:, 0] * Xn[:, 1] >= 0, 1.0, -1.0))
    assert 0.05 < flipped < 0.5


@pytest.mark.parametrize("noise, variance", [(0.0, 0.5), (0.5, 4.0), (0.25, 2.25)])
def test_gauss_centres_and_variance_mapping(noise, variance):
    X, y = playground("gauss", 20000, noise=noise, seed=3)
    pos, neg = X[y == 1], X[y == -1]
    assert len(pos) == len(neg) == 10000
    np.testing.assert_allclose(pos.mean(axis=0), [2, 2], atol=0.06)
    np.testing.assert_allclose(neg.mean(axis=0), [-2, -2], atol=0.06)
    # variance = 0.5 + 7·noise on each axis
    np.testing.assert_allclose(pos.var(axis=0), [variance, variance], rtol=0.05)
    np.testing.assert_allclose(neg.var(axis=0), [variance, variance], rtol=0.05)


def test_spiral_follows_its_formula_without_noise():
    n = 400
    X, y = playground("spiral", n, noise=0.0, seed=4, shuffle=False)
    m = n / 2
    i = np.arange(200)
    r = i / m * 5
    t = 1.75 * i / m * 2 * np.pi
    np.testing.assert_allclose(X[:200, 0], r * np.sin(t), atol=1e-12)
    np.testing.assert_allclose(X[:200, 1], r * np.cos(t), atol=1e-12)
    # the second arm is turned by pi: the first arm mirrored through the origin
    np.testing.assert_allclose(X[200:], -X[:200], atol=1e-12)
    assert np.all(y[:200] == 1) and np.all(y[200:] == -1)
    radius = np.hypot(X[:200, 0], X[:200, 1])
    assert np.all(np.diff(radius) > 0)  # radius grows with t
    assert radius[0] == 0 and abs(radius[-1] - 5 * 199 / 200) < 1e-12


def test_spiral_noise_is_bounded_by_noise():
    clean, _ = playground("spiral", 300, noise=0.0, seed=5, shuffle=False)
    noisy, _ = playground("spiral", 300, noise=0.3, seed=5, shuffle=False)
    dev = np.abs(noisy - clean)
    assert dev.max() <= 0.3 and dev.max() > 0.25


def test_reg_plane_target():
    X, y = playground("reg-plane", 1200, noise=0.0, seed=6)
    np.testing.assert_allclose(y, (X[:, 0] + X[:, 1]) / 10, atol=1e-12)
    assert np.abs(X).max() <= 6
    Xn, yn = playground("reg-plane", 1200, noise=0.2, seed=6)
    dev = np.abs(yn - (Xn[:, 0] + Xn[:, 1]) / 10)
    assert dev.max() <= 2 * 6 * 0.2 / 10 and dev.max() > 0.1


def _naive_reg_gauss(x, y):
    bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    label = 0.0
    for cx, cy, sign in bumps:
        d = np.hypot(x - cx, y - cy)
        new = sign * min(max(1 - d / 2, 0.0), 1.0)
        if abs(new) > abs(label):
            label = new
    return label


def test_reg_gauss_target():
    X, y = playground("reg-gauss", 600, noise=0.0, seed=7)
    expected = np.array([_naive_reg_gauss(a, b) for a, b in X])
    np.testing.assert_allclose(y, expected, atol=1e-12)
    assert y.min() >= -1 and y.max() <= 1 and (y > 0.5).any() and (y < -0.5).any()
    # hand-computed points: the centres, a point 1 away from (4, -2.5), and the empty middle
    points = np.array([[-4, 2.5], [0, 2.5], [4, -1.5], [0, 0]])
    np.testing.assert_allclose(datasets._reg_gauss_target(points[:, 0], points[:, 1]),
                               [1.0, -1.0, -0.5, 0.0])


def test_reproducible_with_seed_and_shuffled_by_default():
    for name in datasets.PLAYGROUND_DATASETS:
        a = playground(name, 100, noise=0.1, seed=11)
        b = playground(name, 100, noise=0.1, seed=11)
        c = playground(name, 100, noise=0.1, seed=12)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not np.array_equal(a[0], c[0])
    _, y = playground("circle", 200, seed=0)
    assert 0 < np.sum(y[:100] == 1) < 100  # classes are mixed, not in blocks


def test_labels_option_and_odd_counts():
    X, y = playground("xor", 301, noise=0.1, seed=8)
    X01, y01 = playground("xor", 301, noise=0.1, seed=8, labels="01")
    assert np.array_equal(X, X01)
    assert np.array_equal(y01, (y > 0).astype(float))
    assert set(np.unique(y01)) == {0.0, 1.0}
    for name in ("circle", "gauss", "spiral"):
        X, y = playground(name, 7, seed=0)
        assert X.shape == (7, 2) and np.sum(y == 1) == 4 and np.sum(y == -1) == 3
    # regression targets ignore labels
    assert np.array_equal(playground("reg-plane", 50, seed=1)[1],
                          playground("reg-plane", 50, seed=1, labels="01")[1])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(name="moons"), ValueError, "circle, xor, gauss, spiral, reg-plane, reg-gauss"),
    (dict(name="circle", n_samples=0), ValueError, "n_samples"),
    (dict(name="circle", n_samples=2.5), TypeError, "n_samples"),
    (dict(name="circle", noise=-0.1), ValueError, "noise"),
    (dict(name="circle", noise=20), ValueError, "noise"),
    (dict(name="circle", noise=float("nan")), ValueError, "noise"),
    (dict(name="circle", labels="binary"), ValueError, "labels"),
    (dict(name="circle", seed="0.99530"), TypeError, "seed"),
])
def test_playground_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        playground(**kwargs)


# ---------------------------------------------------------------------------------------------
# features and splits


def test_features_values_order_and_aliases():
    X = np.array([[1.0, 2.0], [-0.5, 3.0]])
    F = playground_features(X, FEATURE_NAMES)
    x1, x2 = X[:, 0], X[:, 1]
    expected = np.stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2),
                         np.cos(x1), np.cos(x2)], axis=1)
    np.testing.assert_allclose(F, expected)
    keys = ["x", "y", "xSquared", "ySquared", "xTimesY", "sinX", "sinY", "cosX", "cosY"]
    np.testing.assert_allclose(playground_features(X, keys), expected)
    np.testing.assert_allclose(playground_features(X, ["x1*x2", "x1"]), expected[:, [4, 0]])
    np.testing.assert_allclose(playground_features(X), X)
    assert playground_features(X.astype(np.float32), ["sin(x1)"]).dtype == np.float32


def test_features_reject_bad_input():
    with pytest.raises(ValueError, match="x1\\^2"):
        playground_features(np.zeros((3, 2)), ["x3"])
    with pytest.raises(ValueError, match="shape"):
        playground_features(np.zeros((3, 3)), ["x1"])
    with pytest.raises(ValueError, match="names"):
        playground_features(np.zeros((3, 2)), [])


def test_playground_split_fractions_and_partition():
    X, y = playground("circle", 500, seed=0)
    X_train, y_train, X_test, y_test = playground_split(X, y, 70, seed=1)
    assert len(X_train) == 350 and len(X_test) == 150
    assert len(y_train) == 350 and len(y_test) == 150
    # a partition of the rows
    together = np.concatenate([X_train, X_test])
    assert np.array_equal(np.sort(together, axis=0), np.sort(X, axis=0))
    again = playground_split(X, y, 70, seed=1)
    assert np.array_equal(again[0], X_train)
    assert len(playground_split(X[:10], y[:10], 33, seed=0)[0]) == 3  # floor(10·0.33)
    for bad in (0, 101, -5):
        with pytest.raises(ValueError, match="perc_train"):
            playground_split(X, y, bad)
    with pytest.raises(ValueError, match="rows"):
        playground_split(X, y[:-1], 50)


# ---------------------------------------------------------------------------------------------
# digits, random data, one-hot


def test_digits_shape_scale_and_split():
    pytest.importorskip("sklearn")
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    X_train, y_train, X_test, y_test = digits(return_split=True, test_fraction=0.2, seed=0)
    assert len(X_train) + len(X_test) == 1797
    for digit in range(10):
        count = np.sum(y == digit)
        assert np.sum(y_test == digit) == round(0.2 * count)  # stratified
    # train and test share no image (the 1797 images are all distinct)
    train_rows = {row.tobytes() for row in X_train}
    assert not any(row.tobytes() in train_rows for row in X_test)
    again = digits(return_split=True, seed=0)
    assert np.array_equal(again[3], y_test)
    with pytest.raises(ValueError, match="test_fraction"):
        digits(return_split=True, test_fraction=1.0)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install nnkit\[digits\]"):
        digits()


def test_mnist_like():
    X, y = mnist_like(64, seed=0)
    assert X.shape == (64, 784) and X.dtype == np.float32
    assert y.shape == (64,) and y.dtype == np.int64
    assert X.min() >= 0 and X.max() < 1 and y.min() >= 0 and y.max() <= 9
    assert np.array_equal(mnist_like(64, seed=0)[0], X)
    with pytest.raises(ValueError, match="n"):
        mnist_like(0)


def test_one_hot():
    Y = one_hot([2, 0, 1], 3)
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert Y.dtype == np.float32
    with pytest.raises(ValueError, match="labels"):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="labels"):
        one_hot([-1], 3)
    with pytest.raises(TypeError, match="labels"):
        one_hot([0.5], 3)
