"""Rosenblatt's perceptron (1958): a step neuron trained sample by sample by the delta rule.

    y_j = step(w . x_j + b),   w_i(t+1) = w_i(t) + lr (l_j - y_j) x_(j,i),   b(t+1) = b(t) + lr (l_j - y_j)

Training stops in one of the lecture's three ways (``stop_reason``):

- "converged": an epoch misclassified no sample (every sample is correctly labelled);
- "max_epochs": the preset number of epochs ran out;
- "stalled": for ``patience`` epochs in a row the fewest misclassifications seen so far did not
  improve (the misclassification rate "remains stable").

``errors_[e]`` counts the samples misclassified in epoch ``e`` as the weights were updated, i.e. the
number of delta-rule updates that changed something, the classic per-epoch error count.
Without a bias (``use_bias=False``) the decision boundary w . x = 0 passes through the origin, so
data whose separating line does not cannot be learned.

Everything is computed through the backend (``backend.xp`` / ``backend.ops``); the error count of
an epoch stays on the device until the epoch ends.
"""

from __future__ import annotations

import numbers

from nnkit.backend import get_backend, host_rng

__all__ = ["Perceptron", "STOP_REASONS"]

STOP_REASONS = ("converged", "max_epochs", "stalled")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    return int(value)


class Perceptron:
    """Rosenblatt's perceptron with a step activation, trained by the delta rule.

    Parameters
    ----------
    lr: the learning rate alpha of the delta rule (> 0).
    max_epochs: the preset number of epochs after which training stops.
    patience: stop ("stalled") after this many epochs without a new fewest-misclassifications;
        None disables the criterion.
    shuffle: visit the samples in a fresh random order every epoch.
    seed: seed of the host generator for the initial weights and the shuffles.
    use_bias: learn a bias b (a weight on a constant input 1); without it the boundary passes
        through the origin.
    backend: where the arrays live and the arithmetic runs (a name, a Backend or None).
    dtype: "float64" (default) or "float32".
    init_scale: initial weights are drawn from U(-init_scale, init_scale), "small random numbers".
    """

    def __init__(self, lr=1.0, max_epochs=100, patience=None, shuffle=True, seed=None, use_bias=True,
                 backend=None, dtype="float64", init_scale=0.01):
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ValueError(f"lr: expected a number > 0, got {lr!r}")
        self.lr = float(lr)
        self.max_epochs = _positive_int("max_epochs", max_epochs)
        self.patience = None if patience is None else _positive_int("patience", patience)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.use_bias = bool(use_bias)
        self.backend = get_backend(backend)
        self.dtype = self.backend.dtype(dtype)
        if isinstance(init_scale, bool) or not isinstance(init_scale, numbers.Real) or init_scale < 0:
            raise ValueError(f"init_scale: expected a number >= 0, got {init_scale!r}")
        self.init_scale = float(init_scale)
        self._w = None
        self._b = None
        self.errors_: list[int] = []
        self.stop_reason: str | None = None
        self.n_epochs_ = 0

    # -- data ---------------------------------------------------------------------------------
    def _check_X(self, X, argument="X"):
        be, xp = self.backend, self.backend.xp
        kind = getattr(getattr(X, "dtype", None), "kind", "f")
        if kind not in "fiub":
            raise TypeError(f"{argument}: expected a numeric array, got dtype {X.dtype}")
        try:
            X = be.asarray(X, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{argument}: expected a numeric array, got {type(X).__name__} ({exc})") from None
        if X.ndim != 2:
            raise ValueError(f"{argument}: expected shape (n_samples, n_features), got {tuple(X.shape)}")
        if X.shape[0] == 0:
            raise ValueError(f"{argument}: the data set is empty (shape {tuple(X.shape)})")
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{argument}: contains NaN or inf")
        if self._w is not None and X.shape[1] != self._w.shape[0]:
            raise ValueError(f"{argument}: the perceptron was fitted on {self._w.shape[0]} features, "
                             f"got {X.shape[1]}")
        return X

    def _check_y(self, y, n):
        be, xp = self.backend, self.backend.xp
        try:
            y = be.asarray(y, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"y: expected labels 0/1, got {type(y).__name__} ({exc})") from None
        if y.ndim == 2 and y.shape[1] == 1:
            y = xp.reshape(y, (-1,))
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y: expected shape ({n},) for {n} samples, got {tuple(y.shape)}")
        if not bool(xp.all((y == 0) | (y == 1))):
            raise ValueError("y: labels must be 0 or 1 (map -1/+1 labels with (y + 1) / 2)")
        return y

    # -- training -----------------------------------------------------------------------------
    def fit(self, X, y):
        """Train by the delta rule until converged, stalled or max_epochs; returns self."""
        self._w = None  # refitting starts afresh, also on another number of features
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        be, xp, ops = self.backend, self.backend.xp, self.backend.ops
        n, d = X.shape
        rng = host_rng(self.seed)
        # drawn on the host in float64 so one seed gives the same start on every backend
        w = be.asarray(rng.uniform(-self.init_scale, self.init_scale, size=d), dtype=self.dtype)
        b0 = rng.uniform(-self.init_scale, self.init_scale) if self.use_bias else 0.0
        # a 0-d array: asarray turns a host scalar into shape (1,), so reshape it
        b = xp.reshape(be.asarray([b0], dtype=self.dtype), ())
        self.errors_ = []
        self.stop_reason = "max_epochs"
        best, since_best = None, 0
        for epoch in range(self.max_epochs):
            if self.shuffle:
                order = be.asarray(rng.permutation(n))
                Xs, ys = xp.take(X, order, axis=0), xp.take(y, order, axis=0)
            else:
                Xs, ys = X, y
            wrong = xp.zeros((), dtype=self.dtype)
            for j in range(n):
                xj = Xs[j, :]
                out = ops.activation(xp.sum(w * xj) + b, "step")
                delta = ys[j] - out  # l_j - y_j in {-1, 0, 1}
                w = w + (self.lr * delta) * xj
                if self.use_bias:
                    b = b + self.lr * delta
                wrong = wrong + xp.abs(delta)
            errors = int(wrong)  # one read-back per epoch
            self.errors_.append(errors)
            if errors == 0:
                self.stop_reason = "converged"
                break
            if best is None or errors < best:
                best, since_best = errors, 0
            else:
                since_best += 1
                if self.patience is not None and since_best >= self.patience:
                    self.stop_reason = "stalled"
                    break
        self.n_epochs_ = len(self.errors_)
        self._w, self._b = w, b
        return self

    # -- using it -----------------------------------------------------------------------------
    def _require_fitted(self, what):
        if self._w is None:
            raise ValueError(f"{what}: the perceptron is not fitted; call fit(X, y) first")

    def decision_function(self, X):
        """w . x + b for every row of X, as a NumPy array (n,)."""
        self._require_fitted("decision_function")
        X = self._check_X(X)
        xp = self.backend.xp
        return self.backend.to_numpy(xp.matmul(X, self._w) + self._b)

    def predict(self, X):
        """step(w . x + b): labels 0/1 as a NumPy int array (n,)."""
        self._require_fitted("predict")
        X = self._check_X(X)
        be, xp = self.backend, self.backend.xp
        out = be.ops.activation(xp.matmul(X, self._w) + self._b, "step")
        return be.to_numpy(xp.astype(out, be.dtype("int64")))

    def score(self, X, y) -> float:
        """Fraction of the samples classified correctly."""
        self._require_fitted("score")
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        xp = self.backend.xp
        out = self.backend.ops.activation(xp.matmul(X, self._w) + self._b, "step")
        return float(xp.mean(xp.astype(out == y, self.dtype)))

    @property
    def weights(self):
        """The learned weights w as a NumPy array (n_features,)."""
        self._require_fitted("weights")
        return self.backend.to_numpy(self._w).copy()

    @property
    def bias(self) -> float:
        """The learned bias b (0.0 without a bias)."""
        self._require_fitted("bias")
        return float(self._b)

    def __repr__(self) -> str:
        return (f"Perceptron(lr={self.lr}, max_epochs={self.max_epochs}, patience={self.patience}, "
                f"shuffle={self.shuffle}, seed={self.seed}, use_bias={self.use_bias}, "
                f"backend={self.backend.name!r})")
