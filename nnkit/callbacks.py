"""Callbacks: hooks into fit (Keras's protocol) and the History every fit returns."""

from __future__ import annotations

import math
import os

__all__ = ["Callback", "History", "EarlyStopping", "TerminateOnNaN", "ModelCheckpoint",
           "LearningRateScheduler", "LambdaCallback"]


class Callback:
    """Base class: override any hook. ``logs`` is a dict of floats the hook may add keys to."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


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
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(float(min_delta))
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode

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
        if self._improved(value):
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
    """Stop training at the first batch whose loss is NaN or inf, naming the epoch and batch.

    In fit on a GPU the loss is read once every 32 batches (nnkit._loss_watch), not every batch:
    the message still names the first bad batch, and training stops by the end of its window."""

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
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.best = None
        self.enabled = True  # data-parallel training disables it on every rank but 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.enabled:
            return
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise ValueError(f"ModelCheckpoint: monitor {self.monitor!r} is not logged")
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            self.best = value
        fields = {k: v for k, v in logs.items()}
        self.model.save(self.path.format(epoch=epoch + 1, **fields))


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch's start to ``schedule(epoch, lr)``
    (or ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
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
