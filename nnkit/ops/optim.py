"""Optimizer updates, each one pass over a parameter, in place, with torch.optim's rules.

Hyperparameters arrive as Python floats (a schedule's learning rate is computed on the host), so
float32 parameters stay float32. ``step`` counts from 1.
"""

from __future__ import annotations

import math


def sgd_update(w, g, v, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, xp):
    """SGD as torch.optim.SGD: g' = g + wd W; V = mu V + g' (V starts at 0, so V_1 = g');
    W -= lr (g' + mu V) with Nesterov, else W -= lr V (W -= lr g' without momentum).

    The lecture's momentum V = gamma V + alpha grad, W -= V is the same with V scaled by alpha.
    """
    if weight_decay:
        g = g + weight_decay * w
    if momentum:
        v *= momentum
        v += g
        g = g + momentum * v if nesterov else v
    w -= lr * g


def adagrad_update(w, g, s, *, lr, step, lr_decay=0.0, weight_decay=0.0, eps=1e-10, xp):
    """Adagrad: g' = g + wd W; S += g'^2; W -= lr / (1 + (t - 1) decay) g' / (sqrt(S) + eps)."""
    if weight_decay:
        g = g + weight_decay * w
    s += g * g
    clr = lr / (1.0 + (step - 1) * lr_decay)
    w -= clr * (g / (xp.sqrt(s) + eps))


def rmsprop_update(w, g, sq, buf, g_avg, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                   momentum=0.0, centered=False, xp):
    """RMSprop: S = alpha S + (1 - alpha) g'^2; D = sqrt(S - G^2) + eps when centered
    (G = alpha G + (1 - alpha) g'), else sqrt(S) + eps; with momentum B = mu B + g'/D, W -= lr B;
    else W -= lr g'/D."""
    if weight_decay:
        g = g + weight_decay * w
    sq *= alpha
    sq += (1.0 - alpha) * (g * g)
    if centered:
        g_avg *= alpha
        g_avg += (1.0 - alpha) * g
        denom = xp.sqrt(sq - g_avg * g_avg) + eps
    else:
        denom = xp.sqrt(sq) + eps
    if momentum:
        buf *= momentum
        buf += g / denom
        w -= lr * buf
    else:
        w -= lr * (g / denom)


def adam_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, xp):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam: g' = g + wd W; M = b1 M + (1 - b1) g';
    V = b2 V + (1 - b2) g'^2; W -= lr / (1 - b1^t) M / (sqrt(V) / sqrt(1 - b2^t) + eps)."""
    if weight_decay:
        g = g + weight_decay * w
    _adam_moments_step(w, g, m, v, lr, step, beta1, beta2, eps, xp)


def adamw_update(w, g, m, v, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, xp):
    """AdamW (Loshchilov & Hutter 2019) as torch.optim.AdamW: W *= 1 - lr wd, then Adam's step on g."""
    if weight_decay:
        w *= 1.0 - lr * weight_decay
    _adam_moments_step(w, g, m, v, lr, step, beta1, beta2, eps, xp)


def _adam_moments_step(w, g, m, v, lr, step, beta1, beta2, eps, xp):
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    step_size = lr / (1.0 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    w -= step_size * (m / (xp.sqrt(v) / bias_correction2_sqrt + eps))
