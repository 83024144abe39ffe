"""Declare-and-check (chainer's pattern): an op case says how to make its inputs, what the
result should be and how its gradient is taken; the checks in test_op_cases.py run every case
against its reference, along a random direction for the backward, on every kernel table and for
dtype preservation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class OpCase:
    """One op on one kind of input.

    op: the op's name in nnkit.ops.GENERIC_OPS.
    make: (rng, dtype) -> (args, kwargs) on the host; float arrays in ``dtype``.
    reference: (*args, **kwargs) -> the expected primary result, in float64, written without nnkit.
    primary: the op's result -> the array the reference gives (the op's first output, say).
    vjp: (ops, args, kwargs, result, dy) -> the gradients of sum(primary * dy) with respect to the
        ``wrt`` arguments, by the op's backward; None for an op without one.
    wrt: the differentiable arguments, by position.
    mutates: the arguments an in-place op updates (compared instead of its return value).
    """

    name: str
    op: str
    make: Callable
    reference: Callable
    primary: Callable = staticmethod(lambda result: result)
    vjp: Callable | None = None
    wrt: tuple = ()
    mutates: tuple = field(default=())

    def __repr__(self):
        return self.name


def to_backend(backend, args):
    """The args as arrays of ``backend`` (copies), scalars and strings left as they are."""
    return [backend.asarray(np.array(a, copy=True)) if isinstance(a, np.ndarray) else a for a in args]


def host_outputs(backend, case, args, result):
    """The arrays an op's run produced, as NumPy: the mutated args, else its outputs flattened."""
    if case.mutates:
        return [backend.to_numpy(args[i]) for i in case.mutates]
    outputs = result if isinstance(result, tuple) else (result,)
    return [backend.to_numpy(o) for o in outputs if o is not None]


def run(backend, case, args, kwargs, generic=False):
    """(backend args, result) of the case's op on ``backend`` (its kernel or, with ``generic``,
    the generic op bound to the backend's namespace)."""
    from nnkit.ops import GENERIC_OPS

    dev = to_backend(backend, args)
    fn = GENERIC_OPS[case.op] if generic else getattr(backend.ops, case.op).func
    return dev, fn(*dev, **kwargs, xp=backend.xp)


def directional_error(case, ops, args, kwargs, rng, eps=1e-6) -> float:
    """|analytic - numeric| / max(|analytic| + |numeric|, 1e-12) of the derivative of
    L = sum(primary(op(args)) * dy) along a random unit direction v over the ``wrt`` arguments
    (chainer's check_backward: two evaluations instead of two per entry)."""
    fn = getattr(ops, case.op)
    result = fn(*args, **kwargs)
    dy = rng.normal(size=np.shape(case.primary(result)))
    grads = case.vjp(ops, args, kwargs, result, dy)
    directions = [rng.normal(size=np.shape(args[i])) for i in case.wrt]
    norm = np.sqrt(sum(float((v * v).sum()) for v in directions))
    directions = [v / norm for v in directions]
    analytic = sum(float((np.asarray(g) * v).sum()) for g, v in zip(grads, directions))

    def objective(sign):
        moved = list(args)
        for i, v in zip(case.wrt, directions):
            moved[i] = args[i] + sign * eps * v
        return float((np.asarray(case.primary(fn(*moved, **kwargs))) * dy).sum())

    numeric = (objective(1.0) - objective(-1.0)) / (2 * eps)
    return abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-12)


# -- optimizer cases ------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerCase:
    """One optimizer configuration and the checks that run it (test_optimizers.py,
    test_numba_train_step.py).

    name: the case's id; cls: the class's name in nnkit.optimizers (and torch.optim's, which takes
    the same arguments but beta1/beta2 as betas); kwargs: its arguments; schedule: () -> the
    schedule passed as lr (None: kwargs say lr).
    first_steps: (w after step 1, w after step 2) from w = 1 with g = 0.5 at every step, derived by
        hand in the comment beside the case (a function computing them for a longer derivation).
    ten_steps: ten steps match the NumPy reference of torch's rule (reference_trajectory) and
        torch.optim itself.
    keeps_dtype: one step keeps the parameter and its state in the dtype, updated in place.
    resumes: the saved state resumes identically on a restored optimizer.
    trains: the numba backend's compiled steps train to the per-layer path's weights with it.
    """

    name: str
    cls: str
    kwargs: dict = field(default_factory=dict)
    schedule: Callable | None = None
    first_steps: tuple | Callable | None = None
    ten_steps: bool = False
    keeps_dtype: bool = False
    resumes: bool = False
    trains: bool = False

    def make(self):
        """A fresh optimizer of this case."""
        from nnkit import optimizers

        extra = {} if self.schedule is None else {"lr": self.schedule()}
        return getattr(optimizers, self.cls)(**self.kwargs, **extra)

    def __repr__(self):
        return self.name


