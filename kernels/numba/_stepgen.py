"""Source of a training step specialised to one model: its activations, loss and optimizer only.

One @njit step that switches on activation, loss and optimizer codes at run time compiles every
branch (11.1 s for W2 on a cold cache); a step written for the model in hand compiles only what
it runs. ``load_step(spec)`` writes the generated module once to a file named by the hash of its
source and of ``_jit.py`` (Numba's disk cache is keyed on the file and does not see edits to the
functions it calls), imports it, and returns it; the compiled code is then cached
on disk like every other kernel.

spec = (activation codes per layer, has-bias flags per layer, loss name, optimizer name, number
of optimizer state arrays per parameter). The step's arguments: x, labels or target, hp, then per
layer W, dW, a, y, d[, b, db], then each parameter's state arrays in parameter order.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

from nnkit._kernels.numba import _jit as K

# f(v) and dy * f'(x) given y = f(x), as expressions; the per-op kernels' _act/_act_grad hold the
# same formulas (tests compare the compiled step with the per-layer path for every activation)
FORWARD = {
    K.STEP: "T(1.0) if v >= T(0.0) else T(0.0)",
    K.SIGMOID: "K._sigmoid(v)",
    K.TANH: "math.tanh(v)",
    K.RELU: "T(0.0) if v <= T(0.0) else v",
    K.LEAKY_RELU: "v if v > T(0.0) else T(K.LEAKY_SLOPE) * v",
    K.ELU: "v if v >= T(0.0) else math.expm1(v)",
    K.SOFTPLUS: "K._softplus(v)",
    K.GELU: "K._gelu(v)",
    K.SILU: "v * K._sigmoid(v)",
}
BACKWARD = {
    K.STEP: "T(0.0)",
    K.SIGMOID: "g * yv * (T(1.0) - yv)",
    K.TANH: "g * (T(1.0) - yv * yv)",
    K.RELU: "g if xv > T(0.0) else T(0.0)",
    K.LEAKY_RELU: "g if xv > T(0.0) else T(K.LEAKY_SLOPE) * g",
    K.ELU: "g if xv >= T(0.0) else g * (yv + T(1.0))",
    K.SOFTPLUS: "g * K._sigmoid(xv)",
    K.GELU: "K._gelu_grad(g, xv)",
    K.SILU: "g * K._sigmoid(xv) * (T(1.0) + xv * (T(1.0) - K._sigmoid(xv)))",
}
# which arguments of the state the optimizer kernel takes, and its hyperparameters from hp
OPTIMIZERS = {
    "sgd": ("K.sgd_serial", 1, "hp[0], hp[1], hp[2] != 0, hp[3]"),
    "adagrad": ("K.adagrad_serial", 1, "hp[0], hp[1], hp[2]"),
    "rmsprop": ("K.rmsprop_serial", 3, "hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6] != 0"),
    "adam": ("K.adam_serial", 2, "hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7], hp[8]"),
}


def _forward(l, code, has_bias):
    """Lines of fwd{l}(a, b, y): a += b, y = f(a), row by row while the row is in cache."""
    lines = []
    if has_bias or code != K.LINEAR:
        lines += ["for i in range(a.shape[0]):"]
    if has_bias:
        lines += ["    for j in range(a.shape[1]):", "        a[i, j] += b[j]"]
    if code == K.SOFTMAX:
        lines += ["    K._softmax_row(a, y, i)"]
    elif code != K.LINEAR:
        lines += ["    for j in range(a.shape[1]):", "        v = a[i, j]",
                  f"        y[i, j] = {FORWARD[code]}"]
    return lines or ["pass"]


def _backward(l, code, has_bias):
    """Lines of bwd{l}(a, y, d, db): d = d * f'(a) in place and db = its column sums, row by row
    in order (as bias_activation_backward_serial, so both paths round alike)."""
    lines = []
    if has_bias:
        lines += ["for j in range(db.shape[0]):", "    db[j] = T(0.0)"]
    if code == K.LINEAR and not has_bias:
        return lines or ["pass"]
    lines += ["for i in range(a.shape[0]):"]
    if code == K.SOFTMAX:
        lines += ["    K._softmax_grad_row(d, y, d, i)"]
    elif code != K.LINEAR:
        lines += ["    for j in range(a.shape[1]):",
                  "        g = d[i, j]", "        xv = a[i, j]", "        yv = y[i, j]",
                  f"        d[i, j] = {BACKWARD[code]}"]
    if has_bias:
        lines += ["    for j in range(a.shape[1]):", "        db[j] += d[i, j]"]
    return lines


def _function(name, args, body):
    return ["", "", "@K._jit", f"def {name}({', '.join(args)}):",
            "    T = a.dtype.type"] + ["    " + line for line in body]


def source(spec) -> str:
    """The Python source of the step module for ``spec`` (see the module docstring): ``fwd<l>``
    and ``bwd<l>`` per layer (the epilogues of its matrix products) and ``step``."""
    codes, biases, loss, optimizer, n_states = spec
    n = len(codes)
    kernel, n_used, hyper = OPTIMIZERS[optimizer]
    sparse = loss.startswith("sparse_")
    functions = []
    for l in range(n):
        functions += _function(f"fwd{l}", ["a", "b", "y"], _forward(l, codes[l], biases[l]))
        functions += _function(f"bwd{l}", ["a", "y", "d", "db"], _backward(l, codes[l], biases[l]))
    args = ["x", "labels" if sparse else "target", "hp"]
    params = []
    for l in range(n):
        args += [f"W{l}", f"dW{l}", f"a{l}", f"y{l}", f"d{l}"]
        params.append([(f"W{l}", f"dW{l}")])
        if biases[l]:
            args += [f"b{l}", f"db{l}"]
            params[l].append((f"b{l}", f"db{l}"))
    states = {}
    for k, (w, _) in enumerate(p for layer in params for p in layer):
        states[w] = [f"s{k}_{i}" for i in range(n_states)]
        args += states[w]
    body = []
    for l in range(n):
        b = f"b{l}" if biases[l] else f"a{l}[0, :0]"
        body += [f"K._mm({'x' if l == 0 else f'y{l - 1}'}, W{l}, a{l})", f"fwd{l}(a{l}, {b}, y{l})"]
    body += [f"loss = K.{loss}(y{n - 1}, {'labels' if sparse else 'target'}, d{n - 1})"]
    for l in range(n - 1, -1, -1):
        db = f"db{l}" if biases[l] else f"a{l}[0, :0]"
        body += [f"bwd{l}(a{l}, y{l}, d{l}, {db})",
                 f"K._mm_tn({'x' if l == 0 else f'y{l - 1}'}, d{l}, dW{l})"]
        if l > 0:
            body += [f"K._mm_nt(d{l}, W{l}, d{l - 1})"]
        # the update runs once the gradients exist and the input gradient has used the old W
        for w, g in params[l]:
            flat = [f"{a}.reshape({w}.size)" for a in [w, g] + states[w][:n_used]]
            body += [f"{kernel}({', '.join(flat)}, {hyper})"]
    body += ["return loss"]
    head = ['"""Generated by nnkit._kernels.numba._stepgen: do not edit."""', "import math", "",
            "from nnkit._kernels.numba import _jit as K"]
    step = ["", "", "@K._jit", f"def step({', '.join(args)}):"] + ["    " + line for line in body]
    return "\n".join(head + functions + step) + "\n"


def _directory() -> str:
    """Where generated modules live: under NUMBA_CACHE_DIR when set, else the user's cache."""
    from numba.core import config

    base = config.CACHE_DIR or os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    for root in (base, tempfile.gettempdir()):
        path = os.path.join(root, "nnkit-numba-steps")
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise OSError("no writable directory for the generated training steps")


def _jit_hash() -> str:
    with open(K.__file__, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


_LOADED = {}


def load_step(spec):
    """The module generated for ``spec`` (written once, then reused): @njit ``step``, ``fwd<l>``
    and ``bwd<l>``."""
    text = source(spec)
    name = "nnkit_step_" + hashlib.sha1((text + _jit_hash()).encode()).hexdigest()[:20]
    module = _LOADED.get(name)
    if module is None:
        path = os.path.join(_directory(), name + ".py")
        if not os.path.exists(path):
            # written under a temporary name and renamed: another process may read it at once, and
            # an unchanged file keeps the mtime Numba's cache index checks
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        _LOADED[name] = module
    return module
