"""nk.LogisticRegression: one sigmoid neuron trained by backpropagation agrees with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from nnkit.logistic import LogisticRegression

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def _two_gaussians(seed=0, n=200):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal([-1.0, 0.5], 1.0, size=(n // 2, 2)), rng.normal([1.0, -0.5], 1.0, size=(n // 2, 2))])
    return X, np.r_[np.zeros(n // 2), np.ones(n // 2)]


@pytest.fixture(scope="module")
def reference():
    X, y = _two_gaussians()
    # C = inf: no penalty, the maximum-likelihood boundary
    sk = sklearn_linear.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    return X, y, sk


def test_matches_scikit_learn_decision_boundary(train_backend, reference):
    X, y, sk = reference
    model = LogisticRegression(backend=train_backend).fit(X, y)
    # tolerance: w and b within 1e-4, probabilities within 1e-5
    np.testing.assert_allclose(model.coef_, sk.coef_[0], atol=1e-4)
    assert abs(model.intercept_ - sk.intercept_[0]) < 1e-4
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), sk.predict(X))
    # the boundary w.x + b = 0 as a line x2 = -(w1 x1 + b) / w2: same slope and offset
    slope, offset = -model.coef_[0] / model.coef_[1], -model.intercept_ / model.coef_[1]
    sk_slope, sk_offset = -sk.coef_[0, 0] / sk.coef_[0, 1], -sk.intercept_[0] / sk.coef_[0, 1]
    assert abs(slope - sk_slope) < 1e-4 and abs(offset - sk_offset) < 1e-4
    assert model.n_iter_ < model.epochs  # stopped by tol, not by the epoch budget


def test_is_one_sigmoid_neuron(reference):
    X, y, _ = reference
    model = LogisticRegression(epochs=50, tol=0).fit(X, y)
    assert model.n_iter_ == 50
    assert len(model.model_.layers) == 1 and model.model_.layers[0].activation == "sigmoid"
    z = X @ model.coef_ + model.intercept_
    np.testing.assert_allclose(model.decision_function(X), z, rtol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1.0 / (1.0 + np.exp(-z)), rtol=1e-12)
    # full-batch gradient descent never raises the loss at this step size
    assert all(b <= a + 1e-15 for a, b in zip(model.loss_curve_, model.loss_curve_[1:]))


def test_string_labels_and_score(reference):
    X, y, sk = reference
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X, labels)
    assert list(model.classes_) == ["no", "yes"]
    assert model.score(X, labels) == pytest.approx(sk.score(X, y))
    assert set(model.predict(X)) <= {"no", "yes"}


def test_minibatch_sgd_gets_close(reference):
    X, y, sk = reference
    model = LogisticRegression(lr=0.1, batch_size=20, epochs=300, tol=0).fit(X, y)
    np.testing.assert_allclose(model.coef_, sk.coef_[0], atol=0.1)


def test_bad_input():
    X, y = _two_gaussians()
    with pytest.raises(ValueError, match="2 classes"):
        LogisticRegression().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="lr"):
        LogisticRegression(lr=0)
    with pytest.raises(ValueError, match="not fitted"):
        LogisticRegression().predict(X)