def naive_sgd(w, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """The lecture's form: V = gamma V + alpha grad, W -= V; with Nesterov the gradient is taken at
    the look-ahead point Phi = W - gamma V, which is what the optimizer stores as its parameter."""
    w, v, out = w.copy(), np.zeros_like(w), []
    for g in grads:
        phi = w - momentum * v if nesterov else w
        g = g + weight_decay * phi
        v = momentum * v + lr * g
        w = w - v
        out.append(w - momentum * v if nesterov else w)
    return np.array(out)


def naive_adagrad(w, grads, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, initial_accumulator_value=0.0):
    w, s, out = w.copy(), np.full_like(w, initial_accumulator_value), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * w
        s = s + g**2
        w = w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        out.append(w)
    return np.array(out)


def naive_rmsprop(w, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    w, sq, buf, avg, out = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w), []
    for g in grads:
        g = g + weight_decay * w
        sq = alpha * sq + (1 - alpha) * g**2
        if centered:
            avg = alpha * avg + (1 - alpha) * g
            denom = np.sqrt(sq - avg**2) + eps
        else:
            denom = np.sqrt(sq) + eps
        if momentum:
            buf = momentum * buf + g / denom
            w = w - lr * buf
        else:
            w = w - lr * g / denom
        out.append(w)
    return np.array(out)


def naive_adam(w, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    """Adam with torch's eps placement: W -= lr M_hat / (sqrt(V_hat) + eps)."""
    w, m, v, out = w.copy(), np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return np.array(out)


def reference_trajectory(case, w0, grads):
    """The case's trajectory from w0 by the NumPy reference of torch's rule."""
    kw = dict(case.kwargs)
    if case.cls == "SGD":
        return naive_sgd(w0, grads, **kw)
    if case.cls == "Adagrad":
        return naive_adagrad(w0, grads, **kw)
    if case.cls == "RMSprop":
        return naive_rmsprop(w0, grads, **kw)
    if case.cls == "AdamW":
        kw.setdefault("weight_decay", 0.01)
        return naive_adam(w0, grads, decoupled=True, **kw)
    return naive_adam(w0, grads, **kw)


def torch_trajectory(torch, case, w0, grads):
    """The case's trajectory from w0 by torch.optim (float64)."""
    kw = dict(case.kwargs)
    if "beta1" in kw or "beta2" in kw:
        kw["betas"] = (kw.pop("beta1", 0.9), kw.pop("beta2", 0.999))
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, case.cls)([w], **kw)
    out = []
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(w.detach().numpy().copy())
    return np.array(out)


def _adam_wd_first_steps():
    """Adam(lr=0.1, weight_decay=0.1)'s first two steps by hand (see its case)."""
    w1 = 1 - 0.1 * 0.6 / (0.6 + 1e-8)
    g2 = 0.5 + 0.1 * w1
    m2 = 0.9 * 0.06 + 0.1 * g2
    v2 = 0.999 * 0.00036 + 0.001 * g2 * g2
    w2 = w1 - 0.1 * (m2 / 0.19) / ((v2 / 0.001999) ** 0.5 + 1e-8)
    assert abs(w2 - 0.8000473) < 1e-6  # the hand estimate in the case's comment
    return w1, w2


def _schedule(name, *args, **kwargs):
    def make():
        from nnkit import schedules

        return getattr(schedules, name)(*args, **kwargs)
    return make


_C = OptimizerCase
# Every optimizer configuration the optimizer checks run; first steps from w = 1, g = 0.5.
OPTIMIZER_CASES = [
    # W -= lr g: 1 - 0.1*0.5 = 0.95; 0.95 - 0.05 = 0.90
    _C("sgd", "SGD", dict(lr=0.1), first_steps=(0.95, 0.90), trains=True),
    # B1 = 0.5, W1 = 1 - 0.05 = 0.95; B2 = 0.9*0.5 + 0.5 = 0.95, W2 = 0.95 - 0.095 = 0.855
    _C("sgd-momentum", "SGD", dict(lr=0.1, momentum=0.9), first_steps=(0.95, 0.855), keeps_dtype=True),
    # B1 = 0.5, W1 = 1 - 0.1*(0.5 + 0.9*0.5) = 0.905; B2 = 0.95, W2 = 0.905 - 0.1*(0.5 + 0.855) = 0.7695
    _C("sgd-nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True), first_steps=(0.905, 0.7695)),
    # g' = 0.5 + 0.1*1 = 0.6, W1 = 0.94; g' = 0.5 + 0.094 = 0.594, W2 = 0.94 - 0.0594 = 0.8806
    _C("sgd-wd", "SGD", dict(lr=0.1, weight_decay=0.1), first_steps=(0.94, 0.8806)),
    # S1 = 0.25, W1 = 1 - 0.1*0.5/(0.5 + 1e-10); S2 = 0.5, W2 = W1 - 0.1*0.5/(sqrt(0.5) + 1e-10)
    _C("adagrad", "Adagrad", dict(lr=0.1), ten_steps=True,
       first_steps=(1 - 0.05 / (0.5 + 1e-10), 1 - 0.05 / (0.5 + 1e-10) - 0.05 / (0.5**0.5 + 1e-10))),
    # step 2's rate is 0.1/(1 + 1*0.5) = 0.1/1.5: W2 = W1 - (0.1/1.5)*0.5/sqrt(0.5) ~ W1 - 0.0471405
    _C("adagrad-lr_decay", "Adagrad", dict(lr=0.1, lr_decay=0.5),
       first_steps=(1 - 0.05 / (0.5 + 1e-10), 1 - 0.05 / (0.5 + 1e-10) - (0.1 / 1.5) * 0.5 / (0.5**0.5 + 1e-10))),
    # S0 = 0.75: S1 = 1, W1 = 1 - 0.05/(1 + 1e-10); S2 = 1.25, W2 = W1 - 0.05/(sqrt(1.25) + 1e-10)
    _C("adagrad-initial", "Adagrad", dict(lr=0.1, initial_accumulator_value=0.75),
       first_steps=(1 - 0.05 / (1 + 1e-10), 1 - 0.05 / (1 + 1e-10) - 0.05 / (1.25**0.5 + 1e-10))),
    # S1 = 0.01*0.25 = 0.0025, W1 = 1 - 0.01*0.5/(0.05 + 1e-8);
    # S2 = 0.99*0.0025 + 0.0025 = 0.004975, W2 = W1 - 0.005/(sqrt(0.004975) + 1e-8) ~ W1 - 0.0708881
    _C("rmsprop", "RMSprop", dict(lr=0.01), ten_steps=True,
       first_steps=(1 - 0.005 / (0.05 + 1e-8), 1 - 0.005 / (0.05 + 1e-8) - 0.005 / (0.004975**0.5 + 1e-8))),
    # G1 = 0.005, D1 = sqrt(0.0025 - 0.000025) + 1e-8; G2 = 0.99*0.005 + 0.005 = 0.00995,
    # D2 = sqrt(0.004975 - 0.00995^2) + 1e-8
    _C("rmsprop-centered", "RMSprop", dict(lr=0.01, centered=True), ten_steps=True,
       first_steps=(1 - 0.005 / (0.002475**0.5 + 1e-8),
                    1 - 0.005 / (0.002475**0.5 + 1e-8) - 0.005 / ((0.004975 - 0.00995**2) ** 0.5 + 1e-8))),
    # B1 = 0.5/D1 ~ 10, W1 = 1 - 0.01 B1; B2 = 0.9 B1 + 0.5/D2, W2 = W1 - 0.01 B2 ~ 0.7391119
    _C("rmsprop-momentum", "RMSprop", dict(lr=0.01, momentum=0.9), ten_steps=True,
       first_steps=(1 - 0.01 * 0.5 / (0.05 + 1e-8),
                    1 - 0.01 * 0.5 / (0.05 + 1e-8)
                    - 0.01 * (0.9 * 0.5 / (0.05 + 1e-8) + 0.5 / (0.004975**0.5 + 1e-8)))),
    # constant g: M_hat = 0.5, V_hat = 0.25 at every step, so each step is lr*0.5/(0.5 + 1e-8)
    _C("adam", "Adam", dict(lr=0.1), first_steps=(1 - 0.05 / (0.5 + 1e-8), 1 - 0.1 / (0.5 + 1e-8))),
    # g' = 0.6: M_hat = 0.6, V_hat = 0.36, W1 = 1 - 0.1*0.6/(0.6 + 1e-8);
    # g' = 0.5 + 0.1 W1 ~ 0.59: M2 = 0.9*0.06 + 0.1*g', V2 = 0.999*0.00036 + 0.001 g'^2,
    # W2 = W1 - 0.1 (M2/0.19) / (sqrt(V2/0.001999) + 1e-8) ~ 0.8000473
    _C("adam-wd", "Adam", dict(lr=0.1, weight_decay=0.1), first_steps=_adam_wd_first_steps),
    # W *= 1 - 0.1*0.1 = 0.99 before each Adam step of 0.1*0.5/(0.5 + 1e-8):
    # W1 = 0.99 - 0.05/(0.5 + 1e-8); W2 = 0.99 W1 - 0.05/(0.5 + 1e-8)
    _C("adamw", "AdamW", dict(lr=0.1, weight_decay=0.1),
       first_steps=(0.99 - 0.05 / (0.5 + 1e-8), 0.99 * (0.99 - 0.05 / (0.5 + 1e-8)) - 0.05 / (0.5 + 1e-8))),
    # ten steps against the NumPy references and torch.optim
    _C("SGD-lr=0.05", "SGD", dict(lr=0.05), ten_steps=True),
    _C("SGD-lr=0.05-momentum=0.9", "SGD", dict(lr=0.05, momentum=0.9), ten_steps=True, trains=True),
    _C("SGD-lr=0.05-momentum=0.9-nesterov=True", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True), ten_steps=True),
    _C("SGD-lr=0.05-weight_decay=0.1", "SGD", dict(lr=0.05, weight_decay=0.1), ten_steps=True),
    _C("SGD-lr=0.05-momentum=0.5-nesterov=True-weight_decay=0.01", "SGD",
       dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.01), ten_steps=True),
    _C("Adagrad-lr=0.1-lr_decay=0.1", "Adagrad", dict(lr=0.1, lr_decay=0.1), ten_steps=True),
    _C("Adagrad-lr=0.1-weight_decay=0.1-initial_accumulator_value=0.5", "Adagrad",
       dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5), ten_steps=True),
    _C("Adagrad-lr=0.1-eps=0.001", "Adagrad", dict(lr=0.1, eps=1e-3), ten_steps=True),
    _C("RMSprop-lr=0.01-alpha=0.9-centered=True-momentum=0.5-weight_decay=0.1", "RMSprop",
       dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1), ten_steps=True),
    _C("Adam-lr=0.01", "Adam", dict(lr=0.01), ten_steps=True),
    _C("Adam-lr=0.01-weight_decay=0.1", "Adam", dict(lr=0.01, weight_decay=0.1), ten_steps=True),
    _C("Adam-lr=0.01-beta1=0.5-beta2=0.9-eps=1e-06", "Adam", dict(lr=0.01, beta1=0.5, beta2=0.9, eps=1e-6),
       ten_steps=True),
    _C("AdamW-lr=0.01", "AdamW", dict(lr=0.01), ten_steps=True, resumes=True),
    _C("AdamW-lr=0.01-weight_decay=0.1-beta1=0.0", "AdamW", dict(lr=0.01, weight_decay=0.1, beta1=0.0),
       ten_steps=True),
    # defaults
    _C("Adagrad-defaults", "Adagrad", keeps_dtype=True),
    _C("RMSprop-defaults-centered", "RMSprop", dict(centered=True), keeps_dtype=True),
    _C("Adam-defaults", "Adam", keeps_dtype=True),
    _C("AdamW-defaults", "AdamW", keeps_dtype=True),
    # schedules and the rest of the state
    _C("sgd-schedule-nesterov", "SGD", dict(momentum=0.9, nesterov=True),
       schedule=_schedule("ExponentialDecay", 0.05, 0.9), resumes=True),
    _C("adagrad-lr_decay=0.05", "Adagrad", dict(lr=0.1, lr_decay=0.05), resumes=True),
    _C("rmsprop-centered-momentum", "RMSprop", dict(lr=0.01, centered=True, momentum=0.5), resumes=True, trains=True),
    _C("adam-cosine-warmup", "Adam", schedule=_schedule("CosineDecay", 0.0, 6, warmup_steps=2, warmup_target=0.01),
       resumes=True),
    # the compiled training steps
    _C("nesterov-wd", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), trains=True),
    _C("adagrad-decay-wd", "Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01), trains=True),
    _C("adam-wd=0.01", "Adam", dict(lr=0.01, weight_decay=0.01), trains=True),
    _C("adamw-wd=0.1", "AdamW", dict(lr=0.01, weight_decay=0.1), trains=True),
    _C("adam-schedule", "Adam", schedule=_schedule("ExponentialDecay", 0.02, 0.5, 2), trains=True),
]


def optimizer_cases(role):
    """The optimizer cases whose ``role`` (a field: first_steps, ten_steps, ...) is set."""
    return [c for c in OPTIMIZER_CASES if getattr(c, role)]
