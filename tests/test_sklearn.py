"""nnkit.sklearn: NNClassifier / NNRegressor as scikit-learn estimators (Pipeline, GridSearchCV,
check_estimator)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nnkit.sklearn import NNClassifier, NNRegressor  # noqa: E402


# Every check scikit-learn selects for these estimators runs here; none is expected to fail.
# Checks scikit-learn does not select, because they do not apply:
# - sample-weight checks (check_sample_weights_*, check_sample_weight_equivalence*): fit takes no
#   sample_weight;
# - partial_fit checks: there is no partial_fit;
# - decision_function checks (check_decision_proba_consistency, ...): there is no decision_function
#   (predict_proba is the classifier's score);
# - multilabel and multi-output classifier checks: the classifier takes one label column.
# Checks that skip themselves, with their reason printed: check_array_api_input (needs
# SCIPY_ARRAY_API=1 in the environment) and check_*_data_not_an_array's pandas part (needs pandas).
@parametrize_with_checks([NNClassifier(hidden=(16,), lr=0.01, epochs=30, random_state=0),
                          NNRegressor(hidden=(16,), lr=0.01, epochs=30, random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]  # string labels
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    return X[order], names[order]


def test_pipeline_with_string_labels(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), NNClassifier(hidden=(16,), lr=0.01, epochs=60, random_state=0))
    pipe.fit(X[:120], y[:120])
    clf = pipe[-1]
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    proba = pipe.predict_proba(X[120:])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert set(pipe.predict(X[120:])) <= set(clf.classes_)
    assert pipe.score(X[120:], y[120:]) >= 0.9
    assert clf.n_iter_ == 60 and clf.loss_curve_[-1] < clf.loss_curve_[0] / 3
    assert [w.shape for w in clf.model_.get_weights()] == [(4, 16), (16,), (16, 3), (3,)]


def test_grid_search_cv_over_an_nnkit_network(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), NNClassifier(hidden=(8,), epochs=20, random_state=0))
    grid = GridSearchCV(pipe, {"nnclassifier__lr": [1e-4, 3e-2], "nnclassifier__hidden": [(4,), (8,)]}, cv=3)
    grid.fit(X, y)
    assert grid.cv_results_["mean_test_score"].shape == (4,)
    # lr 1e-4 barely trains in 20 epochs; the search must prefer 3e-2
    assert grid.best_params_["nnclassifier__lr"] == 3e-2
    assert grid.best_score_ >= 0.85
    assert grid.best_estimator_[-1].lr == 3e-2 and grid.best_estimator_[-1].epochs == 20


def test_params_clone_and_set_params():
    clf = NNClassifier(hidden=(8, 4), activation="tanh", lr=0.05, random_state=3)
    params = clf.get_params()
    assert params["hidden"] == (8, 4) and params["activation"] == "tanh" and params["random_state"] == 3
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    assert clf.set_params(lr=0.1, epochs=5) is clf and clf.lr == 0.1 and clf.epochs == 5


def test_random_state_as_scikit_learn_takes_it(iris):
    X, y = iris
    fitted = [NNClassifier(hidden=(8,), lr=0.01, epochs=3, random_state=rs).fit(X, y).predict_proba(X)
              for rs in (7, 7, np.random.RandomState(1), np.random.RandomState(1),
                         np.random.default_rng(2), np.random.default_rng(2))]
    for a, b in zip(fitted[0::2], fitted[1::2]):  # the same state, the same network
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(fitted[0], fitted[2])
    with pytest.raises(ValueError, match="random_state"):
        NNClassifier(random_state="seven").fit(X, y)


def test_regressor_answers_in_the_targets_units():
    X, y = make_regression(n_samples=300, n_features=4, noise=1.0, random_state=0)
    y = 10_000.0 + 50.0 * y  # large offset and scale
    reg = make_pipeline(StandardScaler(), NNRegressor(hidden=(32,), lr=0.01, epochs=80, random_state=0))
    reg.fit(X[:240], y[:240])
    pred = reg.predict(X[240:])
    assert pred.shape == (60,)
    assert abs(np.mean(pred) - np.mean(y[240:])) < 0.05 * np.std(y)
    assert reg.score(X[240:], y[240:]) > 0.97
    inner = reg[-1]
    assert float(inner.target_mean_[0]) == pytest.approx(np.mean(y[:240]))
    # cross-validation drives it like any regressor
    assert cross_val_score(reg, X, y, cv=3).mean() > 0.95


def test_regressor_multi_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.stack([X[:, 0] + X[:, 1], 100 * X[:, 2]], axis=1)
    reg = NNRegressor(hidden=(16,), activation="tanh", lr=0.02, epochs=80, batch_size=32, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.95


def test_pickle_round_trip(iris):
    X, y = iris
    clf = NNClassifier(hidden=(8,), lr=0.01, epochs=5, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert list(again.classes_) == list(clf.classes_)


def test_same_predictions_on_every_training_backend(train_backend, iris):
    X, y = iris
    ref = NNClassifier(hidden=(8,), lr=0.01, epochs=3, random_state=0, backend="numpy").fit(X, y)
    clf = NNClassifier(hidden=(8,), lr=0.01, epochs=3, random_state=0, backend=train_backend.name).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_bad_parameters_are_reported_at_fit(iris):
    X, y = iris
    with pytest.raises(ValueError, match="hidden"):
        NNClassifier(hidden=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="lr"):
        NNClassifier(lr=-1).fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        NNRegressor(epochs=0).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="1 class"):
        NNClassifier().fit(X, np.zeros(len(X)))


# -- the defaults against scikit-learn's MLP ---------------------------------------------------
def test_default_classifier_reaches_mlpclassifier_on_digits():
    # 600 digits, 3 stratified folds, seed 0 for both: MLPClassifier() 0.967, NNClassifier() 0.970
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = cross_val_score(MLPClassifier(random_state=0), X, y, cv=cv).mean()
    ours = cross_val_score(NNClassifier(random_state=0), X, y, cv=cv).mean()
    assert ours >= theirs > 0.9, (ours, theirs)


def test_default_regressor_reaches_mlpregressor_on_diabetes():
    # 5 folds, seed 0: MLPRegressor() R^2 -3.1 (200 epochs do not reach the unscaled targets),
    # NNRegressor() 0.49 (it standardises them)
    import warnings

    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold
    from sklearn.neural_network import MLPRegressor

    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = cross_val_score(MLPRegressor(random_state=0), X, y, cv=cv).mean()
    ours = cross_val_score(NNRegressor(random_state=0), X, y, cv=cv).mean()
    assert ours >= theirs and ours > 0.4, (ours, theirs)


def test_defaults_are_mlps_and_stop_on_the_training_loss_as_scikit_learn_does():
    from sklearn.neural_network import MLPClassifier

    mine, theirs = NNClassifier().get_params(), MLPClassifier().get_params()
    assert mine["hidden"] == theirs["hidden_layer_sizes"] == (100,)
    assert mine["activation"] == theirs["activation"] == "relu"
    assert (mine["optimizer"], mine["lr"]) == (theirs["solver"], theirs["learning_rate_init"])
    assert mine["alpha"] == theirs["alpha"] and mine["epochs"] == theirs["max_iter"]
    assert mine["batch_size"] == 200 and mine["tol"] == theirs["tol"]
    assert mine["n_iter_no_change"] == theirs["n_iter_no_change"]
    X, y = load_iris(return_X_y=True)
    clf = NNClassifier(hidden=(8,), lr=0.05, epochs=500, tol=1e-3, n_iter_no_change=5, random_state=0).fit(X, y)
    curve = clf.loss_curve_
    assert clf.n_iter_ == len(curve) < 500
    # it stopped on the first epoch that made 5 in a row without beating the best by tol
    stale, best = 0, np.inf
    for epoch, loss in enumerate(curve):
        stale = stale + 1 if loss > best - 1e-3 else 0
        best = min(best, loss)
        if stale >= 5:
            break
    assert epoch == len(curve) - 1 and stale == 5
    full = NNClassifier(hidden=(8,), lr=0.05, epochs=40, n_iter_no_change=None, random_state=0).fit(X, y)
    assert full.n_iter_ == 40


def test_same_random_state_same_results():
    X, y = load_iris(return_X_y=True)
    a = NNClassifier(hidden=(16,), epochs=30, random_state=5).fit(X, y)
    b = NNClassifier(hidden=(16,), epochs=30, random_state=5).fit(X, y)
    c = NNClassifier(hidden=(16,), epochs=30, random_state=6).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ != c.loss_curve_


def test_import_without_scikit_learn_says_how_to_install():
    import subprocess
    import sys

    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import nnkit.sklearn\nexcept ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("MissingDependency nnkit.sklearn (scikit-learn >= 1.6) needs sklearn")
    assert 'pip install -e ".[sklearn]"' in out and 'pip install "nnkit[sklearn]"' in out
