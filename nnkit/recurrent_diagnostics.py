"""Vanishing gradients through time: how much of the loss's gradient reaches each step of a sequence.

Backpropagation through time multiplies, once per step back, the recurrent Jacobian dh_t/dh_(t-1);
for a tanh RNN that is diag(1 - h_t^2) U, whose norm is mostly below 1, so the gradient of a loss
at the end of the sequence with respect to early inputs shrinks geometrically (Bengio et al. 1994,
Hochreiter 1991). The LSTM's cell carries it through c_t = f c_(t-1) + ..., scaled by the forget
gate only. ``gradient_through_time`` measures ||dE/dx_t|| at every step t in one backward pass.
"""

from __future__ import annotations

__all__ = ["gradient_through_time"]


def gradient_through_time(model, X, y) -> list[float]:
    """[||dE/dx_t|| for t = 0 .. T-1]: the norm over the batch and the features of the gradient of
    the model's compiled loss on (X, y) with respect to each step of the input sequences (N, T, F).
    One forward and backward pass; the weights do not change (each Parameter.grad is overwritten)."""
    model._require_compiled("gradient_through_time")
    X = model._check_input(X, "X")
    if X.ndim != 3:
        raise ValueError(f"gradient_through_time: X must be sequences (n, timesteps, features), got shape "
                         f"{tuple(X.shape)}")
    y = model._check_target(y, X.shape[0], "y")
    model.zero_grad()
    out, backward = model._chain(X, True)
    _, dout = model._loss_and_grad(out, y)
    dx = backward(dout, True)
    xp = model.backend.xp
    per_step = xp.sqrt(xp.sum(dx * dx, axis=(0, 2)))
    return [float(v) for v in model.backend.to_numpy(per_step)]
