"""Fooling a network with backpropagation: gradient ascent on the input instead of the weights.

The lecture: "instead of updating the weights using backprop update an input:
x = x + d loss / d x" (a labrador retriever at 46% becomes an Italian greyhound at 99.9%). The
input gradient is what ``model.backward`` already returns; here it is taken through the model's
own loss path (on logits where a softmax output is fused with its cross-entropy), and the
attacks keep the change inside an L-infinity ball ||x_adv - x||_inf <= epsilon and inside the
valid input range. Everything runs on the model's backend (``backend.xp``), so the attacks work
on every backend; they return arrays of the model's backend (``model.backend.to_numpy`` for NumPy).
"""

from __future__ import annotations

import math

from nnkit import losses as _losses

__all__ = ["input_gradient", "gradient_ascent", "fgsm", "fooling_rate"]


def _loss_of(model, loss):
    if loss is not None:
        return _losses.get(loss)
    if model.loss is None:
        raise ValueError("loss: the model is not compiled; compile it or pass loss=...")
    return model.loss


def _targets(model, loss, y, n, argument):
    """Labels (sparse losses) or target arrays of the output's shape, on the model's backend."""
    be, xp = model.backend, model.backend.xp
    if y is None:
        raise ValueError(f"{argument}: expected labels, got None")
    width = model.output_shape[-1]
    if loss.sparse:
        y = be.asarray(y)
        if y.ndim == 0:
            y = xp.full((n,), y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"{argument}: expected {n} labels of shape ({n},), got shape {tuple(y.shape)}")
        y = xp.astype(y, be.dtype("int64"))
        if int(xp.min(y)) < 0 or int(xp.max(y)) >= width:
            raise ValueError(f"{argument}: labels must lie in [0, {width}), got range "
                             f"[{int(xp.min(y))}, {int(xp.max(y))}]")
        return y
    y = be.asarray(y, dtype=model.dtype)
    if y.ndim == 1 and width == 1:
        y = xp.reshape(y, (-1, 1))
    if tuple(y.shape) != (n, width):
        raise ValueError(f"{argument}: expected targets of shape ({n}, {width}), got {tuple(y.shape)}")
    return y


def _gradient(model, loss, x, t):
    """(loss, d loss / d x) for backend arrays x and targets t."""
    be = model.backend
    # differentiate the model as it predicts: batch normalization by its moving statistics, left
    # unchanged (Keras' trainable = False), not by the statistics of the batch under attack
    frozen = [layer for layer in model.sublayers() if hasattr(layer, "moving_mean") and layer.trainable]
    for layer in frozen:
        layer.trainable = False
    # a loss other than the compiled one sees the model's outputs (probabilities)
    loss_op = None if loss is model.loss else (lambda out, target: loss.compute(out, target, be))
    try:
        value, _, dx = model._step(x, t, wrt_input=True, loss_op=loss_op)
    finally:
        for layer in frozen:
            layer.trainable = True
    return value, dx


def input_gradient(model, x, y, loss=None):
    """d loss(model(x), y) / d x by one forward and one backward pass (the weights do not change;
    each Parameter.grad is overwritten). ``loss`` defaults to the model's compiled loss; note the
    losses are means over samples, so each row's gradient carries a factor 1/n."""
    loss = _loss_of(model, loss)
    x = model._check_input(x, "x")
    t = _targets(model, loss, y, x.shape[0], "y")
    return _gradient(model, loss, x, t)[1]


def _check_number(name, value, low=None, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name}: expected a number >= {low}, got {value!r}")
    return float(value)


def _check_clip(clip):
    if clip is None:
        return None
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip: expected (low, high) or None, got {clip!r}") from None
    if not lo < hi:
        raise ValueError(f"clip: expected low < high, got {clip!r}")
    return lo, hi


def _direction(g, normalize, xp):
    """The step's direction from the gradient: its sign, the gradient per row of unit L2 norm, or raw."""
    if normalize == "sign":
        return xp.sign(g)
    if normalize == "l2":
        axes = tuple(range(1, g.ndim))
        norm = xp.sqrt(xp.sum(g * g, axis=axes, keepdims=True))
        return g / xp.maximum(norm, xp.asarray(1e-12, dtype=g.dtype))
    return g


