"""Hyperparameter search: GridSearch, RandomSearch and Hyperband over a model-building function.

A search calls ``build_fn(params) -> compiled nnkit model`` for each candidate ``params`` dict,
trains it with ``fit``, scores it by the last epoch's ``monitor`` ("val_loss" where there is
validation data, else "loss") and keeps the results as a table sorted best first.

- GridSearch(build_fn, param_grid): every combination of the listed values (a dict of lists, or a
  list of such dicts for a union of grids; a scalar is a fixed value).
- RandomSearch(build_fn, param_distributions, n_trials): values drawn from ``Uniform(low, high)``,
  ``LogUniform(low, high)`` (uniform in log space: learning rates, penalties), ``IntUniform(low, high)``,
  ``Choice([...])`` (a plain list is a Choice); a scalar is fixed.
- Hyperband(build_fn, space, max_epochs, eta): Li et al. (2018). Brackets s = s_max .. 0 each
  draw n = ceil((s_max + 1) eta^s / (s + 1)) candidates, train them r = max_epochs eta^-s epochs,
  keep the best 1/eta, train the survivors eta times longer (resuming their weights and optimizer
  state, so a survivor's epochs are never repeated), and so on up to max_epochs (successive
  halving). On a host backend a resumed candidate also continues its shuffle stream, so its
  epochs are exactly those of one uninterrupted run. Most candidates are dropped after a few epochs, so it spends far fewer epochs than a
  grid of the same candidates trained to max_epochs.

Reproducible: one ``seed`` fixes the random candidates, each trial's initial weights (set as the
model's seed where build_fn leaves it None) and its shuffles, so serial and parallel runs agree.
Parallel: ``executor=`` takes any ``concurrent.futures.Executor`` (ThreadPoolExecutor,
ProcessPoolExecutor, or ``dask.distributed.Client(...).get_executor()`` to spread the trials over a
cluster); each trial is ``executor.submit(run_trial, task)``. For processes and clusters
build_fn must be picklable (a module-level function) and the data travels with each task.

Example, with the lecture's order of importance of the hyperparameters (1. learning rate,
2. momentum, 3. mini-batch size, 4. number of hidden layers, 5. learning-rate decay,
6. regularisation lambda): search the first ones widest, fix the last ones first::

    import nnkit as nk
    from nnkit.search import Choice, IntUniform, LogUniform, RandomSearch, Uniform

    def build(p):
        layers = [nk.layers.Dense(32, activation="relu", kernel_regularizer=nk.regularizers.L2(p["l2"]))
                  for _ in range(p["layers"])]
        model = nk.Sequential(layers + [nk.layers.Dense(10, activation="softmax")])
        lr = nk.schedules.InverseTimeDecay(p["lr"], decay_rate=p["decay"], decay_steps=100)
        model.compile(nk.optimizers.SGD(lr=lr, momentum=p["momentum"]), "sparse_categorical_crossentropy",
                      ["accuracy"])
        return model

    space = {
        "lr": LogUniform(1e-4, 1.0),          # 1. learning rate
        "momentum": Uniform(0.5, 0.99),       # 2. momentum
        "batch_size": Choice([16, 32, 64]),   # 3. mini-batch size (fit's batch_size)
        "layers": IntUniform(1, 3),           # 4. number of hidden layers
        "decay": LogUniform(1e-3, 1.0),       # 5. learning-rate decay
        "l2": LogUniform(1e-6, 1e-2),         # 6. regularisation lambda
    }
    search = RandomSearch(build, space, n_trials=30, epochs=20, seed=0).fit(X, y, validation_split=0.2)
    print(search.table())
    search.best_params_, search.best_score_, search.best_model_

A parameter named "batch_size" is also given to fit; every parameter goes to build_fn.
"""

from __future__ import annotations

import itertools
import math
import numbers
from concurrent.futures import Executor

import numpy as np

__all__ = ["Uniform", "LogUniform", "IntUniform", "Choice", "GridSearch", "RandomSearch", "Hyperband",
           "run_trial"]


# ----------------------------------------------------------------------------------------------
# distributions


class Distribution:
    """A hyperparameter's distribution: ``sample(rng)`` draws one value."""

    def sample(self, rng):
        raise NotImplementedError


