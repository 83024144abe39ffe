"""Optimizers: SGD (with momentum and Nesterov), Adagrad, RMSprop, Adam and AdamW.

Each follows torch.optim's update rule and defaults, so a model with the same initial weights and
data follows PyTorch's trajectory. ``optimizer.step(params, backend)`` updates every Parameter
that has a gradient, in place, through the backend's fused ``*_update`` op; per-parameter state
(momenta, squared-gradient averages) is allocated on the first step and keyed by ``Parameter.id``,
so one optimizer serves a whole model. ``lr`` is a float or a schedule (``nnkit.schedules``),
evaluated on the host once per step with the 0-based count of steps taken.
"""

from __future__ import annotations


from nnkit import clipping as _clipping
from nnkit import schedules as _schedules
from nnkit import validation
from nnkit._config import split_config
from nnkit.backend import Backend, get_backend

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "from_config", "get"]


def _number(name: str, value, *, low=None, high=None, high_open=False) -> float:
    """``value`` as a finite float in [low, high] (or [low, high)), else an error naming it."""
    return validation.number(name, value, low=low, high=high, high_open=high_open)


def _flag(name: str, value) -> bool:
    return validation.flag(name, value)


UNIT = dict(low=0.0, high=1.0, high_open=True)  # a decay or momentum in [0, 1)


def _accepts_learning_rate(init):
    """``init`` also taking Keras's ``learning_rate=`` for ``lr=`` (one of the two, not both)."""
    import functools
    import inspect

    @functools.wraps(init)
    def wrapped(self, *args, learning_rate=None, **kwargs):
        if learning_rate is not None:
            if args or "lr" in kwargs:
                raise TypeError(f"{type(self).__name__}: pass lr or learning_rate, not both")
            kwargs["lr"] = learning_rate
        init(self, *args, **kwargs)

    signature = inspect.signature(init)
    extra = inspect.Parameter("learning_rate", inspect.Parameter.KEYWORD_ONLY, default=None)
    wrapped.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
    return wrapped