def gradient_ascent(model, x, y=None, target=None, *, steps: int = 10, step_size: float = 0.01,
                    epsilon: float = 0.1, clip=(0.0, 1.0), normalize: str | None = "sign", loss=None):
    """Adversarial inputs by iterated gradient steps on x, the weights fixed:

    untargeted (``target`` None): x <- x + step_size * d(loss(x, y))/dx, raising the loss of the
    true class ``y`` (the model's own prediction where y is None);
    targeted: x <- x - step_size * d(loss(x, target))/dx, lowering the loss of class ``target``;
    after every step x is projected into ||x - x0||_inf <= epsilon and into ``clip`` (the valid
    input range; None for none). ``normalize``: "sign" steps along sign(grad) (projected gradient
    ascent), "l2" along grad / ||grad|| per sample, None along the raw gradient (the lecture's
    x + dloss/dx, whose size shrinks as the loss is a mean over samples).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    step_size = _check_number("step_size", step_size, positive=True)
    epsilon = _check_number("epsilon", epsilon, low=0.0)
    clip = _check_clip(clip)
    if normalize not in ("sign", "l2", None):
        raise ValueError(f"normalize: expected 'sign', 'l2' or None, got {normalize!r}")
    loss = _loss_of(model, loss)
    x0 = model._check_input(x, "x")
    xp = model.backend.xp
    n = x0.shape[0]
    if target is not None:
        t, sign = _targets(model, loss, target, n, "target"), -1.0
    else:
        if y is None:
            y = _predicted_labels(model, x0)
            if not loss.sparse:
                # hard targets: a loss is flat where the target equals the model's own output
                y = (xp.reshape(xp.astype(y, x0.dtype), (-1, 1)) if model.output_shape[-1] == 1
                     else model.backend.ops.one_hot(y, model.output_shape[-1], x0.dtype))
        t, sign = _targets(model, loss, y, n, "y"), 1.0
    lo_ball, hi_ball = x0 - epsilon, x0 + epsilon
    if clip is not None:
        # the intersection of the ball and the valid range: one clamp per step does both
        lo_ball = xp.maximum(lo_ball, xp.asarray(clip[0], dtype=x0.dtype))
        hi_ball = xp.minimum(hi_ball, xp.asarray(clip[1], dtype=x0.dtype))
    x_adv = x0
    for _ in range(steps):
        _, g = _gradient(model, loss, x_adv, t)
        x_adv = x_adv + (sign * step_size) * _direction(g, normalize, xp)
        x_adv = xp.minimum(xp.maximum(x_adv, lo_ball), hi_ball)
    return x_adv


def fgsm(model, x, y=None, target=None, *, epsilon: float = 0.1, clip=(0.0, 1.0), loss=None):
    """The fast gradient sign method (Goodfellow et al. 2015), one step:
    x_adv = clip(x + epsilon * sign(d loss(x, y)/dx)), or x - epsilon * sign(...) towards ``target``."""
    epsilon = _check_number("epsilon", epsilon, positive=True)
    return gradient_ascent(model, x, y, target, steps=1, step_size=epsilon, epsilon=epsilon, clip=clip,
                           normalize="sign", loss=loss)


def _predicted_labels(model, x):
    """The class the model picks: argmax of its outputs, or output >= 1/2 for one sigmoid unit."""
    xp = model.backend.xp
    out, _ = model._chain(x, False)
    if out.shape[-1] == 1:
        threshold = 0.0 if model._fused is not None else 0.5  # logits where the sigmoid is fused
        return xp.astype(out[:, 0] >= threshold, model.backend.dtype("int64"))
    return xp.argmax(out, axis=1)


def fooling_rate(model, x, x_adv, y) -> dict:
    """Of the samples the model classifies correctly, the fraction whose class the perturbation
    changes: {"correct": count, "fooled": count, "rate": fooled / correct}."""
    be, xp = model.backend, model.backend.xp
    x = model._check_input(x, "x")
    x_adv = model._check_input(x_adv, "x_adv")
    if tuple(x.shape) != tuple(x_adv.shape):
        raise ValueError(f"x_adv: expected shape {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    y = xp.astype(be.asarray(y), be.dtype("int64"))
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} labels, got shape {tuple(y.shape)}")
    correct = _predicted_labels(model, x) == y
    fooled = xp.logical_and(correct, _predicted_labels(model, x_adv) != y)
    n_correct = int(xp.sum(xp.astype(correct, be.dtype("int64"))))
    n_fooled = int(xp.sum(xp.astype(fooled, be.dtype("int64"))))
    return {"correct": n_correct, "fooled": n_fooled, "rate": n_fooled / n_correct if n_correct else 0.0}
