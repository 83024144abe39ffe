"""nnkit.search: grid, random and Hyperband search; seeds, executors (threads, processes, Dask)."""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import nnkit as nk
from nnkit.search import Choice, GridSearch, Hyperband, IntUniform, LogUniform, RandomSearch, Uniform


def build(params):
    """A small classifier for the Playground's circle (module level: picklable for processes)."""
    layers = [nk.layers.Dense(params.get("hidden", 4), activation="tanh", input_dim=2 if i == 0 else None)
              for i in range(params.get("layers", 1))]
    model = nk.Sequential(layers + [nk.layers.Dense(1, activation="sigmoid")], backend="numpy", dtype="float64")
    model.compile(nk.optimizers.SGD(lr=params["lr"], momentum=params.get("momentum", 0.0)),
                  "binary_crossentropy", ["accuracy"])
    return model


def circle(n=160, seed=0):
    X, y = nk.datasets.playground("circle", n, 0.0, seed=seed, labels="01")
    return X / 5.0, y


@pytest.fixture(scope="module")
def data():
    X, y = circle()
    X_val, y_val = circle(80, seed=1)
    return X, y, (X_val, y_val)


def test_distributions():
    rng = np.random.default_rng(0)
    u = [Uniform(2.0, 3.0).sample(rng) for _ in range(2000)]
    assert 2.0 <= min(u) and max(u) < 3.0 and abs(np.mean(u) - 2.5) < 0.02
    logs = np.log10([LogUniform(1e-4, 1.0).sample(rng) for _ in range(4000)])
    assert -4 <= logs.min() and logs.max() <= 0
    # every decade about equally likely
    counts = np.histogram(logs, bins=4, range=(-4, 0))[0]
    assert counts.min() > 900
    ints = [IntUniform(1, 3).sample(rng) for _ in range(300)]
    assert set(ints) == {1, 2, 3}
    assert set(Choice(["a", "b"]).sample(rng) for _ in range(50)) == {"a", "b"}
    with pytest.raises(ValueError, match="low"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        Uniform(1.0, 1.0)


def test_grid_search_sorted_table_and_best_model(data):
    X, y, val = data
    search = GridSearch(build, {"lr": [0.001, 0.3, 1.0], "hidden": [2, 6]}, epochs=8, batch_size=16, seed=0)
    search.fit(X, y, validation_data=val)
    assert len(search.results_) == 6 and search.total_epochs_ == 48
    scores = [r["score"] for r in search.results_]
    assert scores == sorted(scores) and search.monitor_ == "val_loss"
    assert search.best_score_ == scores[0]
    assert search.best_params_["lr"] != 0.001  # the tiny step barely moves in 8 epochs
    best = search.best_model_
    assert best.evaluate(*val)["loss"] == pytest.approx(search.best_score_, rel=1e-12)
    table = search.table().splitlines()
    assert table[0].split() == ["rank", "val_loss", "epochs", "lr", "hidden"]
    assert table[1].split()[0] == "1" and float(table[1].split()[1]) == pytest.approx(scores[0], rel=1e-5)
    assert len(table) == 7


def test_grid_union_and_accuracy_is_maximised(data):
    X, y, val = data
    grid = [{"lr": 0.5, "hidden": [2, 4]}, {"lr": [0.01], "layers": 2}]
    search = GridSearch(build, grid, epochs=3, monitor="val_accuracy", seed=0).fit(X, y, validation_data=val)
    assert [r["params"] for r in sorted(search.results_, key=lambda r: r["trial"])] == [
        {"lr": 0.5, "hidden": 2}, {"lr": 0.5, "hidden": 4}, {"lr": 0.01, "layers": 2}]
    scores = [r["score"] for r in search.results_]
    assert search.mode_ == "max" and scores == sorted(scores, reverse=True)


def test_random_search_is_reproducible(data):
    X, y, val = data
    space = {"lr": LogUniform(1e-3, 1.0), "momentum": Uniform(0.0, 0.9), "batch_size": Choice([8, 32]),
             "layers": IntUniform(1, 2)}
    a = RandomSearch(build, space, n_trials=5, epochs=3, seed=7).fit(X, y, validation_data=val)
    b = RandomSearch(build, space, n_trials=5, epochs=3, seed=7).fit(X, y, validation_data=val)
    c = RandomSearch(build, space, n_trials=5, epochs=3, seed=8).fit(X, y, validation_data=val)
    assert [(r["params"], r["score"]) for r in a.results_] == [(r["params"], r["score"]) for r in b.results_]
    assert [r["params"] for r in a.results_] != [r["params"] for r in c.results_]
    assert all(r["params"]["batch_size"] in (8, 32) for r in a.results_)


def build_regression(params):
    model = nk.Sequential([nk.layers.Dense(params["hidden"], activation="tanh", input_dim=2), nk.layers.Dense(1)],
                          backend="numpy", dtype="float64")
    model.compile(nk.optimizers.SGD(lr=params["lr"]), "mse")
    return model


def plane(n, seed):
    X, y = nk.datasets.playground("reg-plane", n, 0.0, seed=seed)
    return X / 6.0, y


@pytest.mark.parametrize("seed", [0, 1])
def test_hyperband_spends_fewer_epochs_than_the_grid_and_finds_a_near_best(seed):
    X, y = plane(200, 0)
    val = plane(100, 1)
    space = {"lr": LogUniform(1e-3, 1.0), "hidden": Choice([2, 4, 8])}
    hb = Hyperband(build_regression, space, max_epochs=9, eta=3, batch_size=16, seed=seed).fit(
        X, y, validation_data=val)
    # s_max = 2: brackets of 9 candidates (1, 3, 9 epochs), 5 (3, 9) and 3 (9)
    assert hb.brackets_ == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    assert hb.total_epochs_ == (9 + 3 * 2 + 6) + (5 * 3 + 6) + 3 * 9 == 69
    candidates = [r["params"] for r in sorted(hb.results_, key=lambda r: r["trial"])]
    assert len(candidates) == 17
    # the grid of the same 17 candidates (same trial seeds, so the same initial weights)
    grid = GridSearch(build_regression, candidates, epochs=9, batch_size=16, seed=seed).fit(
        X, y, validation_data=val)
    assert grid.total_epochs_ == 17 * 9 == 153 > hb.total_epochs_
    scores = [r["score"] for r in grid.results_]
    assert scores[-1] > 50 * scores[0]  # the candidates differ a lot: the search matters
    # stated margin: Hyperband's best validation MSE within 0.001 of the grid's best, and its
    # choice among the grid's best three
    assert hb.results_[0]["epochs"] == 9
    assert hb.best_score_ <= grid.best_score_ + 0.001
    assert [r["params"] for r in grid.results_[:3]].count(hb.best_params_) == 1
    # a survivor resumes (weights, optimizer state, shuffle stream): its 9 epochs equal one
    # uninterrupted 9-epoch run of the same candidate
    survivor = hb.results_[0]
    same = next(r for r in grid.results_ if r["trial"] == survivor["trial"])
    assert same["params"] == survivor["params"]
    np.testing.assert_allclose(survivor["history"]["val_loss"], same["history"]["val_loss"], rtol=1e-10)
    assert len(survivor["history"]["val_loss"]) == 9


def _results(search):
    return [(r["trial"], r["params"], r["score"]) for r in search.results_]


def test_thread_and_process_executors_match_serial(data):
    X, y, val = data
    space = {"lr": LogUniform(1e-2, 1.0), "hidden": Choice([2, 4])}
    serial = Hyperband(build, space, max_epochs=3, eta=3, seed=1).fit(X, y, validation_data=val)
    with ThreadPoolExecutor(2) as pool:
        threads = Hyperband(build, space, max_epochs=3, eta=3, seed=1, executor=pool).fit(X, y, validation_data=val)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        processes = Hyperband(build, space, max_epochs=3, eta=3, seed=1, executor=pool).fit(
            X, y, validation_data=val)
    assert _results(threads) == _results(serial)
    assert _results(processes) == _results(serial)
    assert processes.best_model_.get_weights()[0].tolist() == serial.best_model_.get_weights()[0].tolist()


def test_dask_local_cluster_matches_serial(data):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    X, y, val = data
    grid = {"lr": [0.05, 0.5], "hidden": [2, 4]}
    serial = GridSearch(build, grid, epochs=3, seed=2).fit(X, y, validation_data=val)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        search = GridSearch(build, grid, epochs=3, seed=2, executor=client.get_executor()).fit(
            X, y, validation_data=val)
    assert _results(search) == _results(serial)


def test_bad_settings(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="grid needs listed values"):
        GridSearch(build, {"lr": Uniform(0.1, 1.0)})
    with pytest.raises(TypeError, match="executor"):
        GridSearch(build, {"lr": [0.1]}, executor=object())
    with pytest.raises(ValueError, match="eta"):
        Hyperband(build, {"lr": [0.1]}, eta=1)
    with pytest.raises(ValueError, match="max_epochs"):
        Hyperband(build, {"lr": [0.1], "epochs": [3]})
    with pytest.raises(ValueError, match="not run"):
        _ = GridSearch(build, {"lr": [0.1]}).best_params_
    with pytest.raises(ValueError, match="monitor"):
        GridSearch(build, {"lr": [0.1]}, epochs=1, monitor="val_loss").fit(X, y)
    with pytest.raises(TypeError, match="compiled"):
        GridSearch(lambda p: nk.Sequential([nk.layers.Dense(1)]), {"lr": [0.1]}, epochs=1).fit(X, y)


def test_diverged_trials_rank_last(data):
    X, y, val = data
    search = GridSearch(build, {"lr": [1e6, 0.5]}, epochs=2, seed=0).fit(X, y, validation_data=val)
    assert search.best_params_ == {"lr": 0.5}
    assert math.isfinite(search.best_score_)
