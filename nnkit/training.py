"""The training loop behind Model.fit: mini-batch gradient descent with callbacks and progress."""

from __future__ import annotations

import math
import sys

from nnkit import validation
from nnkit.backend import host_rng
from nnkit.callbacks import History, TerminateOnNaN, check_callbacks, overrides
from nnkit.divergence import DivergenceGuard, TrainingDiverged
from nnkit.model import DEFAULT_EVAL_BATCH


def _split_validation(model, X, y, validation_data, validation_split, host=None):
    """(X, y, X_val, y_val): validation_split takes the last rows, before any shuffling."""
    try:
        validation_split = validation.number("validation_split", validation_split, low=0.0, high=1.0,
                                             high_open=True)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data: expected a tuple (X_val, y_val)")
        host = model._staging_backend(*validation_data) if host is None else host
        X_val = model._check_input(validation_data[0], "validation_data[0]", host)
        y_val = model._check_target(validation_data[1], X_val.shape[0], "validation_data[1]", host)
        return X, y, X_val, y_val
    if validation_split > 0.0:
        n = X.shape[0]
        n_val = int(math.floor(n * validation_split))
        if n_val < 1 or n_val >= n:
            raise ValueError(f"validation_split={validation_split} leaves {n - n_val} training and "
                             f"{n_val} validation samples of {n}; both must be at least 1")
        return X[: n - n_val, ...], y[: n - n_val, ...], X[n - n_val:, ...], y[n - n_val:, ...]
    return X, y, None, None


