"""The training loop behind Model.fit: mini-batch gradient descent with callbacks and progress."""

from __future__ import annotations

import logging
import math
import sys

from nnkit import validation
from nnkit._cupy_data import EpochShuffle
from nnkit.backend import host_rng
from nnkit.callbacks import History, TerminateOnNaN, check_callbacks, overrides
from nnkit.divergence import DivergenceGuard, TrainingDiverged
from nnkit.model import DEFAULT_EVAL_BATCH

log = logging.getLogger("nnkit")


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


class _CallbackRunner:
    """Calls the callbacks' hooks in order; the batch hooks only of the callbacks that define them
    (so a fit without any builds no per-batch logs)."""

    def __init__(self, model, callbacks, history):
        self.callbacks, self.history = callbacks, history
        for cb in callbacks + [history]:
            cb.set_model(model)
        # TerminateOnNaN's check is the divergence guard's, which every fit runs
        self.batch_hooks = [cb for cb in callbacks if type(cb) is not TerminateOnNaN
                            and (overrides(cb, "on_batch_end") or overrides(cb, "on_batch_begin"))]

    def train_begin(self):
        for cb in self.callbacks:
            cb.on_train_begin({})

    def epoch_begin(self, epoch):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})

    def batch_begin(self, batch):
        for cb in self.batch_hooks:
            cb.on_batch_begin(batch, {})

    def batch_end(self, batch, loss, size):
        if self.batch_hooks:
            logs = {"loss": float(loss), "size": int(size)}
            for cb in self.batch_hooks:
                cb.on_batch_end(batch, logs)

    def epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        self.history.on_epoch_end(epoch, logs)

    def train_end(self):
        for cb in self.callbacks:
            cb.on_train_end({})


def _checked(model, X, y, epochs, batch_size, validation_data, validation_split, callbacks, verbose, seed,
             sample_weight=None, class_weight=None, distributed=False):
    """fit's arguments checked and converted, or the first error: (epochs, batch_size, seed,
    callbacks, X, y, X_val, y_val, weights). A data set too large for the device stays on the
    host and moves one batch at a time; ``weights``: the training rows' host sample weights or None."""
    from nnkit.weighting import checked_weights

    model._require_compiled("fit")
    epochs = validation.integer("epochs", epochs, 0)
    batch_size = validation.integer("batch_size", 32 if batch_size is None else batch_size, 1)
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    seed = validation.seed(seed)
    callbacks = check_callbacks(callbacks)
    host = model._staging_backend(X, y)
    X = model._check_input(X, "X", host)
    y = model._check_target(y, X.shape[0], "y", host)
    X, y, X_val, y_val = _split_validation(model, X, y, validation_data, validation_split, host)
    split = X_val.shape[0] if validation_data is None and X_val is not None else 0
    weights = checked_weights(model, y, X.shape[0] + split, sample_weight, class_weight, distributed)
    logged = ["loss"] + [m.name for m in model.metrics]
    if X_val is not None:
        logged += [f"val_{key}" for key in logged]
    logged += [k for cb in callbacks for k in getattr(cb, "adds_logs", ())]
    for cb in callbacks:
        if hasattr(cb, "check_fit"):
            cb.check_fit(model, logged)
    return epochs, batch_size, seed, callbacks, X, y, X_val, y_val, weights


def _batch(model, data, batch, batch_size, dp):
    """The step's arguments for the epoch's batch-th batch: (xb, yb), with their sample weights
    where the fit has them; this rank's shard of it when distributed."""
    Xs, ys, order, ws = data
    start = batch * batch_size
    stop = min(start + batch_size, Xs.shape[0])  # array-API slices may not run past the end
    xb, yb = model._rows(Xs, start, stop, order), model._rows(ys, start, stop, order)
    if dp is not None:
        return dp.shard(xb, yb)
    return (xb, yb) if ws is None else (xb, yb, ws[start:stop])


def _epoch_orders(model, X, y, epochs, shuffle, rng, weights=None):
    """Per epoch (Xs, ys, order, ws): the data in the epoch's order. Device arrays are permuted
    whole; data staged on the host keeps its place and ``order`` says which rows each batch
    gathers; ``ws``: the host sample weights in the epoch's order (None without weights)."""
    be = model.backend
    n = X.shape[0]
    shuffled = EpochShuffle(be, X, y)  # on a device: into one buffer for the whole fit
    for _ in range(epochs):
        if not shuffle:
            yield X, y, None, weights
            continue
        perm = rng.permutation(n)
        ws = None if weights is None else weights[perm]
        if not be.is_array(X):
            yield X, y, perm, ws
        else:
            yield (*shuffled(be.asarray(perm)), None, ws)


def _run_batches(model, step, data, batch_size, runner, dp, guard):
    """One epoch's batch loop: (sum of the batch losses, the metrics' sums, batches run)."""
    Xs, ys, order, ws = data
    n = Xs.shape[0]
    metrics, hooks = model.metrics, runner.batch_hooks
    staged = not model.backend.is_array(Xs)
    loss_sum, metric_sums, n_batches = 0.0, [0.0] * len(metrics), 0
    for batch, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)  # array-API slices may not run past the end
        if staged:
            xb, yb = model._rows(Xs, start, stop, order), model._rows(ys, start, stop, order)
        else:
            xb, yb = Xs[start:stop, ...], ys[start:stop, ...]
        if hooks:
            runner.batch_begin(batch)
        if dp is not None:
            xb, yb = dp.shard(xb, yb)
        loss, out = step(xb, yb) if ws is None else step(xb, yb, ws[start:stop])
        guard.check_batch(batch, loss)
        loss_sum = loss_sum + loss
        if metrics:
            model._accumulate_metrics(out, yb, metric_sums)
        n_batches += 1
        if hooks:
            runner.batch_end(batch, loss, xb.shape[0])
            if model.stop_training:
                break
    return loss_sum, metric_sums, n_batches


