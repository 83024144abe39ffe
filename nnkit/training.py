"""The training loop behind Model.fit: mini-batch gradient descent with callbacks and progress."""

from __future__ import annotations

import math
import sys

from nnkit.backend import host_rng
from nnkit.callbacks import Callback, History, overrides
from nnkit.model import DEFAULT_EVAL_BATCH


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


def _split_validation(model, X, y, validation_data, validation_split, host=None):
    """(X, y, X_val, y_val): validation_split takes the last rows, before any shuffling."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split: expected a number in [0, 1), got {validation_split!r}")
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


def fit(model, X, y, *, epochs=1, batch_size=32, shuffle=True, validation_data=None,
        validation_split=0.0, callbacks=None, verbose=1, seed=None, distributed=False, sample_weight=None,
        class_weight=None):
    """Train ``model`` (see Model.fit). Everything is validated before the first weight changes."""
    from nnkit.weighting import sample_weights, weighted_loss_and_grad

    model._require_compiled("fit")
    _check_int("epochs", epochs, 0)
    if batch_size is None:
        batch_size = 32
    _check_int("batch_size", batch_size, 1)
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not isinstance(cb, Callback) and not all(hasattr(cb, h) for h in ("on_epoch_end", "set_model")):
            raise TypeError(f"callbacks: expected nnkit.callbacks.Callback objects, got {type(cb).__name__}")
    # a data set too large for the device stays on the host and moves one batch at a time
    host = model._staging_backend(X, y)
    X = model._check_input(X, "X", host)
    y = model._check_target(y, X.shape[0], "y", host)
    weights = sample_weights(y, X.shape[0], sample_weight, class_weight, model.loss.sparse,
                             (host or model.backend).to_numpy)
    X, y, X_val, y_val = _split_validation(model, X, y, validation_data, validation_split, host)
    if weights is not None:
        if distributed:
            raise ValueError("sample_weight, class_weight: not supported with distributed training")
        weights = weights[: X.shape[0]]  # validation_split takes the last rows

    be = model.backend
    xp = be.xp
    # data-parallel training: each rank computes on its rows of every global batch (nnkit.distributed)
    dp = None
    if distributed:
        from nnkit.distributed import data_parallel

        dp = data_parallel(distributed, model)
        seed = dp.start(model, callbacks, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                        seed=seed, verbose=verbose)
        verbose = verbose if dp.is_root else 0
    rng = host_rng(seed)
    if seed is not None:
        be.seed(seed)
    history = History()
    model.history = history
    model.stop_training = False
    for cb in callbacks + [history]:
        cb.set_model(model)
    batch_hooks = [cb for cb in callbacks if overrides(cb, "on_batch_end") or overrides(cb, "on_batch_begin")]
    params = model.parameters()
    regularized = any(p.regularizer is not None for p in params)
    optimizer, metrics = model.optimizer, model.metrics
    n = X.shape[0]
    staged = not be.is_array(X)
    # a backend may compile the whole forward-backward-update of a model into one call
    train_step = None
    if dp is None and not batch_hooks and weights is None and be.train_step_factory is not None:
        train_step = be.train_step_factory(model)
    progress = _Progress(int(verbose), epochs)

    for cb in callbacks:
        cb.on_train_begin({})
    try:
        for epoch in range(epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            perm = None
            if not shuffle:
                Xs, ys, order = X, y, None
            elif staged:  # gathered batch by batch on the host
                Xs, ys, order = X, y, rng.permutation(n)
                perm = order
            else:
                perm = rng.permutation(n)
                rows = be.asarray(perm)
                Xs, ys, order = xp.take(X, rows, axis=0), xp.take(y, rows, axis=0), None
            ws = None if weights is None else (weights if perm is None else weights[perm])
            loss_sum = 0.0
            metric_sums = [0.0] * len(metrics)
            n_batches = 0
            for batch, start in enumerate(range(0, n, batch_size)):
                stop = min(start + batch_size, n)  # array-API slices may not run past the end
                if staged:
                    xb, yb = model._rows(Xs, start, stop, order), model._rows(ys, start, stop, order)
                else:
                    xb, yb = Xs[start:stop, ...], ys[start:stop, ...]
                for cb in batch_hooks:
                    cb.on_batch_begin(batch, {})
                if train_step is not None:
                    loss, out = train_step(xb, yb)
                else:
                    if dp is not None:
                        xb, yb = dp.shard(xb, yb)
                    model.zero_grad()
                    out, backward = model._chain(xb, True)
                    if ws is not None:
                        loss, dout = weighted_loss_and_grad(model, out, yb, ws[start:stop])
                    else:
                        loss, dout = model._loss_and_grad(out, yb) if dp is None else dp.loss_and_grad(model, out, yb)
                    backward(dout, False)
                    if regularized:
                        loss = loss + model._penalties(params, add_gradient=True)
                    if dp is not None:
                        loss = dp.average_gradients(params, loss)
                    optimizer.step(params, be)
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
            logs = {"loss": float(loss_sum) / n_batches}
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
    finally:
        progress.close()
        if dp is not None:
            dp.finish()
    for cb in callbacks:
        cb.on_train_end({})
    return history
