"""Normalisation of inputs and outputs: StandardScaler, MinMaxScaler and NormalizedModel.

    StandardScaler:  z = (x - mean) / std          inverse  x = z std + mean
    MinMaxScaler:    z = (x - min) / (max - min) (hi - lo) + lo     inverse  x = (z - lo) / (hi - lo) (max - min) + min

Each statistic is per column (per feature or per output unit); a constant column gets scale 1
(scikit-learn's rule), so it maps to 0 instead of dividing by zero. The scalers compute with the
namespace of the arrays they are given (NumPy, CuPy, array_api_strict, ...) or of an explicit
``backend``; a 1-D array (regression targets) is one column and comes back 1-D.

``NormalizedModel(model)`` puts a scaler on the inputs and one on the targets of a regression model,
so it trains on normalised data and ``predict`` answers in the original units.
"""

from __future__ import annotations

from nnkit.backend import get_backend

__all__ = ["StandardScaler", "MinMaxScaler", "NormalizedModel"]


def _backend_of(a, backend):
    """The backend to compute on: the explicit one, else the one ``a`` belongs to."""
    if backend is not None:
        return get_backend(backend)
    module = type(a).__module__
    if module.startswith("numpy") or not hasattr(a, "__array_namespace__"):
        return get_backend("numpy")  # NumPy arrays, lists and scalars
    if module.startswith("cupy"):
        return get_backend("cupy")
    return get_backend(a.__array_namespace__())


class _Scaler:
    """Shared plumbing: validation, 1-D handling, fit_transform; subclasses give _fit/_forward/_inverse."""

    def __init__(self, backend=None):
        self.backend = backend
        self._be = None
        self.n_features_in_ = None

    def _as_2d(self, X, argument="X", fitting=False):
        be = self._be
        xp = be.xp
        kind = getattr(getattr(X, "dtype", None), "kind", "f")
        if kind not in "fiub":
            raise TypeError(f"{argument}: expected a numeric array, got dtype {X.dtype}")
        try:
            X = be.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{argument}: expected a numeric array, got {type(X).__name__} ({exc})") from None
        if not xp.isdtype(X.dtype, "real floating"):
            X = xp.astype(X, be.dtype("float64"))
        one_d = X.ndim == 1
        if one_d:
            X = xp.reshape(X, (-1, 1))
        if X.ndim != 2:
            raise ValueError(f"{argument}: expected shape (n_samples, n_features) or (n,), got {tuple(X.shape)}")
        if fitting and X.shape[0] == 0:
            raise ValueError(f"{argument}: the data set is empty (shape {tuple(X.shape)})")
        if not bool(xp.all(xp.isfinite(X))):
            raise ValueError(f"{argument}: contains NaN or inf")
        if not fitting and X.shape[1] != self.n_features_in_:
            raise ValueError(f"{argument}: the scaler was fitted on {self.n_features_in_} columns, "
                             f"got {X.shape[1]}")
        return X, one_d

    def _require_fitted(self, what):
        if self.n_features_in_ is None:
            raise ValueError(f"{what}: the scaler is not fitted; call fit(X) first")

    def fit(self, X, y=None):
        """Learn the per-column statistics of X; returns self (y is ignored, as in scikit-learn)."""
        self._be = _backend_of(X, self.backend)
        X, _ = self._as_2d(X, fitting=True)
        self.n_features_in_ = X.shape[1]
        self._fit(X, self._be.xp)
        return self

    def _stat(self, name, X):
        """A fitted statistic, cast to X's dtype so the result keeps the input's precision."""
        return self._be.xp.astype(getattr(self, name), X.dtype)

    def transform(self, X):
        """X normalised with the fitted statistics (same namespace, same 1-D/2-D shape)."""
        self._require_fitted("transform")
        X, one_d = self._as_2d(X)
        Z = self._forward(X)
        return self._be.xp.reshape(Z, (-1,)) if one_d else Z

    def inverse_transform(self, Z):
        """Back to the original units: the inverse of transform."""
        self._require_fitted("inverse_transform")
        Z, one_d = self._as_2d(Z, "Z")
        X = self._inverse(Z)
        return self._be.xp.reshape(X, (-1,)) if one_d else X

    def fit_transform(self, X, y=None):
        """fit(X) then transform(X)."""
        return self.fit(X).transform(X)

    # scikit-learn's protocol, so a scaler drops into a Pipeline next to nnkit.sklearn estimators
    def get_params(self, deep=True) -> dict:
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"set_params: unknown parameter {name!r}; expected one of {self._param_names}")
            setattr(self, name, value)
        return self