def _epoch_logs(model, sums, n, validation, dp, guard):
    """The epoch's logs: mean batch loss, the metrics, the validation loss and metrics."""
    loss_sum, metric_sums, n_batches = sums
    if dp is not None:
        loss_sum, metric_sums = dp.reduce_epoch(loss_sum, metric_sums)
    # one read-back per epoch: the sums stay on the device until here (the guard's check with it)
    logs = {"loss": guard.epoch_loss(loss_sum, n_batches) / max(n_batches, 1)}
    for metric, s in zip(model.metrics, metric_sums):
        logs[metric.name] = float(s) / n
    if validation[0] is not None:
        for key, value in model._evaluate_arrays(*validation, DEFAULT_EVAL_BATCH).items():
            logs[f"val_{key}"] = value
    logs["samples"] = n
    return logs


def _choose_step(model, dp, weighted=False):
    """The batch step ``(xb, yb) -> (loss, out)`` of this fit (``(xb, yb, wb)`` with sample
    weights); records which path runs and why in ``model.step_path`` (shown by summary() and
    logged at DEBUG)."""
    if dp is not None:
        compiled, why = None, "distributed training reduces the gradients between backward and update"
    elif weighted:
        compiled, why = None, "sample or class weights scale the loss of each sample"
    else:
        compiled, why = model._fast_path()
    model.step_path = ("compiled" if compiled is not None else "per-layer", why)
    log.debug("fit: %s step: %s", *model.step_path)
    if dp is not None:
        return lambda xb, yb: model._train_step(xb, yb, loss_and_grad=dp.loss_and_grad)
    if weighted:
        return lambda xb, yb, wb: model._train_step(
            xb, yb, loss_and_grad=lambda x, y: model._step(x, y, weights=wb)[:2])
    from nnkit._cupy_graph import graph_step

    # NNKIT_CUDA_GRAPH=1 on the cupy backend: replayed from a CUDA graph
    return graph_step(compiled if compiled is not None else model._train_step, model.backend, model)


def _stopped_quietly(exc, callbacks) -> bool:
    """Whether a TerminateOnNaN among ``callbacks`` asked to end the fit quietly, as an early stop,
    on the divergence ``exc`` (it then keeps the message and prints it)."""
    stoppers = [cb for cb in callbacks if isinstance(cb, TerminateOnNaN)]
    for cb in stoppers:
        cb.message = f"TerminateOnNaN: {exc}"
    if stoppers:
        print(stoppers[0].message)
    return bool(stoppers)


def fit(model, X, y, *, epochs=1, batch_size=32, shuffle=True, validation_data=None,
        validation_split=0.0, callbacks=None, verbose=1, seed=None, distributed=False, sample_weight=None,
        class_weight=None):
    """Train ``model`` (see Model.fit). Everything is validated before the first weight changes;
    a rejected call leaves an unbuilt model unbuilt. A loss or weight that becomes NaN or inf
    stops the fit with TrainingDiverged (or quietly, with TerminateOnNaN among the callbacks),
    the model keeping the weights and optimizer state from before that step."""
    dp = None
    if distributed:  # each rank computes on its rows of every global batch (nnkit.distributed)
        from nnkit.distributed import data_parallel

        dp = data_parallel(distributed, model)
    with validation.rollback_build(model):
        try:
            epochs, batch_size, seed, callbacks, X, y, X_val, y_val, weights = _checked(
                model, X, y, epochs, batch_size, validation_data, validation_split, callbacks, verbose, seed,
                sample_weight, class_weight, distributed)
        except Exception as exc:
            if dp is None:
                raise
            dp.agree(exc)  # every rank raises: none is left waiting in a collective
        if dp is not None:
            dp.agree(None)
    if dp is not None:
        seed = dp.start(model, callbacks, X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                        seed=seed, verbose=verbose)
        verbose = verbose if dp.is_root else 0
    if seed is not None:
        model._set_stream(model.backend.generator(seed))
    history = model.history = History()
    model.stop_training = False
    runner = _CallbackRunner(model, callbacks, history)
    step = _choose_step(model, dp, weighted=weights is not None)
    guard = DivergenceGuard(model, model.parameters(), history)
    progress = _Progress(int(verbose), epochs)
    runner.train_begin()
    try:
        orders = _epoch_orders(model, X, y, epochs, shuffle, host_rng(seed), weights)
        for epoch, data in enumerate(orders):
            runner.epoch_begin(epoch)
            guard.begin_epoch(epoch, lambda i, data=data: step(*_batch(model, data, i, batch_size, dp))[0])
            sums = _run_batches(model, step, data, batch_size, runner, dp, guard)
            logs = _epoch_logs(model, sums, X.shape[0], (X_val, y_val), dp, guard)
            runner.epoch_end(epoch, logs)
            progress.epoch_end(epoch, logs)
            if model.stop_training:
                break
        guard.finish()
    except TrainingDiverged as exc:
        if not _stopped_quietly(exc, callbacks):
            raise
    finally:
        progress.close()
        if dp is not None:
            dp.finish()
    runner.train_end()
    return history
