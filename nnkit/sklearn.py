"""scikit-learn estimators around nnkit networks: NNClassifier and NNRegressor.

They follow scikit-learn's estimator contract (parameters stored untouched by ``__init__``,
``get_params``/``set_params`` from BaseEstimator, validation in ``fit``, fitted attributes with a
trailing underscore), so an nnkit network drops into ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and passes ``sklearn.utils.estimator_checks.check_estimator`` (see
tests/test_sklearn.py for the checks that do not apply and why).

    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from nnkit.sklearn import NNClassifier

    pipe = make_pipeline(StandardScaler(), NNClassifier(hidden=(32,), epochs=50, random_state=0))
    GridSearchCV(pipe, {"nnclassifier__lr": [1e-3, 1e-2]}, cv=3).fit(X, y)

The classifier takes labels of any type (strings, ints, ...): ``classes_`` holds them sorted and a
softmax output layer is trained with the sparse categorical cross-entropy. The regressor takes one
or several target columns, trains with the mean squared error and, with ``scale_targets``
(default), standardises the targets for training and answers in their original units.
Fitted estimators pickle (the network is stored as its weights and rebuilt on unpickling).
"""

from __future__ import annotations

import numpy as np

from nnkit import _deps

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # no scikit-learn, or one older than 1.6 (no validate_data)
    raise _deps.MissingDependency(
        _deps.missing_message("sklearn", "nnkit.sklearn (scikit-learn >= 1.6)") + f" ({exc})") from exc

__all__ = ["NNClassifier", "NNRegressor"]

_FLOATS = [np.float64, np.float32]


class _NNBase(BaseEstimator):
    """Shared by the two estimators: their parameters, building, training, predicting and
    pickling the network."""

    def __init__(self, hidden=(100,), activation="relu", optimizer="adam", lr=1e-3, epochs=200, batch_size=200,
                 alpha=1e-4, tol=1e-4, n_iter_no_change=10, backend=None, dtype="float64", random_state=None,
                 verbose=0):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        hidden = self.hidden
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise TypeError(f"hidden: expected a tuple of layer widths, got {self.hidden!r}") from None
        if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
            raise ValueError(f"hidden: expected positive ints, got {self.hidden!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not self.lr > 0:
            raise ValueError(f"lr: expected a number > 0, got {self.lr!r}")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or self.alpha < 0:
            raise ValueError(f"alpha: expected a number >= 0, got {self.alpha!r}")
        if not isinstance(self.tol, (int, float)) or isinstance(self.tol, bool) or self.tol < 0:
            raise ValueError(f"tol: expected a number >= 0, got {self.tol!r}")
        n = self.n_iter_no_change
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise ValueError(f"n_iter_no_change: expected None or an int >= 1, got {n!r}")
        return [int(h) for h in hidden]

    def _build(self, n_in: int, n_out: int, output_activation, seed, n_samples=None):
        import nnkit as nk

        hidden = self._check_params()
        # scikit-learn's penalty: alpha / (2 batch) sum W^2 added to each batch's mean loss
        batch = min(int(self.batch_size), n_samples or int(self.batch_size))
        regularizer = nk.regularizers.L2(self.alpha / (2.0 * batch)) if self.alpha > 0 else None
        layers = [nk.layers.Dense(h, activation=self.activation, kernel_regularizer=regularizer,
                                  kernel_initializer=_initializer(self.activation))
                  for h in hidden]
        layers.append(nk.layers.Dense(n_out, activation=output_activation, kernel_regularizer=regularizer))
        model = nk.Sequential(layers, backend=self.backend, dtype=self.dtype, seed=seed)
        model.build(n_in)
        return model

    def _compile(self, model, loss):
        import nnkit as nk

        optimizer = nk.optimizers.get(self.optimizer)
        optimizer.lr = float(self.lr)
        model.compile(optimizer, loss)

    def _fit_network(self, X, y, n_out):
        """Build, compile and train ``model_`` on (X, y): one seed from random_state for both the
        initial weights and the shuffles."""
        seed = _seed_from(self.random_state)
        model = self._build(X.shape[1], n_out, self._output_activation(), seed, X.shape[0])
        self._compile(model, self._loss())
        self._train(model, X, y, seed)
        self.model_ = model

    def _train(self, model, X, y, seed):
        batch = min(int(self.batch_size), X.shape[0])
        callbacks = [] if self.n_iter_no_change is None else [_LossPlateau(self.tol, int(self.n_iter_no_change))]
        history = model.fit(X, y, epochs=int(self.epochs), batch_size=batch, verbose=self.verbose, seed=seed,
                            callbacks=callbacks)
        self.loss_curve_ = list(history.history["loss"])
        self.n_iter_ = len(self.loss_curve_)

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return self.model_.predict(X)

    # -- pickling: the network travels as its weights ------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        if model is not None:
            state["_model_weights"] = model.get_weights()
            state["_model_shape"] = (model.input_shape[0], model.output_shape[-1])
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_weights", None)
        shape = state.pop("_model_shape", None)
        self.__dict__.update(state)
        if weights is not None:
            model = self._build(shape[0], shape[1], self._output_activation(), 0)  # weights follow
            model.set_weights(weights)
            self._compile(model, self._loss())
            self.model_ = model


def _LossPlateau(tol: float, patience: int):
    """scikit-learn's stopping rule on the training loss: stop after ``patience`` epochs in a row
    whose loss did not go below the best loss so far minus ``tol``."""
    from nnkit.callbacks import Callback

    class LossPlateau(Callback):
        def on_train_begin(self, logs=None):
            self.best, self.stale = np.inf, 0

        def on_epoch_end(self, epoch, logs=None):
            loss = float(logs["loss"])
            self.stale = self.stale + 1 if loss > self.best - tol else 0
            self.best = min(self.best, loss)
            if self.stale >= patience:
                self.model.stop_training = True

    return LossPlateau()


def _seed_from(random_state):
    """An int seed, or None, from scikit-learn's random_state: None, an int, a RandomState or a
    Generator (which give one draw per fit, as check_random_state's users do)."""
    if random_state is None:
        return None
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int64).max))
    raise ValueError(f"random_state: expected None, an int, a numpy RandomState or Generator, "
                     f"got {random_state!r}")


