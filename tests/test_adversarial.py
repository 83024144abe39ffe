"""Adversarial inputs: the input gradient against central differences on every backend; gradient
ascent flips most correctly classified digits at the demo's epsilon, inside the ball and the range."""

from __future__ import annotations

import numpy as np
import pytest

import nnkit as nk
from nnkit import adversarial as adv
from nnkit.demos.adversarial import DEMO_EPSILON, attack, train_classifier

from conftest import make_backend


@pytest.fixture(scope="module")
def classifier():
    return train_classifier("numpy", seed=0, epochs=10)


def _small(be, loss="sparse_categorical_crossentropy", out=3, act="softmax"):
    model = nk.Sequential([nk.layers.Dense(5, activation="tanh", input_dim=4),
                           nk.layers.Dense(out, activation=act)], backend=be, dtype="float64", seed=1)
    model.compile(nk.optimizers.SGD(lr=0.1), loss)
    return model


def _numeric(model, x, y, h=1e-6):
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += h
        xm[idx] -= h
        num[idx] = (model.evaluate(xp_, y)["loss"] - model.evaluate(xm, y)["loss"]) / (2 * h)
    return num


@pytest.mark.parametrize("name", ["numpy", "numba", "array_api_strict"])
def test_input_gradient_matches_central_differences(name):
    try:
        be = make_backend(name)
    except (ImportError, ValueError) as exc:
        pytest.skip(str(exc))
    x = np.random.default_rng(0).random((3, 4))
    y = np.array([0, 2, 1])
    model = _small(be)
    # the numeric derivative on a NumPy twin (one seed, one initial model on every backend)
    twin = _small("numpy")
    g = be.to_numpy(adv.input_gradient(model, x, y))
    np.testing.assert_allclose(g, _numeric(twin, x, y), rtol=1e-6, atol=1e-9)
    # another loss on the outputs (probabilities) than the compiled one
    g2 = be.to_numpy(adv.input_gradient(model, x, np.eye(3)[y], loss="categorical_crossentropy"))
    np.testing.assert_allclose(g2, g, rtol=1e-8, atol=1e-12)
    binary = _small(be, "binary_crossentropy", 1, "sigmoid")
    yb = np.array([1.0, 0.0, 1.0])
    gb = be.to_numpy(adv.input_gradient(binary, x, yb))
    np.testing.assert_allclose(gb, _numeric(_small("numpy", "binary_crossentropy", 1, "sigmoid"), x, yb),
                               rtol=1e-6, atol=1e-9)


def test_gradient_ascent_fools_the_digits_classifier(classifier):
    """Measured (10 training epochs, seed 0): 97.7% of the 341 correctly classified test digits
    flip at epsilon 0.2, 84.5% at 0.15; one FGSM step 94.1% at 0.2."""
    model, X_test, y_test = classifier
    x_adv = attack(model, X_test, y_test, DEMO_EPSILON)
    rate = adv.fooling_rate(model, X_test, x_adv, y_test)
    assert rate["correct"] > 0.9 * len(X_test)
    assert rate["rate"] >= 0.8
    assert np.abs(x_adv - X_test).max() <= DEMO_EPSILON + 1e-6  # float32 rounding of x +- epsilon
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    # a smaller ball fools fewer
    small = adv.fooling_rate(model, X_test, attack(model, X_test, y_test, 0.02), y_test)
    assert small["rate"] < rate["rate"]


def test_targeted_and_fgsm(classifier):
    model, X_test, y_test = classifier
    x, y = X_test[:60], y_test[:60]
    target = np.full(60, 3)
    x_t = adv.gradient_ascent(model, x, target=target, steps=20, step_size=0.025, epsilon=DEMO_EPSILON)
    p_before, p_after = model.predict(x)[:, 3], model.predict(x_t)[:, 3]
    assert p_after.mean() > p_before.mean() + 0.3
    assert (model.predict(x_t).argmax(axis=1) == 3).mean() > 0.5
    # FGSM is one step of epsilon along sign(dloss/dx), then clipped to [0, 1]
    g = adv.input_gradient(model, x, y)
    expected = np.clip(x + 0.1 * np.sign(g), 0.0, 1.0)
    np.testing.assert_allclose(adv.fgsm(model, x, y, epsilon=0.1), expected, atol=1e-7)
    # without labels the attack moves away from the model's own prediction
    x_u = adv.gradient_ascent(model, x, steps=10, step_size=0.05, epsilon=DEMO_EPSILON)
    assert (model.predict(x_u).argmax(axis=1) != model.predict(x).argmax(axis=1)).mean() >= 0.8


def test_the_raw_lecture_rule_raises_the_loss(classifier):
    model, X_test, y_test = classifier
    x, y = X_test[:50], y_test[:50]
    # x <- x + a dloss/dx, no sign, no clipping: the loss grows
    x_adv = adv.gradient_ascent(model, x, y, steps=5, step_size=200.0, epsilon=10.0, clip=None, normalize=None)
    assert model.evaluate(x_adv, y)["loss"] > model.evaluate(x, y)["loss"] + 0.1


def test_attacks_run_on_array_api_strict():
    pytest.importorskip("array_api_strict")
    be = make_backend("array_api_strict")
    model = _small(be)
    x = np.random.default_rng(0).random((4, 4))
    x_adv = adv.gradient_ascent(model, x, np.array([0, 1, 2, 0]), steps=3, step_size=0.05, epsilon=0.1)
    delta = be.to_numpy(x_adv) - x
    assert np.abs(delta).max() <= 0.1 + 1e-12 and np.abs(delta).max() > 0.0
    assert 0 <= adv.fooling_rate(model, x, x_adv, np.array([0, 1, 2, 0]))["rate"] <= 1


def test_bad_input(classifier):
    model, X_test, y_test = classifier
    x, y = X_test[:4], y_test[:4]
    with pytest.raises(ValueError, match="steps"):
        adv.gradient_ascent(model, x, y, steps=0)
    with pytest.raises(ValueError, match="epsilon"):
        adv.gradient_ascent(model, x, y, epsilon=-0.1)
    with pytest.raises(ValueError, match="clip"):
        adv.gradient_ascent(model, x, y, clip=(1.0, 0.0))
    with pytest.raises(ValueError, match="normalize"):
        adv.gradient_ascent(model, x, y, normalize="l1")
    with pytest.raises(ValueError, match="labels"):
        adv.gradient_ascent(model, x, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="target"):
        adv.gradient_ascent(model, x, target=np.array([1, 2]))
    with pytest.raises(ValueError, match="compiled"):
        adv.input_gradient(nk.Sequential([nk.layers.Dense(2, input_dim=2)]), np.ones((1, 2)), np.ones((1, 2)))
