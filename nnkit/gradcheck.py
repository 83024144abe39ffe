"""check_gradients: backpropagation's gradients against central differences, in float64."""

from __future__ import annotations

import math

__all__ = ["check_gradients"]


def _relative_error(analytic, numeric, xp) -> float:
    """||a - n|| / max(||a|| + ||n||, 1e-12) over the flattened arrays."""
    diff = float(xp.linalg.vector_norm(analytic - numeric))
    scale = float(xp.linalg.vector_norm(analytic)) + float(xp.linalg.vector_norm(numeric))
    return diff / max(scale, 1e-12)


def check_gradients(model, X, y, loss=None, eps: float = 1e-6, max_entries: int | None = 200,
                    seed: int = 0, return_details: bool = False):
    """The largest relative error, over every parameter and the input, between backpropagation's
    gradient of the loss and its central difference (f(w + eps) - f(w - eps)) / (2 eps).

    The check runs on a float64 copy of ``model`` on the same backend, in training mode with one
    fixed dropout mask, through the same (fused) loss path fit uses, with the regularizers'
    penalties included. ``max_entries`` caps the entries perturbed per array (a seeded sample);
    None perturbs every entry.
    """
    from nnkit import losses as _losses
    from nnkit.backend import host_rng
    from nnkit.layers import Sequential, layer_from_config

    if loss is None:
        loss = model.loss
    if loss is None:
        raise ValueError("check_gradients: pass a loss or compile the model first")
    loss = _losses.get(loss)
    if not model.built:
        model.build(tuple(getattr(X, "shape", (0, 0))[1:]))
    be = model.backend
    xp = be.xp
    clone = Sequential([layer_from_config(spec) for spec in model.get_config()["layers"]],
                       backend=be, dtype="float64")
    clone.build(model.input_shape)
    clone.set_weights(model.get_weights())
    clone.loss = loss
    clone._set_fusion()
    X64 = clone._check_input(X, "X")
    y64 = clone._check_target(y, X64.shape[0], "y")
    params = clone.parameters()
    mask_seed = int(host_rng(seed).integers(2**31))

    clone._set_stream(be.generator(mask_seed))
    _, _, dx = clone._step(X64, y64, wrt_input=True)
    params = [p for p in params if p.grad is not None]  # moving statistics: no gradient to check
    analytic = [(p.name, p.value, p.grad) for p in params]
    rng = host_rng(seed)
    errors = {}

    def numeric_gradient(array, setter):
        flat_size = math.prod(array.shape)
        if max_entries is None or flat_size <= max_entries:
            picks = range(flat_size)
        else:
            picks = sorted(rng.choice(flat_size, size=max_entries, replace=False).tolist())
        host = be.to_numpy(array).astype("float64").reshape(-1)
        num = host * 0.0
        chosen = host * 0.0
        for i in picks:
            old = host[i]
            host[i] = old + eps
            setter(be.asarray(host.reshape(array.shape)))
            f_plus = objective_value()
            host[i] = old - eps
            setter(be.asarray(host.reshape(array.shape)))
            f_minus = objective_value()
            host[i] = old
            num[i] = (f_plus - f_minus) / (2 * eps)
            chosen[i] = 1.0
        setter(be.asarray(host.reshape(array.shape)))
        return num, chosen

    state = {"x": X64}

    def objective_value():
        clone._set_stream(be.generator(mask_seed))  # the same dropout mask as the analytic gradient's
        return float(clone._loss(state["x"], y64, training=True))

    for (name, value, grad), p in zip(analytic, params):
        def set_param(v, p=p):
            p.value = v
        num, chosen = numeric_gradient(value, set_param)
        g = be.to_numpy(grad).reshape(-1) * chosen
        errors[name] = _relative_error(xp.asarray(be.asarray(g)), xp.asarray(be.asarray(num)), xp)

    def set_x(v):
        state["x"] = v
    num, chosen = numeric_gradient(X64, set_x)
    g = be.to_numpy(dx).reshape(-1) * chosen
    errors["input"] = _relative_error(be.asarray(g), be.asarray(num), xp)
    worst = max(errors.values())
    return (worst, errors) if return_details else worst
