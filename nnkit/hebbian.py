"""Hebbian learning: layers that learn from their own input and output, with no backward pass.

The lecture ends on Hebb (1949): "when an axon of cell A ... repeatedly or persistently takes
part in firing [cell B], ... A's efficiency, as one of the cells firing B, is increased". Here
that is a weight change proportional to pre-synaptic activity times post-synaptic activity, and
three rules of that form:

- Hebb:   dW = lr <x y^T>                        (grows without bound unless renormalised)
- Oja:    dW = lr <x y^T - W y y^T>              (one unit: converges to the first principal
                                                  component; several: to the top-k subspace)
- Sanger: dW = lr <x y^T - W triu(y y^T)>        (the generalised Hebbian algorithm: unit j
                                                  converges to the j-th principal component)

with y = W^T (x - mean) and <.> the mean over a batch. No error signal and no gradient flows
back from any later layer: each update uses only what the layer itself sees. ``DeltaRule`` is
the lecture's perceptron delta rule (w += lr (l - y) x) as a read-out that learns from its own
output error, so ``Sanger`` features plus a ``DeltaRule`` read-out classify without
backpropagation.

Everything runs on the backend's array namespace (``backend.xp``); weights start from the host
generator so one seed gives one layer on every backend.
"""

from __future__ import annotations

import math

from nnkit.backend import get_backend, host_rng
from nnkit.layers.activation import check_activation
from nnkit.layers.base import Layer, normalize_shape

__all__ = ["HebbianLayer", "Hebb", "Oja", "Sanger", "DeltaRule", "hebb_update", "oja_update",
           "sanger_update", "RULES"]


# -- the rules, on one batch ------------------------------------------------------------------
def hebb_update(W, x, y, *, xp):
    """dW = <x y^T> = x^T y / n: Hebb's rule, pre- times post-synaptic activity."""
    return xp.matmul(xp.matrix_transpose(x), y) / x.shape[0]


def oja_update(W, x, y, *, xp):
    """dW = <x y^T - W y y^T> = (x^T y - W y^T y) / n: Oja's rule (subspace rule for several units)."""
    n = x.shape[0]
    return (xp.matmul(xp.matrix_transpose(x), y) - xp.matmul(W, xp.matmul(xp.matrix_transpose(y), y))) / n


def sanger_update(W, x, y, *, xp):
    """dW = <x y^T - W triu(y y^T)> / n: Sanger's rule, unit j sees x minus units 1..j's reconstruction."""
    n, k = x.shape[0], y.shape[1]
    yy = xp.matmul(xp.matrix_transpose(y), y)
    idx = xp.arange(k)
    # upper triangle including the diagonal: column j keeps rows k <= j
    upper = xp.where(idx[:, None] <= idx[None, :], yy, xp.zeros_like(yy))
    return (xp.matmul(xp.matrix_transpose(x), y) - xp.matmul(W, upper)) / n


RULES = {"hebb": hebb_update, "oja": oja_update, "sanger": sanger_update}


