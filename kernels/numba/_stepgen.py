"""Source of a training step specialised to one model: its activations, loss and optimizer only.

One @njit step that switches on activation, loss and optimizer codes at run time compiles every
branch (11.1 s for W2 on a cold cache); a step written for the model in hand compiles only what
it runs. ``load_step(spec)`` writes the generated module once to a file named by the hash of its
source and of ``_jit.py`` (Numba's disk cache is keyed on the file and does not see edits to the
functions it calls), imports it, and returns it; the compiled code is then cached
on disk like every other kernel.

spec = (activation codes per layer, has-bias flags per layer, number of Dropout layers (rate > 0)
after each layer, regularized-kernel flags per layer, skips: (first, last) layer of each Residual
block, pieces per layer (0 for a Dense, k for a Maxout of k pieces), loss name, optimizer name,
number of optimizer state arrays per parameter). The step's arguments: x, labels or target, hp,
[dr: (rate, scale) per dropout, when there is one,] [rg: (l1, l2, 2 l2) per regularized kernel,
when there is one,] then per layer W, dW, a, y, d[, b, db][, i, z for a Maxout: its winning pieces
and the gradient at its pieces][, u, o per dropout after it: the uniforms, drawn by the caller, and
the dropout's output][, r, g where a block ends: the block's output (its input plus the layer's
output) and the gradient at it], then
each parameter's state arrays in parameter order. A dropout's mask is recomputed from u in the
backward pass, so it needs no buffer of its own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile

from nnkit._kernels.numba import _jit as K

# f(v) and dy * f'(x) given y = f(x): calls of the scalar pairs the per-op kernels use (the
# formulas live once, in _jit.py)
FORWARD = {code: f"K.{name}_scalar(v)" for code, name in K.SCALAR_NAMES.items()}
BACKWARD = {code: f"K.{name}_backward_scalar(g, xv, yv)" for code, name in K.SCALAR_NAMES.items()}
# which arguments of the state the optimizer kernel takes, and its hyperparameters from hp
OPTIMIZERS = {
    "sgd": ("K.sgd_serial", 1, "hp[0], hp[1], hp[2] != 0, hp[3]"),
    "adagrad": ("K.adagrad_serial", 1, "hp[0], hp[1], hp[2]"),
    "rmsprop": ("K.rmsprop_serial", 3, "hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6] != 0"),
    "adam": ("K.adam_serial", 2, "hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7], hp[8]"),
}


def _mask(k):
    """The k-th dropout's mask element at (i, j): scale where u >= rate, else 0 (dr holds
    (rate, scale) per dropout in the dtype, as the dropout kernel casts them)."""
    return f"(dr[{2 * k + 1}] if u{k}[i, j] >= dr[{2 * k}] else T(0.0))"


def _forward(l, code, has_bias, drops):
    """Lines of fwd{l}(a, b, y[, dr, u, o per dropout]): a += b, y = f(a), then each dropout's
    o = (previous output) * mask, row by row while the row is in cache."""
    lines = []
    if has_bias or code != K.LINEAR or drops:
        lines += ["for i in range(a.shape[0]):"]
    if has_bias:
        lines += ["    for j in range(a.shape[1]):", "        a[i, j] += b[j]"]
    if code == K.SOFTMAX:
        lines += ["    K._softmax_row(a, y, i)"]
    elif code != K.LINEAR:
        lines += ["    for j in range(a.shape[1]):", "        v = a[i, j]",
                  f"        y[i, j] = {FORWARD[code]}"]
    if drops:
        lines += ["    for j in range(a.shape[1]):", "        t = y[i, j]"]
        for k in drops:
            lines += [f"        t = t * {_mask(k)}", f"        o{k}[i, j] = t"]
    return lines or ["pass"]


def _backward(l, code, has_bias, drops):
    """Lines of bwd{l}(a, y, d, db[, dr, u per dropout]): d = d * masks (last dropout first) *
    f'(a) in place and db = its column sums, row by row in order (as the per-layer kernels, so
    both paths round alike)."""
    lines = []
    if has_bias:
        lines += ["for j in range(db.shape[0]):", "    db[j] = T(0.0)"]
    if code == K.LINEAR and not has_bias and not drops:
        return lines or ["pass"]
    lines += ["for i in range(a.shape[0]):"]
    masks = [f"        g = g * {_mask(k)}" for k in reversed(drops)]
    if code in (K.SOFTMAX, K.LINEAR) and drops:
        lines += ["    for j in range(a.shape[1]):", "        g = d[i, j]"] + masks \
            + ["        d[i, j] = g"]
    if code == K.SOFTMAX:
        lines += ["    K._softmax_grad_row(d, y, d, i)"]
    elif code != K.LINEAR:
        lines += ["    for j in range(a.shape[1]):", "        g = d[i, j]"] + masks + [
                  "        xv = a[i, j]", "        yv = y[i, j]",
                  f"        d[i, j] = {BACKWARD[code]}"]
    if has_bias:
        lines += ["    for j in range(a.shape[1]):", "        db[j] += d[i, j]"]
    return lines


def _forward_maxout(pieces, drops):
    """Lines of fwd{l}(a, b, y, idx[, dr, u, o per dropout]) for a Maxout layer: a += b, then per
    unit j y = the largest of its pieces a[:, j*pieces : (j+1)*pieces] and idx = the first piece
    that reaches it (np.argmax's), then the dropouts, row by row."""
    lines = ["for i in range(a.shape[0]):",
             "    for j in range(a.shape[1]):", "        a[i, j] += b[j]",
             "    for j in range(y.shape[1]):",
             f"        best = a[i, j * {pieces}]", "        arg = 0",
             f"        for k in range(1, {pieces}):",
             f"            v = a[i, j * {pieces} + k]",
             "            if v > best:", "                best = v", "                arg = k",
             "        y[i, j] = best", "        idx[i, j] = arg"]
    if drops:
        lines += ["    for j in range(y.shape[1]):", "        t = y[i, j]"]
        for k in drops:
            lines += [f"        t = t * {_mask(k)}", f"        o{k}[i, j] = t"]
    return lines


def _backward_maxout(pieces, drops):
    """Lines of bwd{l}(a, d, idx, dz, db[, dr, u per dropout]) for a Maxout layer: g = d * masks
    (last dropout first) goes to the winning piece of each unit, 0 to the others, and db = the
    column sums of dz, row by row in order."""
    masks = [f"        g = g * {_mask(k)}" for k in reversed(drops)]
    return ["for j in range(db.shape[0]):", "    db[j] = T(0.0)",
            "for i in range(d.shape[0]):",
            "    for j in range(d.shape[1]):", "        g = d[i, j]"] + masks + [
            f"        for k in range({pieces}):",
            f"            dz[i, j * {pieces} + k] = g if k == idx[i, j] else T(0.0)",
            "    for j in range(dz.shape[1]):", "        db[j] += dz[i, j]"]


def _function(name, args, body):
    return ["", "", "@K._jit", f"def {name}({', '.join(args)}):",
            "    T = a.dtype.type"] + ["    " + line for line in body]


def dropout_indices(drops):
    """Per layer, the global indices of the dropouts after it (drops: their count per layer)."""
    out, k = [], 0
    for count in drops:
        out.append(tuple(range(k, k + count)))
        k += count
    return out


class _Layout:
    """The names the generated step uses for a spec (see the module docstring)."""

    def __init__(self, spec):
        (self.codes, self.biases, self.drops, self.regs, skips, self.pieces, self.loss,
         self.optimizer, self.n_states) = spec
        self.n = len(self.codes)
        self.block_of = {last: first for first, last in skips}  # a block's last layer -> its first
        self.block_from = {first: last for first, last in skips}
        self.index = dropout_indices(self.drops)
        self.sparse = self.loss.startswith("sparse_")
        self.regularized = [l for l in range(self.n) if self.regs[l]]
        # what layer l hands the next one: its block's sum where a block ends there, else its
        # last dropout's output, else its activation
        self.own = [f"o{self.index[l][-1]}" if self.index[l] else f"y{l}" for l in range(self.n)]
        self.outs = [f"r{l}" if l in self.block_of else self.own[l] for l in range(self.n)]

    def input_of(self, l):
        return "x" if l == 0 else self.outs[l - 1]


def _layer_functions(lay):
    """fwd<l> and bwd<l> of every layer."""
    functions = []
    for l in range(lay.n):
        index = lay.index[l]
        extra_f = ["dr"] + [f"{b}{k}" for k in index for b in "uo"] if index else []
        extra_b = ["dr"] + [f"u{k}" for k in index] if index else []
        if lay.pieces[l]:
            functions += _function(f"fwd{l}", ["a", "b", "y", "idx"] + extra_f,
                                   _forward_maxout(lay.pieces[l], index))
            functions += _function(f"bwd{l}", ["a", "d", "idx", "dz", "db"] + extra_b,
                                   _backward_maxout(lay.pieces[l], index))
            continue
        functions += _function(f"fwd{l}", ["a", "b", "y"] + extra_f,
                               _forward(l, lay.codes[l], lay.biases[l], index))
        functions += _function(f"bwd{l}", ["a", "y", "d", "db"] + extra_b,
                               _backward(l, lay.codes[l], lay.biases[l], index))
    return functions


def _step_arguments(lay):
    """(the step's arguments, per layer its (parameter, gradient) names, parameter -> its state
    arrays' names)."""
    args = ["x", "labels" if lay.sparse else "target", "hp"] + (["dr"] if any(lay.drops) else []) \
        + (["rg"] if any(lay.regs) else [])
    params = []
    for l in range(lay.n):
        args += [f"W{l}", f"dW{l}", f"a{l}", f"y{l}", f"d{l}"]
        params.append([(f"W{l}", f"dW{l}")])
        if lay.biases[l]:
            args += [f"b{l}", f"db{l}"]
            params[l].append((f"b{l}", f"db{l}"))
        if lay.pieces[l]:
            args += [f"i{l}", f"z{l}"]
        args += [f"{b}{k}" for k in lay.index[l] for b in "uo"]
        if l in lay.block_of:
            args += [f"r{l}", f"g{l}"]
    states = {}
    for k, (w, _) in enumerate(p for layer in params for p in layer):
        states[w] = [f"s{k}_{i}" for i in range(lay.n_states)]
        args += states[w]
    return args, params, states


def _forward_lines(lay):
    """The forward pass, then the loss and its gradient into the last layer's d."""
    body = []
    for l in range(lay.n):
        b = f"b{l}" if lay.biases[l] else f"a{l}[0, :0]"
        extra = "".join(f", {v}" for v in (["dr"] + [f"{b}{k}" for k in lay.index[l] for b in "uo"]
                                           if lay.index[l] else []))
        maxout = f", i{l}" if lay.pieces[l] else ""
        body += [f"K._mm({lay.input_of(l)}, W{l}, a{l})",
                 f"fwd{l}(a{l}, {b}, y{l}{maxout}{extra})"]
        if l in lay.block_of:  # y = x + f(x), as Residual.forward adds them
            body += [f"K._add({lay.input_of(lay.block_of[l])}, {lay.own[l]}, r{l})"]
    n = lay.n
    return body + [f"loss = K.{lay.loss}({lay.outs[n - 1]}, {'labels' if lay.sparse else 'target'}, d{n - 1})"]


def _backward_lines(lay, params, states):
    """The backward pass, last layer first, each layer's update once its gradients exist."""
    kernel, n_used, hyper = OPTIMIZERS[lay.optimizer]
    body = []
    for l in range(lay.n - 1, -1, -1):
        if l in lay.block_of and lay.block_of[l] > 0:  # the gradient at the block's output, kept for its input
            body += [f"g{l}[:, :] = d{l}"]
        db = f"db{l}" if lay.biases[l] else f"a{l}[0, :0]"
        extra = "".join(f", {v}" for v in (["dr"] + [f"u{k}" for k in lay.index[l]]
                                           if lay.index[l] else []))
        # the gradient at the layer's products: d itself, or a Maxout's gradient at its pieces
        dz = f"z{l}" if lay.pieces[l] else f"d{l}"
        if lay.pieces[l]:
            body += [f"bwd{l}(a{l}, d{l}, i{l}, z{l}, {db}{extra})"]
        else:
            body += [f"bwd{l}(a{l}, y{l}, d{l}, {db}{extra})"]
        body += [f"K._mm_tn({lay.input_of(l)}, {dz}, dW{l})"]
        if lay.regs[l]:  # the penalty of the weights before their update, its gradient into dW
            k = 3 * lay.regularized.index(l)
            body += [f"p{l} = K.elastic_net(W{l}.reshape(W{l}.size), dW{l}.reshape(dW{l}.size), "
                     f"rg[{k}], rg[{k + 1}], rg[{k + 2}])"]
        if l > 0:
            body += [f"K._mm_nt({dz}, W{l}, d{l - 1})"]
            if l in lay.block_from:  # dx = dy + f'(x) dy through the block, as Residual.backward adds them
                body += [f"K._add(g{lay.block_from[l]}, d{l - 1}, d{l - 1})"]
        # the update runs once the gradients exist and the input gradient has used the old W
        for w, g in params[l]:
            flat = [f"{a}.reshape({w}.size)" for a in [w, g] + states[w][:n_used]]
            body += [f"{kernel}({', '.join(flat)}, {hyper})"]
    if lay.regularized:  # added as the per-layer path adds them: in layer order, then to the loss
        body += [f"loss = loss + ({' + '.join(f'p{l}' for l in lay.regularized)})"]
    return body + ["return loss"]


def source(spec) -> str:
    """The Python source of the step module for ``spec`` (see the module docstring): ``fwd<l>``
    and ``bwd<l>`` per layer (the epilogues of its matrix products) and ``step``."""
    lay = _Layout(spec)
    args, params, states = _step_arguments(lay)
    body = _forward_lines(lay) + _backward_lines(lay, params, states)
    head = ['"""Generated by nnkit._kernels.numba._stepgen: do not edit."""', "import math", "",
            "from nnkit._kernels.numba import _jit as K"]
    step = ["", "", "@K._jit", f"def step({', '.join(args)}):"] + ["    " + line for line in body]
    return "\n".join(head + _layer_functions(lay) + step) + "\n"


def environment_key() -> str:
    """The cache folder's name for this environment: nnkit's version and a hash of the interpreter
    prefix and the Python, NumPy and Numba versions, so two environments (or two nnkit versions)
    never load each other's generated steps or compiled code."""
    import numba
    import numpy

    from nnkit import __version__

    identity = "|".join([os.path.realpath(sys.prefix), sys.version, numpy.__version__, numba.__version__])
    return f"{__version__}-{hashlib.sha1(identity.encode()).hexdigest()[:12]}"


def _directory() -> str:
    """Where generated modules live: under NUMBA_CACHE_DIR when set, else the user's cache, in a
    folder of this environment's own (environment_key)."""
    from numba.core import config

    base = config.CACHE_DIR or os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    for root in (base, tempfile.gettempdir()):
        path = os.path.join(root, "nnkit-numba-steps", environment_key())
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise OSError("no writable directory for the generated training steps")


def _holds(path: str, text: str) -> bool:
    """Whether the file at ``path`` is exactly ``text`` (a stale, truncated or foreign file is not)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def _jit_hash() -> str:
    with open(K.__file__, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


_LOADED = {}


def load_step(spec):
    """The module generated for ``spec`` (written once, then reused): @njit ``step``, ``fwd<l>``
    and ``bwd<l>``."""
    return _load(source(spec))


# The step of any plain Dense stack (no Dropout, Maxout, Residual or penalty), walking a table of
# layers at run time: table[l] = (n_in, n_out, activation code, offset of W, offset of b or -1)
# into the flat parameter buffer w (gradients in g at the same offsets); a, y, d hold each
# layer's products, activations and gradients one after the other for a batch of n rows (a
# linear layer hands on its products, so its y is its a). Its layer epilogues call the scalar
# functions the per-op kernels call (K.layer_forward, K.layer_backward), so it computes what the
# per-layer path does; one module per (loss, optimizer), so a new architecture compiles nothing.
TABLE_STEP = """
@K._jit
def step(x, target, hp, table, w, g, {states}, a_buf, y_buf, d_buf, no_bias):
    n = x.shape[0]
    inp = x
    off = 0
    for l in range(table.shape[0]):
        k, m, code, wo, bo = table[l, 0], table[l, 1], table[l, 2], table[l, 3], table[l, 4]
        a = a_buf[off:off + n * m].reshape((n, m))
        y = (a_buf if code == K.LINEAR else y_buf)[off:off + n * m].reshape((n, m))
        K._mm(inp, w[wo:wo + k * m].reshape((k, m)), a)
        K.layer_forward(a, w[bo:bo + m] if bo >= 0 else no_bias, y, bo >= 0, code)
        inp = y
        off += n * m
    m = table[table.shape[0] - 1, 1]
    loss = K.{loss}(inp, target, d_buf[off - n * m:off].reshape((n, m)))
    for l in range(table.shape[0] - 1, -1, -1):
        k, m, code, wo, bo = table[l, 0], table[l, 1], table[l, 2], table[l, 3], table[l, 4]
        off -= n * m
        a = a_buf[off:off + n * m].reshape((n, m))
        y = (a_buf if code == K.LINEAR else y_buf)[off:off + n * m].reshape((n, m))
        d = d_buf[off:off + n * m].reshape((n, m))
        K.layer_backward(d, a, y, g[bo:bo + m] if bo >= 0 else no_bias, bo >= 0, code)
        inp = x if l == 0 else (a_buf if table[l - 1, 2] == K.LINEAR else y_buf)[off - n * k:off].reshape((n, k))
        K._mm_tn(inp, d, g[wo:wo + k * m].reshape((k, m)))
        if l > 0:
            K._mm_nt(d, w[wo:wo + k * m].reshape((k, m)), d_buf[off - n * k:off].reshape((n, k)))
        # the layer's update once its gradients exist and its old W is used: while they are in cache
        hi = wo + k * m if bo < 0 else bo + m
        {kernel}(w[wo:hi], g[wo:hi], {state_slices}, {hyper})
    return loss
"""


def load_table_step(loss, optimizer):
    """The table step's module for this loss op and optimizer kernel (see TABLE_STEP)."""
    kernel, n_used, hyper = OPTIMIZERS[optimizer]
    states = ", ".join(f"s{i}" for i in range(n_used))
    state_slices = ", ".join(f"s{i}[wo:hi]" for i in range(n_used))
    head = ['"""Generated by nnkit._kernels.numba._stepgen: do not edit."""',
            "from nnkit._kernels.numba import _jit as K", ""]
    return _load("\n".join(head) + TABLE_STEP.format(states=states, state_slices=state_slices, loss=loss, kernel=kernel, hyper=hyper))


def step_file(text):
    """(module name, path) of the step module of source ``text``: named by its hash and _jit.py's."""
    name = "nnkit_step_" + hashlib.sha1((text + _jit_hash()).encode()).hexdigest()[:20]
    return name, os.path.join(_directory(), name + ".py")


def _load(text):
    """The module of source ``text``, written once to its step_file."""
    name, path = step_file(text)
    module = _LOADED.get(name)
    if module is None:
        if not _holds(path, text):
            # (re)written when absent or not what this nnkit generates, so Numba's index (keyed on
            # the file's mtime) recompiles; under a temporary name and renamed, as another process
            # may read it at once, and an unchanged file keeps the mtime that index checks
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        _LOADED[name] = module
    return module
