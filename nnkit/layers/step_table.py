"""The step table: a Sequential's layers as the plain data a compiled training step takes.

A backend that compiles a model's whole step (the numba backend's ``make_train_step``) reads this
table, never the layer classes: each entry names a Dense or Maxout layer (its parameters, its
activation, the dropouts after it) and the Residual blocks say where a block's input is added back.
Only what the per-layer path computes identically enters the table; anything else is a reason,
and ``step_table`` says it.
"""

from __future__ import annotations

from typing import NamedTuple

from nnkit.layers.activation import Activation
from nnkit.layers.dense import Dense
from nnkit.layers.dropout import Dropout
from nnkit.layers.flatten import Flatten
from nnkit.layers.maxout import Maxout
from nnkit.layers.residual import Residual
from nnkit.regularizers import Regularizer


class StepTable(NamedTuple):
    """groups: [(Dense or Maxout, its activation ("maxout" for a Maxout), [the Dropout layers of
    rate > 0 after it])] in forward order; skips: [(first, last)] group of each Residual block;
    loss_op: the name of the loss op the step ends with (fused with the output activation where
    the model fuses them); why: None, or why the model has no table (the other fields are None)."""

    groups: list | None
    skips: list | None
    loss_op: str | None
    why: str | None


def step_table(model) -> StepTable:
    """The table of a built, compiled Sequential (see ``_groups``), or the reason it has none."""
    layers = getattr(model, "layers", None)
    if not layers or not model.built or model.loss is None:
        return StepTable(None, None, None, "the model is not a built, compiled Sequential")
    logits_layer = layers[-1] if model._fused is not None else None
    program = _groups(layers, logits_layer)
    if program is None:
        return StepTable(None, None, None, (
            "a layer the compiled step does not implement, or one it cannot fold (a Dropout or an "
            "Activation before the first Dense, an Activation after a Dropout, another Activation "
            "or a Maxout)"))
    groups, skips = program
    if not all(_plain_penalty(dense.W.regularizer)
               and (dense.b is None or dense.b.regularizer is None) for dense, _, _ in groups):
        return StepTable(None, None, None, "a regularizer other than L1, L2 and the elastic net on a kernel")
    return StepTable(groups, skips, model.loss.op_name(model._fused is not None), None)


def _plain_penalty(regularizer) -> bool:
    """None, or a regularizer whose penalty is the elastic net of its l1 and l2 (not overridden)."""
    return regularizer is None or (
        isinstance(regularizer, Regularizer)
        and type(regularizer).penalty_and_gradient is Regularizer.penalty_and_gradient)


def _emitted(layer, logits_layer) -> str:
    """The activation a Dense or Activation layer applies: linear where it hands out logits."""
    return "linear" if layer is logits_layer else layer.activation


def _groups(layers, logits_layer=None):
    """(groups, skips) for a stack of Dense, Maxout, Activation, Dropout, Flatten and Residual
    layers that starts with a Dense, a Maxout or a Residual, else None. groups: [(Dense or Maxout,
    its activation ("maxout" for a Maxout), [the Dropout layers of rate > 0 after it])] in forward
    order; skips: [(first, last)] per Residual block, the indices of its first and last group: the
    block's input is added to the output of ``last``.

    An Activation right after a linear Dense (Keras' ``Dense(64), Activation("relu")``) is that
    Dense's activation: the per-layer path computes the same z + b, then f, and backwards the same
    f' and the same bias-gradient sum. A Flatten is left out: before the first Dense the step
    reshapes the batch itself (a view), and after a Dense its input is already flat. So is a rate-0
    Dropout, the identity, which draws no numbers in the per-layer path either. A Residual block
    holds such a stack (no Residual inside); after it comes a Dense or nothing, since an
    Activation or a Dropout there acts on the sum, not on the block's last Dense.
    """
    groups, skips = [], []
    if not _chain(layers, groups, skips, False, logits_layer) or not groups:
        return None
    return groups, skips


def _chain(layers, groups, skips, nested, logits_layer) -> bool:
    """Append ``layers`` to groups and skips (see ``_groups``); False where they do not fit."""
    open_group = bool(groups) and not (skips and skips[-1][1] == len(groups) - 1)
    for layer in layers:
        kind = type(layer)
        if kind is Flatten or (kind is Dropout and layer.rate == 0.0):
            continue
        if kind is Dense and len(layer.input_shape) != 1:
            return False  # a Dense acting on the last axis of images: the per-layer path
        if kind is Dense:
            groups.append((layer, _emitted(layer, logits_layer), []))
            open_group = True
        elif kind is Maxout:
            groups.append((layer, "maxout", []))
            open_group = True
        elif kind is Activation:
            if not open_group or groups[-1][2] or groups[-1][1] != "linear":
                return False  # after a dropout, another activation or a block: not one epilogue
            groups[-1] = (groups[-1][0], _emitted(layer, logits_layer), [])
        elif kind is Dropout:
            if not open_group:
                return False
            groups[-1][2].append(layer)
        elif kind is Residual and not nested:
            first = len(groups)
            if not _chain(layer.inner.layers, groups, skips, True, logits_layer) or len(groups) == first:
                return False
            if groups[first][0] is not _first_dense(layer.inner.layers):
                return False  # the block starts with a dropout or an activation, not a Dense
            skips.append((first, len(groups) - 1))
            open_group = False
        else:
            return False
    return True


def _first_dense(layers):
    """The first of ``layers`` that acts (not a Flatten or a rate-0 Dropout); None if none does."""
    for layer in layers:
        if type(layer) is Flatten or (type(layer) is Dropout and layer.rate == 0.0):
            continue
        return layer
    return None
