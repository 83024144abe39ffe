"""Logistic regression as one sigmoid neuron trained by backpropagation.

    p(y=1 | x) = sigmoid(w . x + b),   E = -1/N sum [l log p + (1 - l) log(1 - p)]

The lecture's "backprop vs. logistic regression": the classifier is a one-layer network,
``Sequential([Dense(1, activation="sigmoid")])``, trained by gradient descent on the binary
cross-entropy (full-batch by default: dE/dw = 1/N sum (p - l) x, the chain rule through the
sigmoid collapsing to "output - label"). Without a penalty this is the maximum-likelihood fit that
scikit-learn's unpenalised ``LogisticRegression(C=inf)`` finds, so the two decision boundaries
w . x + b = 0 agree: tests/test_logistic.py holds w and b to 1e-4 of scikit-learn's and the
probabilities to 1e-5 on two overlapping Gaussian classes.

Gradient descent converges fastest on standardised inputs (``nnkit.preprocessing.StandardScaler``).
"""

from __future__ import annotations

import numbers

from nnkit.backend import get_backend
from nnkit.callbacks import Callback

__all__ = ["LogisticRegression"]


class _StopWhenFlat(Callback):
    """Stop fit once the epoch loss improves by less than ``tol`` (relative) for ``patience`` epochs."""

    def __init__(self, tol: float, patience: int = 5):
        self.tol, self.patience = tol, patience
        self.previous, self.flat = None, 0

    def on_epoch_end(self, epoch, logs=None):
        loss = logs["loss"]
        if self.previous is not None and self.previous - loss <= self.tol * max(1.0, abs(loss)):
            self.flat += 1
            if self.flat >= self.patience:
                self.model.stop_training = True
        else:
            self.flat = 0
        self.previous = loss


class LogisticRegression:
    """Binary logistic regression: one sigmoid neuron trained by backpropagation.

    Parameters
    ----------
    lr: the gradient-descent step.
    epochs: the most epochs to train (one pass over the data each).
    batch_size: None for full-batch gradient descent (the default), else mini-batches.
    optimizer: "sgd" (default) or any nnkit optimizer name or object; its lr is set to ``lr``.
    tol: stop once the loss improves by less than tol (relative) for 5 epochs in a row; 0 runs
        every epoch. A gradient-descent step lowers the loss by about lr ||g||^2, so the default
        1e-14 stops near ||g|| ~ 1e-7.
    backend, dtype, seed: where it computes, in which precision, and the seed of the initial
        weights (drawn from the Dense layer's glorot_uniform initializer) and shuffles.

    Attributes after fit: ``coef_`` (n_features,), ``intercept_`` (float), ``classes_`` (the two
    labels, sorted; the larger is the positive class), ``n_iter_`` (epochs run), ``loss_curve_``,
    ``model_`` (the nnkit network).
    """

    def __init__(self, lr=1.0, epochs=2000, batch_size=None, optimizer="sgd", tol=1e-14,
                 backend=None, dtype="float64", seed=0):
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ValueError(f"lr: expected a number > 0, got {lr!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"epochs: expected an int >= 1, got {epochs!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size < 1):
            raise ValueError(f"batch_size: expected None or an int >= 1, got {batch_size!r}")
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or tol < 0:
            raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
        self.lr = float(lr)
        self.epochs = int(epochs)
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.tol = float(tol)
        self.backend = get_backend(backend)
        self.dtype = dtype
        self.seed = seed
        self.model_ = None

    def _labels(self, y):
        """y mapped to 0/1 floats on the host, and the two classes (host bookkeeping only)."""
        host = _host()
        y = host.asarray(self.backend.to_numpy(y) if self.backend.is_array(y) else y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = host.reshape(y, (-1,))
        if y.ndim != 1:
            raise ValueError(f"y: expected shape (n,), got {tuple(y.shape)}")
        classes = host.sort(host.unique_values(y))  # unique_values need not sort
        if classes.shape[0] != 2:
            raise ValueError(f"y: logistic regression needs exactly 2 classes, got {classes.shape[0]}: "
                             f"{classes.tolist()[:10]}")
        return host.astype(y == classes[1], host.float64), classes

    def fit(self, X, y):
        """Train the neuron on X (n, d) and binary labels y; returns self."""
        import nnkit as nk
        from nnkit import optimizers

        target, self.classes_ = self._labels(y)
        model = nk.Sequential([nk.layers.Dense(1, activation="sigmoid")], backend=self.backend,
                              dtype=self.dtype, seed=self.seed)
        optimizer = optimizers.get(self.optimizer)
        optimizer.lr = self.lr
        model.compile(optimizer, "binary_crossentropy")
        n = len(target)
        batch = n if self.batch_size is None else self.batch_size
        callbacks = [_StopWhenFlat(self.tol)] if self.tol > 0 else []
        history = model.fit(X, target, epochs=self.epochs, batch_size=batch, shuffle=batch < n,
                            callbacks=callbacks, verbose=0, seed=self.seed)
        self.model_ = model
        self.loss_curve_ = list(history.history["loss"])
        self.n_iter_ = len(self.loss_curve_)
        W, b = model.get_weights()
        self.coef_ = W[:, 0].astype("float64")
        self.intercept_ = float(b[0])
        self.n_features_in_ = W.shape[0]
        return self

    def _require_fitted(self, what):
        if self.model_ is None:
            raise ValueError(f"{what}: the model is not fitted; call fit(X, y) first")

    def decision_function(self, X):
        """w . x + b per row, as a NumPy array (n,): positive means the second class."""
        self._require_fitted("decision_function")
        model = self.model_
        X = model._check_input(X, "X")
        W, b = model.layers[0].W.value, model.layers[0].b.value
        return model.backend.to_numpy(model.backend.xp.matmul(X, W) + b)[:, 0]

    def predict_proba(self, X):
        """[1 - p, p] per row, p = sigmoid(w . x + b): a NumPy array (n, 2) as scikit-learn's."""
        self._require_fitted("predict_proba")
        p = self.model_.predict(X)
        return _host().concat([1.0 - p, p], axis=1)

    def predict(self, X):
        """The class of each row: classes_[1] where p >= 1/2, else classes_[0]."""
        self._require_fitted("predict")
        p = self.model_.predict(X)[:, 0]
        return self.classes_[(p >= 0.5).astype("int64")]

    def score(self, X, y) -> float:
        """Fraction of the rows whose predicted class is the label."""
        pred = self.predict(X)
        truth = _host().asarray(self.backend.to_numpy(y) if self.backend.is_array(y) else y)
        return float((pred == truth.reshape(-1)).mean())


def _host():
    """The host namespace predictions come back in (Model.predict returns NumPy arrays)."""
    return get_backend("numpy").xp