class _Progress:
    """verbose=0: silent; 1: a tqdm bar over epochs on a terminal, else one line per epoch;
    2: one line per epoch."""

    def __init__(self, verbose, epochs):
        self.verbose, self.epochs, self.bar = verbose, epochs, None
        if verbose == 1 and sys.stdout.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs, unit="epoch", leave=True)

    def epoch_end(self, epoch, logs):
        if not self.verbose:
            return
        shown = {k: v for k, v in logs.items() if k not in ("samples",)}
        text = " - ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in shown.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            print(f"Epoch {epoch + 1}/{self.epochs} - {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _checked(model, X, y, epochs, batch_size, validation_data, validation_split, callbacks, verbose, seed):
    """fit's arguments checked and converted, or the first error."""
    model._require_compiled("fit")
    epochs = validation.integer("epochs", epochs, 0)
    if batch_size is None:
        batch_size = 32
    batch_size = validation.integer("batch_size", batch_size, 1)
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    seed = validation.seed(seed)
    callbacks = check_callbacks(callbacks)
    # a data set too large for the device stays on the host and moves one batch at a time
    host = model._staging_backend(X, y)
    X = model._check_input(X, "X", host)
    y = model._check_target(y, X.shape[0], "y", host)
    X, y, X_val, y_val = _split_validation(model, X, y, validation_data, validation_split, host)
    logged = ["loss"] + [m.name for m in model.metrics]
    if X_val is not None:
        logged += [f"val_{key}" for key in logged]
    logged += [k for cb in callbacks for k in getattr(cb, "adds_logs", ())]
    for cb in callbacks:
        if hasattr(cb, "check_fit"):
            cb.check_fit(model, logged)
    return epochs, batch_size, seed, callbacks, X, y, X_val, y_val


def fit(model, X, y, *, epochs=1, batch_size=32, shuffle=True, validation_data=None,
        validation_split=0.0, callbacks=None, verbose=1, seed=None, distributed=False):
    """Train ``model`` (see Model.fit). Everything is validated before the first weight changes."""
    # data-parallel training: each rank computes on its rows of every global batch (nnkit.distributed)
    dp = None
    if distributed:
        from nnkit.distributed import data_parallel

        dp = data_parallel(distributed, model)
    with validation.rollback_build(model):
        try:
            epochs, batch_size, seed, callbacks, X, y, X_val, y_val = _checked(
                model, X, y, epochs, batch_size, validation_data, validation_split, callbacks, verbose, seed)
        except Exception as exc:
            if dp is None:
                raise
            dp.agree(exc)  # every rank raises: none is left waiting in a collective
        if dp is not None:
            dp.agree(None)

    be = model.backend
    xp = be.xp
    if dp is not None:
        seed = dp.start(model, callbacks, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                        seed=seed, verbose=verbose)
        verbose = verbose if dp.is_root else 0
    rng = host_rng(seed)
    if seed is not None:
        model._set_stream(be.generator(seed))
    history = History()
    model.history = history
    model.stop_training = False
    for cb in callbacks + [history]:
        cb.set_model(model)
    # TerminateOnNaN's check is the guard's, which every fit runs: it needs no batch hook
    batch_hooks = [cb for cb in callbacks if not type(cb) is TerminateOnNaN
                   and (overrides(cb, "on_batch_end") or overrides(cb, "on_batch_begin"))]
    params = model.parameters()
    regularized = any(p.regularizer is not None for p in params)
    optimizer, metrics = model.optimizer, model.metrics
    n = X.shape[0]
    staged = not be.is_array(X)
    # a backend may compile the whole forward-backward-update of a model into one call
    train_step = None
    if dp is None and not batch_hooks and be.train_step_factory is not None:
        train_step = be.train_step_factory(model)
    progress = _Progress(int(verbose), epochs)

    guard = DivergenceGuard(model, params)

    def run_step(batch):
        """The epoch's batch-th step on (Xs, ys, order): (loss, outputs, xb, yb)."""
        start = batch * batch_size
        stop = min(start + batch_size, n)  # array-API slices may not run past the end
        if staged:
            xb, yb = model._rows(Xs, start, stop, order), model._rows(ys, start, stop, order)
        else:
            xb, yb = Xs[start:stop, ...], ys[start:stop, ...]
        if train_step is not None:
            loss, out = train_step(xb, yb)
            return loss, out, xb, yb
        if dp is not None:
            xb, yb = dp.shard(xb, yb)
        model.zero_grad()
        out, backward = model._chain(xb, True)
        loss, dout = model._loss_and_grad(out, yb) if dp is None else dp.loss_and_grad(model, out, yb)
        backward(dout, False)
        if regularized:
            loss = loss + model._penalties(params, add_gradient=True)
        if dp is not None:
            loss = dp.average_gradients(params, loss)
        optimizer.step(params, be)
        return loss, out, xb, yb

    for cb in callbacks:
        cb.on_train_begin({})
    try:
        for epoch in range(epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            if not shuffle:
                Xs, ys, order = X, y, None
            elif staged:  # gathered batch by batch on the host
                Xs, ys, order = X, y, rng.permutation(n)
            else:
                rows = be.asarray(rng.permutation(n))
                Xs, ys, order = xp.take(X, rows, axis=0), xp.take(y, rows, axis=0), None
            guard.begin_epoch()
            loss_sum = 0.0
            metric_sums = [0.0] * len(metrics)
            n_batches = 0
            for batch in range(-(-n // batch_size)):
                for cb in batch_hooks:
                    cb.on_batch_begin(batch, {})
                loss, out, xb, yb = run_step(batch)
                if not guard.batch_ok(loss):
                    guard.stop(epoch, batch, lambda i: run_step(i)[0], history, f"the loss became {float(loss)}")
                loss_sum = loss_sum + loss
                if metrics:
                    model._accumulate_metrics(out, yb, metric_sums)
                n_batches += 1
                if batch_hooks:
                    logs = {"loss": float(loss), "size": int(xb.shape[0])}
                    for cb in batch_hooks:
                        cb.on_batch_end(batch, logs)
                    if model.stop_training:
                        break
            if dp is not None:
                loss_sum, metric_sums = dp.reduce_epoch(loss_sum, metric_sums)
            # one read-back per epoch: the sums stay on the device until here
            loss_sum = guard.epoch_loss(loss_sum)
            if loss_sum is None:
                guard.stop(epoch, n_batches, lambda i: run_step(i)[0], history)
            logs = {"loss": loss_sum / n_batches}
            for metric, s in zip(metrics, metric_sums):
                logs[metric.name] = float(s) / n
            if X_val is not None:
                for key, value in model._evaluate_arrays(X_val, y_val, DEFAULT_EVAL_BATCH).items():
                    logs[f"val_{key}"] = value
            logs["samples"] = n
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.on_epoch_end(epoch, logs)
            progress.epoch_end(epoch, logs)
            if model.stop_training:
                break
    except TrainingDiverged as exc:
        stoppers = [cb for cb in callbacks if isinstance(cb, TerminateOnNaN)]
        if not stoppers:
            raise
        for cb in stoppers:  # asked to stop quietly on NaN: end the fit as an early stop
            cb.message = f"TerminateOnNaN: {exc}"
        print(stoppers[0].message)
    finally:
        progress.close()
        if dp is not None:
            dp.finish()
    for cb in callbacks:
        cb.on_train_end({})
    return history
