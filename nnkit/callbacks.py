"""Callbacks: hooks into fit (Keras's protocol) and the History every fit returns."""

from __future__ import annotations

import math
import os
import string
import warnings

from nnkit import validation

__all__ = ["check_callbacks", "Callback", "History", "EarlyStopping", "TerminateOnNaN", "ModelCheckpoint",
           "LearningRateScheduler", "LambdaCallback"]


class Callback:
    """Base class: override any hook. ``logs`` is a dict of floats the hook may add keys to."""

    model = None
    adds_logs: tuple = ()  # the keys this callback adds to each epoch's logs

    def set_model(self, model) -> None:
        self.model = model

    def check_fit(self, model, logged) -> None:
        """Refuse, before fit changes any weight, a run this callback cannot serve; ``logged``
        lists the keys every epoch's logs will hold."""

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


def check_callbacks(callbacks) -> list:
    """fit's ``callbacks`` as a list of callbacks, or a TypeError naming what came."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        hint = " (wrap a single callback in a list: callbacks=[...])" if hasattr(callbacks, "on_epoch_end") else ""
        raise TypeError(f"callbacks: expected a list of nnkit.callbacks.Callback objects, got "
                        f"{type(callbacks).__name__}{hint}")
    for cb in callbacks:
        if not isinstance(cb, Callback) and not all(hasattr(cb, h) for h in ("on_epoch_end", "set_model")):
            raise TypeError(f"callbacks: expected nnkit.callbacks.Callback objects, got {type(cb).__name__}")
    return list(callbacks)


def _check_monitor(owner, monitor, logged):
    if monitor not in logged:
        hint = (" (pass validation_data or validation_split, or monitor 'loss')"
                if str(monitor).startswith("val_") else "")
        raise ValueError(f"{owner}: monitor {monitor!r} is not among the values this fit logs "
                         f"{sorted(logged)}{hint}")


def _all_finite(model) -> bool:
    xp = model.backend.xp
    return all(validation.all_finite(xp, p.value) for p in model.parameters())


def overrides(callback, hook: str) -> bool:
    """Whether ``callback`` defines ``hook`` itself (so fit can skip per-batch work nobody reads)."""
    if hook in vars(callback):
        return True
    method = getattr(type(callback), hook, None)
    return method is not None and method is not getattr(Callback, hook, None)


class History(Callback):
    """``history[key]`` is the list of per-epoch values: loss, metrics, val_*, and what callbacks add."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            if key == "samples":
                continue
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        last = {k: v[-1] for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; optionally
    restore the weights of the best epoch."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True, verbose=0):
        patience = validation.integer("patience", patience, 0, owner="EarlyStopping")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a logged key such as 'val_loss', got {monitor!r}")
        min_delta = validation.number("min_delta", min_delta, owner="EarlyStopping")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode

    def check_fit(self, model, logged):
        _check_monitor("EarlyStopping", self.monitor, logged)

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.best_weights, self.stopped_epoch = None, 0, None, None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitor {self.monitor!r} is not among the logged values "
                             f"{sorted(k for k in logs if k != 'samples')}")
        value = logs[self.monitor]
        # a NaN never improves, and weights that are not all finite are never the best to restore
        if math.isfinite(value) and self._improved(value) and (
                not self.restore_best_weights or _all_finite(self.model)):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch is not None and self.verbose:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}; best {self.monitor} "
                  f"{self.best:.6g} at epoch {self.best_epoch + 1}")


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or inf, naming the epoch and batch."""

    def __init__(self):
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.message = (f"TerminateOnNaN: loss became {loss} at epoch {self._epoch + 1}, batch {batch + 1}; "
                            "training stopped (try a smaller learning rate)")
            print(self.message)
            self.model.stop_training = True


class ModelCheckpoint(Callback):
    """Save the model to ``path`` after each epoch ({epoch} and log keys may be formatted in),
    or only when ``monitor`` improves with save_best_only."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        try:
            path = os.fspath(path)
        except TypeError:
            raise TypeError(f"ModelCheckpoint: path must be a str or os.PathLike, got {type(path).__name__}") from None
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.path, self.monitor = path, monitor
        self.save_best_only = validation.flag("save_best_only", save_best_only, owner="ModelCheckpoint")
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.best = None
        self.enabled = True  # data-parallel training disables it on every rank but 0
        self._fields = self._template_fields(path)
        directory = os.path.dirname(path)
        if directory and "{" not in directory and not os.path.isdir(directory):
            raise ValueError(f"ModelCheckpoint: the directory of path {path!r} does not exist")

    @staticmethod
    def _template_fields(path):
        try:
            return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(path)
                    if field is not None}
        except ValueError as exc:
            raise ValueError(f"ModelCheckpoint: path {path!r} is not a valid template: {exc}") from None

    def check_fit(self, model, logged):
        if self.save_best_only:
            _check_monitor("ModelCheckpoint", self.monitor, logged)
        unknown = sorted(f for f in self._fields if f != "epoch" and f not in logged)
        if unknown or "" in self._fields:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} names {unknown or ['{}']}, which this fit "
                             f"does not log; it logs 'epoch' and {sorted(logged)}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.enabled:
            return
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise ValueError(f"ModelCheckpoint: monitor {self.monitor!r} is not logged")
            better = math.isfinite(value) and (
                self.best is None or (value < self.best if self.mode == "min" else value > self.best))
            if not better:
                return
            self.best = value
        if not _all_finite(self.model):  # a diverged model never replaces a good file
            warnings.warn(f"ModelCheckpoint: epoch {epoch + 1}: the weights are not all finite; "
                          f"{self.path!r} not written", RuntimeWarning, stacklevel=2)
            return
        fields = {k: v for k, v in logs.items()}
        self.model.save(self.path.format(epoch=epoch + 1, **fields))


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch's start to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``)."""

    adds_logs = ("lr",)

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, opt.current_lr)
        except TypeError:
            lr = self.schedule(epoch)
        lr = float(lr)
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: schedule returned lr={lr}")
        opt.lr = lr
        if self.verbose:
            print(f"epoch {epoch + 1}: learning rate {lr:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.current_lr)


class LambdaCallback(Callback):
    """A callback from functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."""

    def __init__(self, **hooks):
        valid = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                 "on_batch_begin", "on_batch_end"}
        for name, fn in hooks.items():
            if name not in valid:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; expected one of {sorted(valid)}")
            setattr(self, name, fn)