def _initializer(activation) -> str:
    """Glorot uniform for every activation, as scikit-learn's MLP initialises (He's scaling for
    ReLU scored lower on digits with these defaults: 0.962 against 0.971, 3-fold)."""
    return "glorot_uniform"


class NNClassifier(ClassifierMixin, _NNBase):
    """A multilayer perceptron classifier trained by nnkit (softmax output, cross-entropy).

    Parameters
    ----------
    Defaults are scikit-learn's MLPClassifier's: one hidden layer of 100 ReLU units, Adam at 1e-3,
    batches of 200, alpha 1e-4, at most 200 epochs, stopping after 10 epochs without a training
    loss improvement of tol.

    hidden: widths of the hidden layers, e.g. (100,) or (64, 32).
    activation: the hidden layers' activation (an nnkit name: relu, tanh, sigmoid, ...).
    optimizer: an nnkit optimizer name ("adam", "sgd", "rmsprop", ...).
    lr: its learning rate.
    epochs: passes over the training data.
    batch_size: mini-batch size (capped at the number of samples).
    alpha: scikit-learn's L2 penalty, alpha / (2 batch) sum W^2 on every weight matrix (0: none).
    tol, n_iter_no_change: stop when the training loss has not gone below its best minus tol for
        n_iter_no_change epochs in a row (None: train all the epochs), as scikit-learn does.
    backend: nnkit backend name (None: nnkit's default backend).
    dtype: "float64" (default, scikit-learn's precision) or "float32".
    random_state: the initial weights' and the shuffles' seed, as scikit-learn takes it: None
        (random), an int, a numpy RandomState or Generator (one seed drawn from it per fit).
    verbose: fit's verbosity (0 silent).

    Attributes: classes_, n_features_in_, model_ (the nnkit Sequential), loss_curve_, n_iter_.
    """

    @staticmethod
    def _output_activation():
        return "softmax"

    @staticmethod
    def _loss():
        return "sparse_categorical_crossentropy"

    def fit(self, X, y):
        """Train on X (n, d) and labels y (n,) of any type; returns self."""
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                             f"({self.classes_[0]!r})")
        self._fit_network(X, encoded.astype(np.int64), len(self.classes_))
        return self

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in the order of classes_."""
        return self._outputs(X)

    def predict(self, X):
        """The most probable class of each row."""
        probabilities = self._outputs(X)  # raises NotFittedError before fit
        return self.classes_[np.argmax(probabilities, axis=1)]


class NNRegressor(RegressorMixin, _NNBase):
    """A multilayer perceptron regressor trained by nnkit (linear output, mean squared error).

    Parameters as NNClassifier's, plus
    scale_targets: standardise the targets per column for training (predictions come back in the
        original units).

    Attributes: n_features_in_, n_outputs_, model_, loss_curve_, n_iter_, and with scale_targets
    target_mean_, target_scale_.
    """

    def __init__(self, hidden=(100,), activation="relu", optimizer="adam", lr=1e-3, epochs=200, batch_size=200,
                 alpha=1e-4, tol=1e-4, n_iter_no_change=10, backend=None, dtype="float64", random_state=None,
                 verbose=0, scale_targets=True):
        super().__init__(hidden=hidden, activation=activation, optimizer=optimizer, lr=lr, epochs=epochs,
                         batch_size=batch_size, alpha=alpha, tol=tol, n_iter_no_change=n_iter_no_change,
                         backend=backend, dtype=dtype, random_state=random_state, verbose=verbose)
        self.scale_targets = scale_targets

    @staticmethod
    def _output_activation():
        return None

    @staticmethod
    def _loss():
        return "mse"

    def fit(self, X, y):
        """Train on X (n, d) and targets y (n,) or (n, k); returns self."""
        from nnkit.preprocessing import StandardScaler

        X, y = validate_data(self, X, y, dtype=_FLOATS, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if self._y_1d else y
        self.n_outputs_ = Y.shape[1]
        if self.scale_targets:
            scaler = StandardScaler(backend="numpy").fit(Y)
            self.target_mean_, self.target_scale_ = scaler.mean_, scaler.scale_
            Y = scaler.transform(Y)
        self._fit_network(X, Y, self.n_outputs_)
        return self

    def predict(self, X):
        """Predicted targets, (n,) or (n, k) as y was, in y's units."""
        out = self._outputs(X).astype(np.float64)
        if self.scale_targets:
            out = out * self.target_scale_ + self.target_mean_
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