class Uniform(Distribution):
    """U(low, high)."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _bounds(low, high, type(self).__name__)

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def __repr__(self):
        return f"Uniform({self.low}, {self.high})"


class LogUniform(Distribution):
    """exp(U(log low, log high)), low > 0: every decade equally likely (learning rates, penalties)."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _bounds(low, high, type(self).__name__)
        if self.low <= 0:
            raise ValueError(f"LogUniform: low must be > 0, got {low!r}")

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def __repr__(self):
        return f"LogUniform({self.low}, {self.high})"


class IntUniform(Distribution):
    """An int uniform in low..high, both included."""

    def __init__(self, low: int, high: int):
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"IntUniform: {name} must be an int, got {v!r}")
        if low > high:
            raise ValueError(f"IntUniform: low must be <= high, got {low} > {high}")
        self.low, self.high = int(low), int(high)

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def __repr__(self):
        return f"IntUniform({self.low}, {self.high})"


class Choice(Distribution):
    """One of ``options``, each equally likely."""

    def __init__(self, options):
        self.options = list(options)
        if not self.options:
            raise ValueError("Choice: options must not be empty")

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def __repr__(self):
        return f"Choice({self.options!r})"


def _bounds(low, high, owner):
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise TypeError(f"{owner}: {name} must be a finite number, got {v!r}")
    if not low < high:
        raise ValueError(f"{owner}: expected low < high, got {low!r}, {high!r}")
    return float(low), float(high)


def _check_space(space, owner):
    if not isinstance(space, dict) or not space:
        raise TypeError(f"{owner}: expected a non-empty dict of parameter name -> values, got {space!r}")
    for key in space:
        if not isinstance(key, str):
            raise TypeError(f"{owner}: parameter names must be strings, got {key!r}")
    return space


def _sample(space: dict, rng) -> dict:
    params = {}
    for key, value in space.items():
        if isinstance(value, Distribution):
            params[key] = value.sample(rng)
        elif isinstance(value, (list, tuple)):
            params[key] = Choice(value).sample(rng)
        else:
            params[key] = value
    return params


def _grid(param_grid) -> list[dict]:
    grids = param_grid if isinstance(param_grid, (list, tuple)) else [param_grid]
    if not grids:
        raise ValueError("param_grid: expected a dict or a non-empty list of dicts")
    candidates = []
    for grid in grids:
        _check_space(grid, "param_grid")
        axes = []
        for key, value in grid.items():
            if isinstance(value, Choice):
                value = value.options
            elif isinstance(value, Distribution):
                raise ValueError(f"param_grid[{key!r}]: a grid needs listed values, got {value!r} "
                                 "(use RandomSearch or Hyperband for distributions)")
            elif not isinstance(value, (list, tuple)):
                value = [value]
            if not value:
                raise ValueError(f"param_grid[{key!r}]: expected at least one value")
            axes.append([(key, v) for v in value])
        candidates.extend(dict(combo) for combo in itertools.product(*axes))
    return candidates


# ----------------------------------------------------------------------------------------------
# one trial (module level: picklable for process pools and clusters)


