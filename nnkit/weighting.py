"""Sample and class weights for ``fit``, as Keras takes them.

The weighted loss of a batch of B rows is Keras's: E_w = 1/B sum_i w_i l_i, where l_i is the
per-sample loss (summed over output units) and w_i = sample_weight_i * class_weight[class of i];
so weights of 1 give the unweighted loss, and dE_w/dout_i = w_i dl_i/dout_i / B.
"""

from __future__ import annotations

import numpy as np


def sample_weights(y, n: int, sample_weight=None, class_weight=None, sparse: bool = False, to_numpy=np.asarray):
    """The per-sample weights (float64, shape (n,)) for ``fit``, or None when neither is given.

    ``sample_weight``: n non-negative finite numbers. ``class_weight``: {class: weight}, the class
    of a row being its integer label (sparse losses), its 0/1 target (one output unit) or the
    argmax of its one-hot target; a class missing from the dict weighs 1. ``to_numpy`` copies y
    to the host.
    """
    if sample_weight is None and class_weight is None:
        return None
    weights = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        try:
            given = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"sample_weight: expected {n} numbers, got {type(sample_weight).__name__}") from None
        if given.ndim == 2 and given.shape[1] == 1:
            given = given[:, 0]
        if given.shape != (n,):
            raise ValueError(f"sample_weight: expected shape ({n},) (one weight per sample), got {given.shape}")
        if not np.all(np.isfinite(given)) or np.any(given < 0):
            raise ValueError("sample_weight: expected finite weights >= 0")
        weights = weights * given
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight: expected a dict {{class: weight}}, got {type(class_weight).__name__}")
        classes = _classes(to_numpy(y), sparse)
        table = {}
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
                raise ValueError(f"class_weight: classes are ints, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not np.isfinite(value) or value < 0:
                raise ValueError(f"class_weight[{key}]: expected a finite number >= 0, got {value!r}")
            table[int(key)] = float(value)
        weights = weights * np.array([table.get(int(c), 1.0) for c in classes], dtype=np.float64)
    return weights


def _classes(y, sparse: bool) -> np.ndarray:
    """The class of each row of the host targets y."""
    if sparse or y.ndim == 1:
        return np.rint(y.reshape(-1)).astype(np.int64)
    if y.shape[1] == 1:
        return np.rint(y[:, 0]).astype(np.int64)
    return np.argmax(y, axis=1)


def checked_weights(model, y, n: int, sample_weight, class_weight, distributed):
    """The host weights of fit's training rows y (the first rows of the n given; validation_split
    takes the last), or None; a bad argument raises before any weight changes."""
    if sample_weight is None and class_weight is None:
        return None
    if distributed:
        raise ValueError("sample_weight, class_weight: not supported with distributed training")
    if sample_weight is not None:
        sample_weight = sample_weights(None, n, sample_weight)[: y.shape[0]]
    be = model.backend if model.backend.is_array(y) else None
    return sample_weights(y, y.shape[0], sample_weight, class_weight, model.loss.sparse,
                          np.asarray if be is None else be.to_numpy)


def weighted_loss_and_grad(model, out, target, weights):
    """(E_w, dE_w/dout) for one batch with host weights ``weights`` (B,).

    The gradient is the unweighted one scaled row by row. The loss sums the loss op over the rows
    of each distinct weight (a class weight has few), each group's mean times its size giving its
    sum of l_i, so it is exact for every loss without a per-sample form of its own.
    """
    be = model.backend
    xp = be.xp
    b = int(out.shape[0])
    loss, grad = model._loss_and_grad(out, target)
    column = be.asarray(weights.reshape((-1,) + (1,) * (grad.ndim - 1)), dtype=grad.dtype)
    grad = grad * column
    values, groups = np.unique(weights, return_inverse=True)
    if len(values) == 1:
        return loss * float(values[0]), grad
    total = 0.0
    for k, value in enumerate(values):
        rows = np.flatnonzero(groups == k)
        if value == 0.0:
            continue
        index = be.asarray(rows)
        part, _ = model._loss_and_grad(xp.take(out, index, axis=0), xp.take(target, index, axis=0))
        total = total + part * (float(value) * len(rows) / b)
    return total, grad