class Optimizer:
    """Base class: the learning rate, the step count and the per-parameter state.

    Subclasses name their state arrays in ``_state_names`` (in the order their update op takes
    them) and implement ``_update``. Every buffer the op takes is allocated, used or not (RMSprop's
    ``buf`` without momentum, say), so a fused kernel with the op's signature binds unchanged.

    Parameters
    ----------
    lr: the learning rate, a float >= 0 or a schedule ``lr(step) -> float``; every optimizer
        also takes it as ``learning_rate=`` (Keras's name).
    weight_decay: L2 coupling added to the gradient (g + wd W), or decoupled in AdamW.
    """

    _state_names: tuple[str, ...] = ()
    # hyperparameter -> the bounds every assignment is checked against, in the constructor or
    # later (``opt.momentum = 5`` is refused as SGD(momentum=5) is); "flag" for a bool
    _checks: dict = {"weight_decay": dict(low=0.0)}

    def __setattr__(self, name, value):
        check = type(self)._checks.get(name)
        if check == "flag":
            value = validation.flag(name, value, owner=type(self).__name__)
        elif check is not None:
            value = validation.number(name, value, owner=type(self).__name__, **check)
        object.__setattr__(self, name, value)

    clipnorm = clipvalue = global_clipnorm = None  # every subclass takes them (nnkit.clipping)

    # the name of the fused update a compiled whole step runs for exactly this class
    kernel_name: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # Keras's learning_rate= beside lr=, then the clipping arguments
            cls.__init__ = _accepts_learning_rate(cls.__init__)
        _clipping.accept_clipping_arguments(cls)

    def __init__(self, lr, weight_decay: float = 0.0):
        self.lr = lr
        self.weight_decay = _number("weight_decay", weight_decay, low=0.0)
        self.iterations = 0
        self._state: dict[int, dict] = {}
        self._backend: Backend | None = None
        # (flat buffer, its state arrays, the per-parameter state dicts that are views into them)
        self._flat_state = None
        self.state_version = 0  # changes whenever the per-parameter state arrays are replaced

    # -- learning rate ------------------------------------------------------------------------
    @property
    def lr(self):
        """The learning rate as given: a float or a schedule."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        if callable(value):
            self._lr = value
        else:
            self._lr = _number("lr", value, low=0.0)

    @property
    def learning_rate(self):
        """Keras's name for ``lr``."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.lr = value

    @property
    def current_lr(self) -> float:
        """The rate the next step uses: ``lr``, or ``lr(iterations)`` for a schedule."""
        if not callable(self._lr):
            return self._lr
        value = self._lr(self.iterations)
        try:
            return _number("lr", value, low=0.0)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"lr: the schedule {self._lr!r} gave {value!r} at step {self.iterations}: {exc}") from None

    # -- stepping -----------------------------------------------------------------------------
    def step(self, params, backend) -> None:
        """Update every Parameter in ``params`` that has a gradient, in place, on ``backend``."""
        if backend is not self._backend or backend is None:
            if backend is None:
                raise TypeError("backend: expected a Backend or a backend name, got None")
            backend = get_backend(backend)
            if self._state and self._backend is not None and backend != self._backend:
                self.to(backend)  # the state follows the parameters, e.g. after model.to("cupy")
            self._backend = backend
        lr = self._lr if not callable(self._lr) else self.current_lr
        t = self.iterations + 1  # torch counts steps from 1 (Adam's bias correction, Adagrad's decay)
        ops, states, update = backend.ops, self._state, self._update
        params = params if isinstance(params, list) else list(params)
        _clipping.clip_parameter_gradients(self, params, backend.xp)
        flat = params[0].flat if params else None
        if flat is not None and flat.holds(params):  # multi-tensor: one update over the buffer
            self._flat_update(backend, flat.value, flat.grad, self.flat_states(flat, params, backend.xp), lr, t)
            self.iterations = t
            return
        for p in params:
            g = p.grad
            if g is None:
                continue  # as torch: a parameter without a gradient is left alone
            state = states.get(p.id)
            if state is None or g.shape != p.value.shape:
                if g.shape != p.value.shape:
                    raise ValueError(
                        f"params: gradient of {p.name!r} has shape {tuple(g.shape)}, "
                        f"expected the value's shape {tuple(p.value.shape)}"
                    )
                state = states[p.id] = self._init_state(p.value, backend.xp)
            update(ops, p.value, g, state, lr, t)
        self.iterations = t

    def _init_state(self, w, xp) -> dict:
        return {name: xp.zeros_like(w) for name in self._state_names}

    @property
    def state_names(self) -> tuple:
        """The names of the per-parameter state arrays, in the order the update op takes them."""
        return self._state_names

    @property
    def fused_update(self) -> str | None:
        """The update a compiled whole step may run instead of ``step``: the kernel name of this
        exact class (a subclass may override the update, which that step would skip), else None."""
        cls = _BY_NAME.get(self.kernel_name)
        return self.kernel_name if cls is not None and type(self) is cls else None

    def state_of(self, p, xp) -> dict:
        """The state arrays of parameter ``p`` by name, made (zeros, or the initial value) on the
        first call."""
        state = self._state.get(p.id)
        if state is None:
            state = self._state[p.id] = self._init_state(p.value, xp)
        return state

    def flat_states(self, flat, params, xp) -> dict:
        """The state of ``flat``'s parameters as flat arrays, each parameter's state dict a view
        into them; (re)made, from the per-parameter arrays where they exist, when the views are
        not the current state (first step, set_state, reset, a new buffer)."""
        cached = self._flat_state
        states = self._state
        if cached is not None and cached[0] is flat \
                and all(states.get(p.id) is d for p, d in zip(params, cached[2])):
            return cached[1]
        arrays = self._init_state(flat.value, xp)
        for p in params:
            old = states.get(p.id)
            lo, hi = p._span
            views = {name: a[lo:hi].reshape(p.shape) for name, a in arrays.items()}
            if old is not None:
                for name, view in views.items():
                    view[...] = old[name]
            states[p.id] = views
        self._flat_state = (flat, arrays, [states[p.id] for p in params])
        self.state_version += 1
        return arrays

    def state_arrays(self, params) -> list:
        """[(key, array)] of every state array: the flat buffer's few when the state of
        ``params`` lives in one (a multi-tensor update made it), else each parameter's."""
        cached = self._flat_state
        flat = params[0].flat if params else None
        if cached is not None and flat is not None and cached[0] is flat and flat.holds(params) \
                and all(self._state.get(p.id) is d for p, d in zip(params, cached[2])) \
                and len(self._state) == len(params):
            return [(("flat", name), a) for name, a in cached[1].items()]
        return [((pid, name), a) for pid, state in self._state.items() for name, a in state.items()]

    def __deepcopy__(self, memo):
        import copy

        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            # a copy's per-parameter states are arrays of their own: its flat state is remade
            # (and its device scalars are made afresh from its step count)
            new.__dict__[key] = None if key in ("_flat_state", "_on_device") else copy.deepcopy(value, memo)
        return new

    def _update(self, ops, w, g, state, lr: float, t: int) -> None:
        raise NotImplementedError

    def _flat_update(self, backend, w, g, state, lr: float, t: int) -> None:
        """The update of a whole flat buffer (Adam's keeps its scalars on a device)."""
        self._update(backend.ops, w, g, state, lr, t)

    # -- a step replayed from a CUDA graph (nnkit._cupy_graph) --------------------------------
    _takes_step_count = False  # whether the update reads t from the host (Adagrad's decay)

    def replay_refusal(self, backend) -> str | None:
        """Why a captured step would replay stale host scalars of this optimizer, else None."""
        if self._takes_step_count:
            return f"{type(self).__name__}'s update takes the step count from the host"
        if callable(self._lr):
            return f"{type(self).__name__}'s scheduled learning rate is a host scalar a graph would freeze"
        return None

    def replay_begin(self, backend) -> None:
        """Before a replayed step: bring the scalars the graph reads up to date (none here)."""

    def replay_end(self) -> None:
        """After a replayed step: count it, as step() does."""
        self.iterations += 1

    def reset(self) -> None:
        """Forget every state array and the step count."""
        self._state = {}
        self._flat_state = None
        self.state_version += 1
        self.iterations = 0

    # -- state --------------------------------------------------------------------------------
    def get_state(self, param_order) -> dict:
        """NumPy copies of the state: {"iterations": 0-d int64, "i/name": array} for the i-th
        parameter of ``param_order`` that has state (e.g. "0/m", "0/v" for Adam)."""
        host = get_backend("numpy")
        out = {"iterations": host.xp.asarray(self.iterations, dtype=host.xp.int64)}
        for i, p in enumerate(param_order):
            state = self._state.get(p.id)
            if state is None:
                continue
            for name in self._state_names:
                out[f"{i}/{name}"] = self._backend.to_numpy(state[name]).copy()
        return out

    def set_state(self, state: dict, param_order, backend) -> None:
        """Restore what ``get_state`` saved, for the parameters ``param_order`` on ``backend``."""
        if not hasattr(state, "keys"):
            raise TypeError(f"state: expected a dict of arrays, got {type(state).__name__}")
        backend = get_backend(backend)
        params = list(param_order)
        if "iterations" not in state:
            raise ValueError("state: missing 'iterations'")
        iterations = _iterations(state["iterations"])
        grouped: dict[int, dict] = {}
        for key in state.keys():
            if key == "iterations":
                continue
            index, _, name = str(key).partition("/")
            if not index.isdigit() or name not in self._state_names:
                raise ValueError(
                    f"state: unexpected key {key!r}; expected 'iterations' or 'i/name' with name in "
                    f"{list(self._state_names)} for {type(self).__name__}"
                )
            i = int(index)
            if i >= len(params):
                raise ValueError(f"state: key {key!r} names parameter {i}, but param_order has {len(params)}")
            grouped.setdefault(i, {})[name] = state[key]
        new = {}
        for i, arrays in grouped.items():
            p = params[i]
            missing = [n for n in self._state_names if n not in arrays]
            if missing:
                raise ValueError(f"state: parameter {i} ({p.name!r}) lacks {missing}")
            dtype = backend.dtype_name(p.value.dtype)
            new[p.id] = {}
            for name in self._state_names:
                a = arrays[name]
                if tuple(a.shape) != tuple(p.value.shape):
                    raise ValueError(
                        f"state: '{i}/{name}' has shape {tuple(a.shape)}, expected {tuple(p.value.shape)} "
                        f"(the shape of {p.name!r})"
                    )
                new[p.id][name] = backend.asarray(a, dtype=dtype)
        self._state = new
        self._backend = backend
        self.state_version += 1
        self.iterations = iterations

    def to(self, backend) -> "Optimizer":
        """Move every state array to ``backend`` (through the host); returns self."""
        backend = get_backend(backend)
        if self._backend is not None and backend != self._backend:
            old = self._backend
            for state in self._state.values():
                for name, a in state.items():
                    state[name] = backend.asarray(old.to_numpy(a))
            self.state_version += 1
        self._backend = backend
        return self

    # -- configuration ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """{"class": ..., "lr": float or the schedule's get_config(), hyperparameters} (JSON-able)."""
        lr = self._lr
        if callable(lr):
            if not hasattr(lr, "get_config"):
                raise TypeError(
                    f"lr: the schedule {lr!r} has no get_config(); use one of nnkit.schedules to save it"
                )
            lr = lr.get_config()
        return {"class": type(self).__name__, "lr": lr, **self._args(), **_clipping.clipping_config(self)}

    def _args(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {"lr": self._lr, **self._args()}.items())
        return f"{type(self).__name__}({args})"