def run_trial(task: dict) -> dict:
    """Build, (resume,) train and score one candidate; what every executor runs.

    ``task``: build_fn, params, X, y, validation_data, validation_split, epochs, batch_size, seed,
    fit_seed, epochs_done, monitor, fit_kwargs, and to resume: weights, optimizer_state, rng_state.
    Returns {"score", "history", "weights", "optimizer_state", "rng_state"} (NumPy arrays, floats
    and dicts only, so it travels back from any process).
    """
    params = dict(task["params"])
    model = task["build_fn"](dict(params))
    if not hasattr(model, "fit") or getattr(model, "optimizer", None) is None:
        raise TypeError(f"build_fn must return a compiled nnkit model, got {type(model).__name__} "
                        f"for params {params}")
    unseeded = not model.built or getattr(model, "_built_at_construction", False)
    if unseeded and getattr(model, "seed", None) is None:
        model.seed = task["seed"]  # one seed per trial: the same initial weights wherever it runs
        if model.built:  # built at construction from no seed: draw its weights from this one
            model.build()
    X, y = task["X"], task["y"]
    if task.get("weights") is not None:
        if not model.built:
            model.build(tuple(X.shape[1:]))
        model.set_weights(task["weights"])
        if task.get("optimizer_state") is not None:
            model.optimizer.set_state(task["optimizer_state"], model.parameters(), model.backend)
    generator = None
    if model.backend.is_host:
        # fit draws shuffles (and dropout masks) from this generator; carrying its state over makes
        # a resumed trial's epochs those of one uninterrupted run
        generator = np.random.Generator(np.random.PCG64(task["fit_seed"]))
        if task.get("rng_state") is not None:
            generator.bit_generator.state = task["rng_state"]
        fit_seed = generator
    else:  # a device generator cannot take a host state: fresh shuffles per resumption
        fit_seed = task["fit_seed"] + task["epochs_done"]
    history = model.fit(X, y, epochs=task["epochs"], batch_size=params.get("batch_size", task["batch_size"]),
                        validation_data=task["validation_data"], validation_split=task["validation_split"],
                        verbose=0, seed=fit_seed, **task["fit_kwargs"])
    logs = history.history
    if task["monitor"] not in logs:
        raise ValueError(f"monitor: {task['monitor']!r} is not among the logged values {sorted(logs)}")
    score = float(logs[task["monitor"]][-1])
    return {"score": score, "history": {k: list(v) for k, v in logs.items()}, "weights": model.get_weights(),
            "optimizer_state": model.optimizer.get_state(model.parameters()),
            "rng_state": None if generator is None else generator.bit_generator.state}


def _trial_seed(seed: int, trial: int) -> int:
    """A per-trial seed from the search's seed: independent streams, the same on every run."""
    return int(np.random.SeedSequence([seed, trial]).generate_state(1)[0])


# ----------------------------------------------------------------------------------------------
# the searches