class StandardScaler(_Scaler):
    """z = (x - mean) / std per column (std with ddof 0; 1 where a column is constant).

    Parameters
    ----------
    with_mean: subtract the mean.
    with_std: divide by the standard deviation.
    backend: compute on this backend (a name or Backend); None uses the namespace of the data.

    Attributes after fit: ``mean_``, ``var_``, ``scale_`` (arrays of the data's namespace),
    ``n_features_in_``, ``n_samples_seen_``.
    """

    _param_names = ("with_mean", "with_std", "backend")

    def __init__(self, with_mean: bool = True, with_std: bool = True, backend=None):
        super().__init__(backend)
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)

    def _fit(self, X, xp):
        self.n_samples_seen_ = X.shape[0]
        self.mean_ = xp.mean(X, axis=0)
        self.var_ = xp.var(X, axis=0)
        std = xp.sqrt(self.var_)
        # a constant column: scale 1, as scikit-learn (also rounding-level spreads of a constant)
        tiny = 10.0 * xp.finfo(X.dtype).eps * xp.maximum(xp.abs(self.mean_), xp.ones_like(std))
        self.scale_ = xp.where(std <= tiny, xp.ones_like(std), std)

    def _forward(self, X):
        if self.with_mean:
            X = X - self._stat("mean_", X)
        if self.with_std:
            X = X / self._stat("scale_", X)
        return X

    def _inverse(self, Z):
        if self.with_std:
            Z = Z * self._stat("scale_", Z)
        if self.with_mean:
            Z = Z + self._stat("mean_", Z)
        return Z


class MinMaxScaler(_Scaler):
    """z = (x - min) / (max - min) * (hi - lo) + lo per column, (lo, hi) = feature_range.

    Parameters
    ----------
    feature_range: the (lo, hi) the training data is mapped onto, lo < hi.
    backend: compute on this backend; None uses the namespace of the data.

    Attributes after fit: ``data_min_``, ``data_max_``, ``data_range_`` (1 for a constant
    column), ``scale_``, ``min_`` (z = x scale_ + min_), ``n_features_in_``.
    """

    _param_names = ("feature_range", "backend")

    def __init__(self, feature_range=(0.0, 1.0), backend=None):
        super().__init__(backend)
        try:
            lo, hi = feature_range
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError):
            raise TypeError(f"feature_range: expected a pair (lo, hi), got {feature_range!r}") from None
        if not lo < hi:
            raise ValueError(f"feature_range: expected lo < hi, got {feature_range!r}")
        self.feature_range = (lo, hi)

    def _fit(self, X, xp):
        lo, hi = self.feature_range
        self.data_min_ = xp.min(X, axis=0)
        self.data_max_ = xp.max(X, axis=0)
        span = self.data_max_ - self.data_min_
        self.data_range_ = xp.where(span == 0, xp.ones_like(span), span)
        self.scale_ = (hi - lo) / self.data_range_
        self.min_ = lo - self.data_min_ * self.scale_

    def _forward(self, X):
        return X * self._stat("scale_", X) + self._stat("min_", X)

    def _inverse(self, Z):
        return (Z - self._stat("min_", Z)) / self._stat("scale_", Z)


class NormalizedModel:
    """A model trained on normalised inputs and targets that predicts in the original units.

        fit:      model.fit(sx(X), sy(y))          predict:  sy^-1(model.predict(sx(X)))

    Parameters
    ----------
    model: a compiled nnkit model (a regression model: its outputs are targets to un-scale).
    x_scaler: the inputs' scaler (default StandardScaler()); None leaves inputs as they are.
    y_scaler: the targets' scaler (default StandardScaler()); None leaves targets as they are.

    The scalers are fitted on the training data only (never on validation data), on the host.
    """

    def __init__(self, model, x_scaler="standard", y_scaler="standard"):
        self.model = model
        self.x_scaler = StandardScaler(backend="numpy") if x_scaler == "standard" else x_scaler
        self.y_scaler = StandardScaler(backend="numpy") if y_scaler == "standard" else y_scaler
        for name, scaler in (("x_scaler", self.x_scaler), ("y_scaler", self.y_scaler)):
            if scaler is not None and not all(hasattr(scaler, m) for m in ("fit", "transform", "inverse_transform")):
                raise TypeError(f"{name}: expected a scaler with fit/transform/inverse_transform or None, "
                                f"got {type(scaler).__name__}")

    def _host(self, a):
        return self.model.backend.to_numpy(a) if self.model.backend.is_array(a) else a

    def _x(self, X):
        X = self._host(X)
        return X if self.x_scaler is None else self.x_scaler.transform(X)

    def _y(self, y):
        y = self._host(y)
        return y if self.y_scaler is None else self.y_scaler.transform(y)

    def fit(self, X, y, validation_data=None, **fit_kwargs):
        """Fit the scalers on (X, y), then model.fit on the scaled data; returns the History."""
        if self.x_scaler is not None:
            self.x_scaler.fit(self._host(X))
        if self.y_scaler is not None:
            self.y_scaler.fit(self._host(y))
        if validation_data is not None:
            X_val, y_val = validation_data
            validation_data = (self._x(X_val), self._y(y_val))
        return self.model.fit(self._x(X), self._y(y), validation_data=validation_data, **fit_kwargs)

    def predict(self, X, **kwargs):
        """The model's predictions for X in the targets' original units (a NumPy array)."""
        out = self.model.predict(self._x(X), **kwargs)
        return out if self.y_scaler is None else self.y_scaler.inverse_transform(out)

    def evaluate(self, X, y, **kwargs) -> dict:
        """model.evaluate on the scaled data: losses and metrics in normalised units."""
        return self.model.evaluate(self._x(X), self._y(y), **kwargs)