def _iterations(value) -> int:
    try:
        n = int(value)
        exact = not isinstance(value, (bool, str)) and float(value) == n and n >= 0
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        raise ValueError(f"state['iterations']: expected a non-negative integer, got {value!r}")
    return n


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and Nesterov momentum (torch.optim.SGD).

    Plain: W -= lr g. With weight decay g' = g + wd W replaces g.

    Momentum, torch's form: B = mu B + g' (B starts at 0), W -= lr B. The lecture's form,
    V = gamma V + alpha grad, W -= V, is the same trajectory with gamma = mu and V = alpha B while
    the rate alpha = lr is constant (under a schedule the two differ: torch rescales past steps).

    Nesterov, torch's form: B = mu B + g', W -= lr (g' + mu B). The lecture's look-ahead,
    V = gamma V + alpha grad E(W - gamma V), W -= V, evaluates the gradient at the look-ahead
    point Phi = W - gamma V; torch stores Phi itself as the parameter: Phi' = Phi - (alpha g +
    gamma V'), i.e. the same trajectory of Phi with V = alpha B (Sutskever et al. 2013).

    Parameters
    ----------
    lr: the learning rate (alpha), a float or a schedule.
    momentum: mu (the lecture's gamma), in [0, 1).
    nesterov: use Nesterov's look-ahead momentum (needs momentum > 0).
    weight_decay: adds wd W to the gradient.
    """

    _state_names = ("v",)
    _checks = {**Optimizer._checks, "momentum": UNIT, "nesterov": "flag"}
    kernel_name = "sgd"

    def __init__(self, lr=0.001, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.nesterov = _flag("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"nesterov: True needs momentum > 0, got momentum={momentum!r}")

    def _update(self, ops, w, g, state, lr, t):
        ops.sgd_update(w, g, state["v"], lr=lr, momentum=self.momentum, nesterov=self.nesterov,
                       weight_decay=self.weight_decay)

    def _args(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """Adagrad, per-feature learning rates (Duchi et al. 2011; torch.optim.Adagrad).

    g' = g + wd W; S += g'^2; W -= lr / (1 + (t - 1) lr_decay) * g' / (sqrt(S) + eps), t from 1.

    Parameters
    ----------
    lr: the learning rate, a float or a schedule.
    lr_decay: torch's built-in inverse-time decay of the rate.
    weight_decay: adds wd W to the gradient.
    eps: added to sqrt(S) so a weight that never saw a gradient does not divide by zero.
    initial_accumulator_value: the starting value of S.
    """

    _state_names = ("s",)
    _takes_step_count = True
    _checks = {**Optimizer._checks, "lr_decay": dict(low=0.0), "eps": dict(low=0.0),
               "initial_accumulator_value": dict(low=0.0)}
    kernel_name = "adagrad"

    def __init__(self, lr=0.01, lr_decay: float = 0.0, weight_decay: float = 0.0, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0):
        super().__init__(lr, weight_decay)
        self.lr_decay = _number("lr_decay", lr_decay, low=0.0)
        self.eps = _number("eps", eps, low=0.0)
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, low=0.0)

    def _init_state(self, w, xp) -> dict:
        return {"s": xp.full_like(w, self.initial_accumulator_value)}

    def _update(self, ops, w, g, state, lr, t):
        ops.adagrad_update(w, g, state["s"], lr=lr, step=t, lr_decay=self.lr_decay,
                           weight_decay=self.weight_decay, eps=self.eps)

    def _args(self) -> dict:
        return {"lr_decay": self.lr_decay, "weight_decay": self.weight_decay, "eps": self.eps,
                "initial_accumulator_value": self.initial_accumulator_value}


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; torch.optim.RMSprop).

    g' = g + wd W; S = alpha S + (1 - alpha) g'^2; D = sqrt(S) + eps, or sqrt(S - G^2) + eps when
    centered with G = alpha G + (1 - alpha) g'; W -= lr g'/D, or with momentum B = mu B + g'/D,
    W -= lr B.

    Parameters
    ----------
    lr: the learning rate, a float or a schedule.
    alpha: decay of the squared-gradient average, in [0, 1).
    eps: added to the root so the step stays finite.
    weight_decay: adds wd W to the gradient.
    momentum: mu, in [0, 1).
    centered: normalise by the gradient's estimated variance rather than its second moment.
    """

    _state_names = ("sq", "buf", "g_avg")
    _checks = {**Optimizer._checks, "alpha": UNIT, "eps": dict(low=0.0), "momentum": UNIT,
               "centered": "flag"}
    kernel_name = "rmsprop"

    def __init__(self, lr=0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(lr, weight_decay)
        self.alpha = _number("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.eps = _number("eps", eps, low=0.0)
        self.momentum = _number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.centered = _flag("centered", centered)

    def _update(self, ops, w, g, state, lr, t):
        ops.rmsprop_update(w, g, state["sq"], state["buf"], state["g_avg"], lr=lr, alpha=self.alpha,
                           eps=self.eps, weight_decay=self.weight_decay, momentum=self.momentum,
                           centered=self.centered)

    def _args(self) -> dict:
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015; torch.optim.Adam), weight decay coupled to the gradient.

    g' = g + wd W; M = b1 M + (1 - b1) g'; V = b2 V + (1 - b2) g'^2;
    W -= lr / (1 - b1^t) * M / (sqrt(V) / sqrt(1 - b2^t) + eps), t the step count from 1.

    Parameters
    ----------
    lr: the learning rate, a float or a schedule.
    beta1: decay of the gradient average M, in [0, 1).
    beta2: decay of the squared-gradient average V, in [0, 1).
    eps: added to the root so the step stays finite.
    weight_decay: adds wd W to the gradient (an L2 penalty of wd/2 sum W^2).
    """

    _state_names = ("m", "v")
    _checks = {**Optimizer._checks, "beta1": UNIT, "beta2": UNIT, "eps": dict(low=0.0)}
    kernel_name = "adam"

    def __init__(self, lr=0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = _number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = _number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = _number("eps", eps, low=0.0)
        # on a device: [backend, the scalars array (kernels' adam_state), the t and lr it holds]
        self._on_device = None

    _decoupled = False  # AdamW's decay

    def _update(self, ops, w, g, state, lr, t):
        ops.adam_update(w, g, state["m"], state["v"], lr=lr, step=t, beta1=self.beta1,
                        beta2=self.beta2, eps=self.eps, weight_decay=self.weight_decay)

    def _flat_update(self, backend, w, g, state, lr, t):
        """On a backend with a device Adam (cupy): t, lr / (1 - b1^t) and sqrt(1 - b2^t) are
        counted and combined on the device, so a step captured in a graph replays the current step
        count, not the one it was captured at; elsewhere the host's scalars as in step()."""
        update = backend.device_updates.get("adam")
        if update is None:
            return super()._flat_update(backend, w, g, state, lr, t)
        scalars = self._device_scalars(backend, lr)
        update(w, g, state["m"], state["v"], scalars, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
               weight_decay=self.weight_decay, decoupled=self._decoupled)
        self._on_device[2] = t  # the device counted the step

    def _device_scalars(self, backend, lr):
        """The device's [t, lr, ...], rewritten from the host where they differ from iterations
        and lr (a reset, set_state, a restored snapshot, a schedule); never inside a capture: the
        replayed step calls replay_begin before it launches."""
        held = self._on_device
        if held is None or held[0] is not backend:
            held = self._on_device = [backend, backend.device_updates["adam_state"](lr, self.iterations),
                                      self.iterations, lr]
            self.state_version += 1  # a new array a captured step must take up
        if held[2] != self.iterations:
            held[1][0] = float(self.iterations)
            held[2] = self.iterations
        if held[3] != lr:
            held[1][1] = float(lr)
            held[3] = lr
        return held[1]

    def replay_refusal(self, backend):
        if "adam" in backend.device_updates:
            return None  # t and lr are read on the device
        return f"{type(self).__name__}'s step count is a host scalar a graph would freeze on this backend"

    def replay_begin(self, backend) -> None:
        self._device_scalars(backend, self.current_lr)

    def replay_end(self) -> None:
        self.iterations += 1
        self._on_device[2] = self.iterations

    def _args(self) -> dict:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): decay decoupled from the gradient.

    W *= 1 - lr wd, then Adam's step on g (not on g + wd W).

    Parameters
    ----------
    lr: the learning rate, a float or a schedule.
    beta1: decay of the gradient average M, in [0, 1).
    beta2: decay of the squared-gradient average V, in [0, 1).
    eps: added to the root so the step stays finite.
    weight_decay: the decoupled decay rate (torch's default 0.01).
    """

    kernel_name = "adamw"
    _decoupled = True

    def __init__(self, lr=0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    def _update(self, ops, w, g, state, lr, t):
        ops.adamw_update(w, g, state["m"], state["v"], lr=lr, step=t, beta1=self.beta1,
                         beta2=self.beta2, eps=self.eps, weight_decay=self.weight_decay)


_BY_NAME = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def from_config(config: dict) -> Optimizer:
    """The optimizer that ``config`` (from ``get_config()``) describes, its schedule included."""
    cls, args = split_config(config, _BY_CLASS)
    if isinstance(args.get("lr"), dict):
        args["lr"] = _schedules.from_config(args["lr"])
    return cls(**args)


def get(name_or_obj) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", "adamw", "adagrad", "rmsprop"; any case; torch's
    defaults), an instance (returned as is) or a ``get_config()`` dict."""
    if isinstance(name_or_obj, Optimizer):
        return name_or_obj
    if isinstance(name_or_obj, str):
        key = name_or_obj.lower()
        if key not in _BY_NAME:
            raise ValueError(f"optimizer: unknown name {name_or_obj!r}; expected one of {sorted(_BY_NAME)}")
        return _BY_NAME[key]()
    if isinstance(name_or_obj, dict):
        return from_config(name_or_obj)
    raise TypeError(
        f"optimizer: expected a name, an Optimizer or a config dict, got {type(name_or_obj).__name__}"
    )