def _check_positive(name, value, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return float(value)


def _check_int(name, value, owner, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


class _LocalLayer(Layer):
    """What Hebbian layers and the delta-rule read-out share: lazy building, checked input, batches."""

    _state = ("W",)  # the learnt arrays

    def build(self, input_shape, backend=None, dtype="float32", rng=None):
        """Build once: a layer already learnt (e.g. then put in a Sequential) keeps its weights,
        moved to ``backend`` and cast to ``dtype``."""
        if not self.built or normalize_shape(input_shape, type(self).__name__) != self.input_shape:
            return super().build(input_shape, backend, dtype, rng)
        be = get_backend(backend)
        if be != self.backend:
            self._move(be)
        target = be.dtype(dtype)
        if target != self.dtype:
            for name in self._state:
                setattr(self, name, be.xp.astype(getattr(self, name), target))
            self.dtype = target
        return self.output_shape

    def _prepare(self, X, backend, dtype, seed, owner):
        if not self.built:
            X_shape = getattr(X, "shape", None)
            if X_shape is None or len(X_shape) != 2:
                raise ValueError(f"{owner}: X must have shape (n_samples, features), got {X_shape}")
            self.build((int(X_shape[1]),), backend, dtype, host_rng(seed))
        be = self.backend
        try:
            X = be.asarray(X, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner}: X must be a numeric array ({exc})") from None
        if X.ndim != 2 or X.shape[1] != self.input_shape[0]:
            raise ValueError(f"{owner}: X must have shape (n, {self.input_shape[0]}), got {tuple(X.shape)}")
        if X.shape[0] == 0:
            raise ValueError(f"{owner}: X is empty")
        if not bool(be.xp.all(be.xp.isfinite(X))):
            raise ValueError(f"{owner}: X contains NaN or inf")
        return X

    def _batches(self, n, epochs, batch_size, shuffle, rng):
        be = self.backend
        for _ in range(epochs):
            order = rng.permutation(n) if shuffle else None
            for start in range(0, n, batch_size):
                if order is None:
                    yield slice(start, start + batch_size)
                else:
                    yield be.asarray(order[start:start + batch_size])

    def parameters(self):
        # nothing here is trained by backpropagation: an optimizer inside fit leaves it alone
        return []


class HebbianLayer(_LocalLayer):
    """Features f(y), y = W^T (x - mean), W (in, units), learnt by a local rule, never by backprop.

    Parameters
    ----------
    units: number of output units (features).
    rule: "hebb", "oja" or "sanger" (see the module docstring).
    lr: learning rate of the rule.
    activation: the feature nonlinearity f applied to the output (the rule learns from the linear
        response y); None is linear, as PCA needs.
    center: subtract the running mean of the inputs seen while learning (PCA is of centred data).
    normalize: rescale every column of W to unit norm after each update (keeps Hebb's rule bounded).
    decay: the rate falls as lr / (1 + decay * t) over update steps t, so the weights settle
        instead of jittering around the component (Robbins-Monro).
    """

    _state = ("W", "mean")

    def __init__(self, units: int, rule: str = "oja", lr: float = 0.01, activation=None,
                 center: bool = True, normalize: bool = False, decay: float = 0.0,
                 name: str | None = None):
        super().__init__(name)
        owner = type(self).__name__
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay >= 0:
            raise ValueError(f"{owner}: decay must be a number >= 0, got {decay!r}")
        self.decay = float(decay)
        self.steps = 0
        self.units = _check_int("units", units, owner)
        if rule not in RULES:
            raise ValueError(f"{owner}: rule must be one of {sorted(RULES)}, got {rule!r}")
        self.rule = rule
        self.lr = _check_positive("lr", lr, owner)
        self.activation = check_activation(activation, owner)
        self.center, self.normalize = bool(center), bool(normalize)
        self.W = self.mean = None
        self.n_seen = 0
        self._a = self._y = None

    def _build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f"{type(self).__name__}: expects inputs of shape (n, features), got {input_shape}")
        n_in = input_shape[0]
        # small random columns of unit norm: the rules need a symmetry-breaking start
        w = rng.standard_normal((n_in, self.units))
        w /= (w * w).sum(axis=0, keepdims=True) ** 0.5
        self.W = self.backend.asarray(w, dtype=self.dtype)
        self.mean = self.backend.xp.zeros((n_in,), dtype=self.dtype)
        self.n_seen = self.steps = 0
        return (self.units,)

    def response(self, x):
        """y = (x - mean) W, the linear response the rule learns from."""
        if self.center:
            x = x - self.mean
        return self.backend.xp.matmul(x, self.W)

    def forward(self, x, training=False):
        """f((x - mean) W)."""
        a = self.response(x)
        y = self.backend.ops.activation(a, self.activation)
        if training:
            self._a, self._y = a, y
        return y

    def backward(self, dy, need_dx=True):
        """dx = (f'(a) * dy) W^T: gradients pass through to earlier layers; W itself stays put."""
        if not need_dx:
            return None
        da = self.backend.ops.activation_backward(dy, self._a, self._y, self.activation)
        return self.backend.xp.matmul(da, self.backend.xp.matrix_transpose(self.W))

    def update(self, x):
        """One step of the rule on a batch x: W += lr * rule(W, x - mean, y); no backward pass."""
        xp = self.backend.xp
        if self.center:
            # running mean of every input seen (exact data mean after one epoch)
            n = x.shape[0]
            self.n_seen += n
            self.mean = self.mean + (xp.mean(x, axis=0) - self.mean) * (n / self.n_seen)
            x = x - self.mean
        y = xp.matmul(x, self.W)
        lr = self.lr / (1.0 + self.decay * self.steps)
        self.W = self.W + lr * RULES[self.rule](self.W, x, y, xp=xp)
        self.steps += 1
        if self.normalize:
            self.W = self.W / xp.sqrt(xp.sum(self.W * self.W, axis=0, keepdims=True))

    def fit(self, X, epochs: int = 10, batch_size: int = 32, shuffle: bool = True, seed=None,
            backend=None, dtype="float32"):
        """Apply the rule over X for ``epochs`` passes of mini-batches; returns self."""
        owner = f"{type(self).__name__}.fit"
        _check_int("epochs", epochs, owner, 0)
        _check_int("batch_size", batch_size, owner)
        X = self._prepare(X, backend, dtype, seed, owner)
        for rows in self._batches(X.shape[0], epochs, batch_size, shuffle, host_rng(seed)):
            self.update(X[rows] if isinstance(rows, slice) else self.backend.xp.take(X, rows, axis=0))
        if not bool(self.backend.xp.all(self.backend.xp.isfinite(self.W))):
            raise ValueError(f"{owner}: the weights diverged (NaN or inf); lower lr (now {self.lr}) "
                             "or set normalize=True for Hebb's rule")
        return self

    def transform(self, X):
        """The features f((X - mean) W) of X as a backend array."""
        if not self.built:
            raise ValueError(f"{type(self).__name__}.transform: call fit first")
        return self.forward(self._prepare(X, None, None, None, f"{type(self).__name__}.transform"))

    def components(self):
        """The learnt weight vectors as rows, a NumPy array (units, in): compare with PCA's components."""
        return self.backend.to_numpy(self.backend.xp.matrix_transpose(self.W)).copy()

    def get_config(self):
        return {"units": self.units, "rule": self.rule, "lr": self.lr, "activation": self.activation,
                "center": self.center, "normalize": self.normalize, "decay": self.decay}

    def _move(self, backend):
        old = self.backend
        self.W = backend.asarray(old.to_numpy(self.W))
        self.mean = backend.asarray(old.to_numpy(self.mean))
        self.backend = backend
        self.dtype = backend.dtype(old.dtype_name(self.dtype))
        self._clear_cache()

    def _clear_cache(self):
        self._a = self._y = None


class Hebb(HebbianLayer):
    """Hebb's rule, dW = lr <x y^T>; with ``normalize`` it is power iteration towards the first PC."""

    def __init__(self, units: int, lr: float = 0.01, activation=None, center: bool = True,
                 normalize: bool = True, decay: float = 0.0, name: str | None = None):
        super().__init__(units, "hebb", lr, activation, center, normalize, decay, name)


class Oja(HebbianLayer):
    """Oja's rule, dW = lr <x y^T - W y y^T>: one unit converges to the first principal component."""

    def __init__(self, units: int = 1, lr: float = 0.01, activation=None, center: bool = True,
                 decay: float = 0.0, name: str | None = None):
        super().__init__(units, "oja", lr, activation, center, False, decay, name)


class Sanger(HebbianLayer):
    """Sanger's generalised Hebbian algorithm: unit j converges to the j-th principal component."""

    def __init__(self, units: int, lr: float = 0.01, activation=None, center: bool = True,
                 decay: float = 0.0, name: str | None = None):
        super().__init__(units, "sanger", lr, activation, center, False, decay, name)


class DeltaRule(_LocalLayer):
    """A read-out y = f(x W + b) trained by the delta rule W += lr <x (t - y)^T>, b += lr <t - y>.

    The lecture's perceptron rule with a differentiable f; with f = softmax and one-hot targets t
    it is also the gradient step of cross-entropy, but computed from this layer's own error alone.
    ``fit(X, labels)`` takes integer class labels.
    """

    _state = ("W", "b")

    def __init__(self, units: int, lr: float = 0.1, activation="softmax", name: str | None = None):
        super().__init__(name)
        self.units = _check_int("units", units, "DeltaRule")
        self.lr = _check_positive("lr", lr, "DeltaRule")
        self.activation = check_activation(activation, "DeltaRule")
        self.W = self.b = None
        self.errors_: list[float] = []

    def _build(self, input_shape, rng):
        self.W = self.backend.asarray(0.01 * rng.standard_normal((input_shape[0], self.units)), dtype=self.dtype)
        self.b = self.backend.xp.zeros((self.units,), dtype=self.dtype)
        return (self.units,)

    def forward(self, x, training=False):
        """f(x W + b)."""
        z = self.backend.xp.matmul(x, self.W) + self.b
        return self.backend.ops.activation(z, self.activation)

    def backward(self, dy, need_dx=True):
        raise NotImplementedError("DeltaRule learns from its own error (fit); it has no backward pass")

    def _targets(self, labels, n):
        be, xp = self.backend, self.backend.xp
        try:
            t = be.asarray(labels)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"DeltaRule.fit: labels must be integer class labels ({exc})") from None
        if t.ndim != 1 or t.shape[0] != n:
            raise ValueError(f"DeltaRule.fit: labels must have shape ({n},), got {tuple(t.shape)}")
        t = xp.astype(t, be.dtype("int64"))
        if int(xp.min(t)) < 0 or int(xp.max(t)) >= self.units:
            raise ValueError(f"DeltaRule.fit: labels must lie in [0, {self.units}), got range "
                             f"[{int(xp.min(t))}, {int(xp.max(t))}]")
        return be.ops.one_hot(t, self.units, self.dtype)

    def fit(self, X, labels, epochs: int = 20, batch_size: int = 32, shuffle: bool = True, seed=None,
            backend=None, dtype="float32"):
        """Delta-rule passes over (X, labels); ``errors_`` gets each epoch's misclassified fraction."""
        owner = "DeltaRule.fit"
        _check_int("epochs", epochs, owner, 0)
        _check_int("batch_size", batch_size, owner)
        X = self._prepare(X, backend, dtype, seed, owner)
        T = self._targets(labels, X.shape[0])
        xp = self.backend.xp
        n = X.shape[0]
        batches_per_epoch = -(-n // batch_size)
        wrong = 0
        for i, rows in enumerate(self._batches(n, epochs, batch_size, shuffle, host_rng(seed))):
            if isinstance(rows, slice):
                xb, tb = X[rows], T[rows]
            else:
                xb, tb = xp.take(X, rows, axis=0), xp.take(T, rows, axis=0)
            y = self.forward(xb)
            delta = tb - y
            m = xb.shape[0]
            self.W = self.W + self.lr * xp.matmul(xp.matrix_transpose(xb), delta) / m
            self.b = self.b + self.lr * xp.mean(delta, axis=0)
            wrong = wrong + xp.sum(xp.astype(xp.argmax(y, axis=1) != xp.argmax(tb, axis=1), self.dtype))
            if (i + 1) % batches_per_epoch == 0:
                self.errors_.append(float(wrong) / n)
                wrong = 0
        return self

    def predict(self, X):
        """Class labels argmax f(x W + b), a NumPy array."""
        X = self._prepare(X, None, None, None, "DeltaRule.predict")
        return self.backend.to_numpy(self.backend.xp.argmax(self.forward(X), axis=1))

    def score(self, X, labels) -> float:
        """Accuracy on (X, labels)."""
        be = self.backend
        pred = self.predict(X)
        labels = be.to_numpy(be.asarray(labels))
        return float((pred == labels).mean())

    def get_config(self):
        return {"units": self.units, "lr": self.lr, "activation": self.activation}

    def _move(self, backend):
        old = self.backend
        self.W, self.b = backend.asarray(old.to_numpy(self.W)), backend.asarray(old.to_numpy(self.b))
        self.backend = backend
        self.dtype = backend.dtype(old.dtype_name(self.dtype))