class _Search:
    """Shared by the searches: data, executor, scoring, the results table and the best model."""

    def __init__(self, build_fn, *, epochs=10, batch_size=32, monitor=None, mode="auto", seed=0,
                 executor=None, fit_kwargs=None):
        if not callable(build_fn):
            raise TypeError(f"build_fn: expected a function params -> compiled model, got {build_fn!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"epochs: expected an int >= 1, got {epochs!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
        if executor is not None and not callable(getattr(executor, "submit", None)):
            raise TypeError(f"executor: expected a concurrent.futures.Executor (with submit), "
                            f"got {type(executor).__name__}")
        self.build_fn = build_fn
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.monitor = monitor
        self.mode = mode
        self.seed = int(seed)
        self.executor = executor
        self.fit_kwargs = dict(fit_kwargs or {})
        for reserved in ("epochs", "batch_size", "validation_data", "validation_split", "verbose", "seed"):
            if reserved in self.fit_kwargs:
                raise ValueError(f"fit_kwargs: {reserved!r} is set by the search itself")
        self.results_: list[dict] = []
        self.total_epochs_ = 0
        self._best_model = None

    # -- running trials -----------------------------------------------------------------------
    def _prepare(self, X, y, validation_data, validation_split):
        self._data = {"X": np.asarray(X), "y": np.asarray(y), "validation_data": validation_data,
                      "validation_split": validation_split}
        has_validation = validation_data is not None or validation_split > 0
        self.monitor_ = self.monitor or ("val_loss" if has_validation else "loss")
        if self.mode == "auto":
            self.mode_ = "max" if any(k in self.monitor_ for k in ("acc", "auc", "r2")) else "min"
        else:
            self.mode_ = self.mode
        self.results_, self.total_epochs_, self._best_model = [], 0, None

    def _task(self, trial: dict, epochs: int) -> dict:
        return {"build_fn": self.build_fn, "params": trial["params"], **self._data, "epochs": epochs,
                "batch_size": self.batch_size, "seed": trial["seed"], "fit_seed": trial["seed"],
                "epochs_done": trial["epochs"], "rng_state": trial.get("rng_state"), "monitor": self.monitor_,
                "fit_kwargs": self.fit_kwargs, "weights": trial.get("weights"),
                "optimizer_state": trial.get("optimizer_state")}

    def _train(self, trials: list[dict], epochs_to: list[int]) -> None:
        """Train each trial up to epochs_to[i] epochs in all, through the executor when there is one."""
        tasks = [self._task(t, e - t["epochs"]) for t, e in zip(trials, epochs_to)]
        if self.executor is None:
            outputs = [run_trial(task) for task in tasks]
        else:
            futures = [self.executor.submit(run_trial, task) for task in tasks]
            outputs = [f.result() for f in futures]  # in submission order: deterministic
        for trial, target, out in zip(trials, epochs_to, outputs):
            self.total_epochs_ += target - trial["epochs"]
            trial["epochs"] = target
            trial["score"] = out["score"]
            for key, values in out["history"].items():
                trial["history"].setdefault(key, []).extend(values)
            trial["weights"], trial["optimizer_state"] = out["weights"], out["optimizer_state"]
            trial["rng_state"] = out["rng_state"]

    def _new_trial(self, params: dict) -> dict:
        index = self._n_trials
        self._n_trials += 1
        return {"trial": index, "params": params, "seed": _trial_seed(self.seed, index), "epochs": 0,
                "score": math.nan, "history": {}}

    def _key(self, trial):
        """Sort key, best first; NaN scores (diverged) last."""
        score = trial["score"]
        if math.isnan(score):
            return (1, 0.0, trial["trial"])
        return (0, score if self.mode_ == "min" else -score, -trial["epochs"], trial["trial"])

    def _finish(self, trials: list[dict]) -> None:
        ranked = sorted(trials, key=self._key)
        self._best_trial = ranked[0]
        self.results_ = [{"rank": i + 1, "trial": t["trial"], "params": dict(t["params"]), "score": t["score"],
                          "epochs": t["epochs"], "history": t["history"]} for i, t in enumerate(ranked)]
        for t in ranked[1:]:  # keep only the best weights
            t.pop("weights", None)
            t.pop("optimizer_state", None)

    def fit(self, X, y, validation_data=None, validation_split=0.0):
        """Run the search on (X, y); returns self."""
        self._prepare(X, y, validation_data, validation_split)
        self._n_trials = 0
        trials = self._search()
        self._finish(trials)
        return self

    # -- results ------------------------------------------------------------------------------
    def _require_fitted(self, what):
        if not self.results_:
            raise ValueError(f"{what}: the search has not run; call fit(X, y) first")

    @property
    def best_params_(self) -> dict:
        self._require_fitted("best_params_")
        return dict(self.results_[0]["params"])

    @property
    def best_score_(self) -> float:
        self._require_fitted("best_score_")
        return self.results_[0]["score"]

    @property
    def best_model_(self):
        """The best candidate's trained model, rebuilt here from its parameters and weights."""
        self._require_fitted("best_model_")
        if self._best_model is None:
            best = self._best_trial
            model = self.build_fn(dict(best["params"]))
            if not model.built:
                model.build(tuple(self._data["X"].shape[1:]))
            model.set_weights(best["weights"])
            self._best_model = model
        return self._best_model

    def table(self, max_rows: int | None = None) -> str:
        """The results as a text table, best first: rank, score, epochs, then each parameter."""
        self._require_fitted("table")
        names = []
        for row in self.results_:
            names.extend(k for k in row["params"] if k not in names)
        header = ["rank", self.monitor_, "epochs"] + names
        rows = []
        for row in self.results_[:max_rows]:
            rows.append([str(row["rank"]), f"{row['score']:.6g}", str(row["epochs"])]
                        + [_format(row["params"].get(k, "")) for k in names])
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(line.rstrip() for line in lines)


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class GridSearch(_Search):
    """Train every combination of ``param_grid`` for ``epochs`` epochs.

    Parameters
    ----------
    build_fn: params dict -> compiled nnkit model.
    param_grid: {name: [values]} (a scalar is one value, a Choice its options), or a list of such
        dicts (the union of their grids).
    epochs, batch_size: fit's settings ("batch_size" in params overrides batch_size).
    monitor, mode: the logged value that scores a trial (default "val_loss" with validation data,
        else "loss") and whether lower ("min") or higher ("max") is better ("auto": max for
        accuracies).
    seed: fixes each trial's initial weights and shuffles.
    executor: a concurrent.futures.Executor to run the trials in parallel, or None (serially).
    fit_kwargs: more keyword arguments for fit (e.g. callbacks).
    """

    def __init__(self, build_fn, param_grid, **kwargs):
        super().__init__(build_fn, **kwargs)
        self.candidates_ = _grid(param_grid)

    def _search(self):
        trials = [self._new_trial(p) for p in self.candidates_]
        self._train(trials, [self.epochs] * len(trials))
        return trials


class RandomSearch(_Search):
    """Train ``n_trials`` candidates drawn from ``param_distributions`` for ``epochs`` epochs.

    ``param_distributions``: {name: Uniform | LogUniform | IntUniform | Choice | list | scalar}.
    Other parameters as GridSearch's.
    """

    def __init__(self, build_fn, param_distributions, n_trials: int = 10, **kwargs):
        super().__init__(build_fn, **kwargs)
        self.param_distributions = _check_space(param_distributions, "param_distributions")
        if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
            raise ValueError(f"n_trials: expected an int >= 1, got {n_trials!r}")
        self.n_trials = int(n_trials)

    def _search(self):
        rng = np.random.default_rng(self.seed)
        trials = [self._new_trial(_sample(self.param_distributions, rng)) for _ in range(self.n_trials)]
        self._train(trials, [self.epochs] * len(trials))
        return trials


class Hyperband(_Search):
    """Hyperband (Li et al. 2018): brackets of successive halving over candidates drawn from ``space``.

    Parameters
    ----------
    space: {name: distribution | list | scalar}, as RandomSearch's.
    max_epochs: R, the most epochs any candidate trains.
    eta: keep the best 1/eta of a rung and train them eta times longer (>= 2).
    min_epochs: the fewest epochs a rung trains (r_min); s_max = floor(log_eta(R / r_min)).
    Other parameters as GridSearch's (``epochs`` is not used: max_epochs sets the budget).

    After fit, ``brackets_`` lists per bracket its rungs as (candidates, epochs each), and
    ``total_epochs_`` counts every epoch trained. Scores after different numbers of epochs do not
    compare, so the results table lists the candidates trained longest first, each group sorted
    by score; the best candidate is the best of those that reached max_epochs.
    """

    def __init__(self, build_fn, space, max_epochs: int = 27, eta: int = 3, min_epochs: int = 1, **kwargs):
        kwargs.setdefault("epochs", max_epochs if isinstance(max_epochs, int) and max_epochs > 0 else 1)
        super().__init__(build_fn, **kwargs)
        self.space = _check_space(space, "space")
        if "epochs" in space:
            raise ValueError("space: 'epochs' is Hyperband's budget; set max_epochs instead")
        for name, value, low in (("max_epochs", max_epochs, 1), ("eta", eta, 2), ("min_epochs", min_epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        if min_epochs > max_epochs:
            raise ValueError(f"min_epochs ({min_epochs}) must be <= max_epochs ({max_epochs})")
        self.max_epochs, self.eta, self.min_epochs = int(max_epochs), int(eta), int(min_epochs)

    def _key(self, trial):
        """Longest-trained first, then by score (NaN last within its group)."""
        return (-trial["epochs"],) + super()._key(trial)

    def _schedule(self):
        """[(n candidates, [epochs of rung 0, 1, ...])] per bracket, s = s_max .. 0."""
        R, eta = self.max_epochs, self.eta
        s_max = int(math.floor(math.log(R / self.min_epochs) / math.log(eta) + 1e-9))
        plan = []
        for s in range(s_max, -1, -1):
            n = int(math.ceil((s_max + 1) / (s + 1) * eta ** s))
            rungs = [max(self.min_epochs, int(round(R * eta ** (i - s)))) for i in range(s + 1)]
            plan.append((n, rungs))
        return plan

    def _search(self):
        rng = np.random.default_rng(self.seed)
        everyone = []
        self.brackets_ = []
        for n, rungs in self._schedule():
            alive = [self._new_trial(_sample(self.space, rng)) for _ in range(n)]
            everyone.extend(alive)
            bracket = []
            for i, epochs in enumerate(rungs):
                bracket.append((len(alive), epochs))
                self._train(alive, [epochs] * len(alive))
                if i + 1 < len(rungs):
                    keep = max(1, len(alive) // self.eta)
                    dropped = sorted(alive, key=self._key)[keep:]
                    alive = sorted(alive, key=self._key)[:keep]
                    for t in dropped:  # free the weights of candidates that stop here
                        t.pop("weights", None)
                        t.pop("optimizer_state", None)
            self.brackets_.append(bracket)
        return everyone
