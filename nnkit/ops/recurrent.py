"""Recurrent ops: SimpleRNN, LSTM and GRU over whole sequences, their cells, and Embedding.

Sequences are batch-major ``(N, T, F)``. Each sequence op projects the inputs of every step with
one matmul, runs the recurrence step by step (the recurrent matmul and the cell), and its backward
runs the recurrence in reverse (backpropagation through time), collecting the per-step gradients
of the pre-activations so that the weight gradients are again one matmul each. ``dhs`` is the
gradient of the loss with respect to every step's hidden state, (N, T, u), or (N, u): the last
state's alone, every earlier step's own gradient zero (a layer that outputs its last state only).
The initial state is zero. Gate layouts are Keras's: LSTM i, f, c, o; GRU z, r, h.
``bptt_steps = k`` truncates backpropagation through time as PyTorch users do by detaching the
state every k steps: the gradient of step t does not reach step t - 1 where t is a multiple of k
(the forward is unchanged).
"""

from __future__ import annotations

from nnkit.ops import activations as _act


def _flat(a, xp):
    """(N, T, F) -> (N * T, F)."""
    return xp.reshape(a, (a.shape[0] * a.shape[1], a.shape[2]))


def _param_grads(x, dz, h_prev, xp):
    """dW = X^T dZ, dU = H_prev^T dZ, db = sum dZ over steps and rows (each one matmul)."""
    dzf = _flat(dz, xp)
    return xp.matmul(_flat(x, xp).T, dzf), xp.matmul(_flat(h_prev, xp).T, dzf), xp.sum(dzf, axis=0)


def _shifted(hs, xp):
    """The previous state of every step: [0, h_0, ..., h_(T-2)]."""
    zero = xp.zeros((hs.shape[0], 1, hs.shape[2]), dtype=hs.dtype)
    return xp.concat([zero, hs[:, :-1, :]], axis=1)


def _projection_and_zero_state(x, kernel, recurrent_kernel, bias, xp):
    """(zx = x W + b for every step at once, h_(-1) = 0)."""
    h = xp.zeros((x.shape[0], recurrent_kernel.shape[0]), dtype=x.dtype)
    return xp.matmul(x, kernel) + bias, h


def _with_carry(dhs, t, steps, carry, xp):
    """The gradient reaching step t's state: its own (dhs[:, t]; from a 2-D dhs, dhs at the last
    step and zero before it) plus what flows back from t + 1 (None: nothing)."""
    if dhs.ndim == 3:
        own = dhs[:, t, :]
    elif t == steps - 1:
        own = dhs
    else:
        return xp.zeros_like(dhs) if carry is None else carry
    return own if carry is None else own + carry


def _cut(t, bptt_steps) -> bool:
    """Whether backpropagation stops between step t - 1 and step t (the state detached at t)."""
    return bool(bptt_steps) and t % bptt_steps == 0


def _dx(dz, kernel, need_dx, xp):
    """dX = dZ @ W^T for every step at once (None unless need_dx)."""
    return xp.matmul(dz, kernel.T) if need_dx else None


# -- SimpleRNN ----------------------------------------------------------------------------------
def simple_rnn_forward(x, kernel, recurrent_kernel, bias, activation, *, xp):
    """h_t = f(x_t W + h_(t-1) U + b), h_(-1) = 0; returns (hs, zs): states and pre-activations."""
    zx, h = _projection_and_zero_state(x, kernel, recurrent_kernel, bias, xp)
    hs, zs = [], []
    for t in range(x.shape[1]):
        z = zx[:, t, :] + xp.matmul(h, recurrent_kernel)
        h = _act.activation(z, activation, xp=xp)
        hs.append(h)
        zs.append(z)
    return xp.stack(hs, axis=1), xp.stack(zs, axis=1)


def simple_rnn_backward(dhs, x, hs, zs, kernel, recurrent_kernel, activation, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of simple_rnn_forward: dz_t = f'(z_t) (dh_t + dz_(t+1) U^T), the carried term cut at
    multiples of ``bptt_steps``; returns (dx, dW, dU, db)."""
    steps = x.shape[1]
    dzs = [None] * steps
    carry = None
    for t in range(steps - 1, -1, -1):
        dh = _with_carry(dhs, t, steps, carry, xp)
        dz = _act.activation_backward(dh, zs[:, t, :], hs[:, t, :], activation, xp=xp)
        dzs[t] = dz
        carry = None if _cut(t, bptt_steps) else xp.matmul(dz, recurrent_kernel.T)
    dz = xp.stack(dzs, axis=1)
    dw, du, db = _param_grads(x, dz, _shifted(hs, xp), xp)
    return _dx(dz, kernel, need_dx, xp), dw, du, db


# -- LSTM ---------------------------------------------------------------------------------------
def lstm_cell(z, c_prev, *, xp):
    """i, f, o = sigmoid(z_i, z_f, z_o), g = tanh(z_c), c = f c_prev + i g, h = o tanh(c);
    returns (h, c, gates) with gates = [i, f, g, o] of shape (N, 4u)."""
    u = c_prev.shape[1]
    i = _act.sigmoid(z[:, :u], xp=xp)
    f = _act.sigmoid(z[:, u:2 * u], xp=xp)
    g = xp.tanh(z[:, 2 * u:3 * u])
    o = _act.sigmoid(z[:, 3 * u:], xp=xp)
    c = f * c_prev + i * g
    h = o * xp.tanh(c)
    return h, c, xp.concat([i, f, g, o], axis=1)


def lstm_cell_backward(dh, dc, gates, c_prev, c, *, xp):
    """The cell's backward from dh and the carried dc: dc' = dc + dh o (1 - tanh(c)^2),
    dz = [dc' g i(1-i), dc' c_prev f(1-f), dc' i (1-g^2), dh tanh(c) o(1-o)]; returns (dz, dc' f)."""
    u = c.shape[1]
    i, f, g, o = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
    tc = xp.tanh(c)
    dct = dc + dh * o * (1.0 - tc * tc)
    dz = xp.concat([dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f),
                    dct * i * (1.0 - g * g), dh * tc * o * (1.0 - o)], axis=1)
    return dz, dct * f


def lstm_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The LSTM over a sequence: z_t = x_t W + h_(t-1) U + b, then lstm_cell; returns
    (hs, cs, gates), each (N, T, .)."""
    return _lstm_forward(x, kernel, recurrent_kernel, bias, lstm_cell, xp)


def _lstm_forward(x, kernel, recurrent_kernel, bias, cell, xp):
    """lstm_forward with the cell given (a fused kernel on a device)."""
    n, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    zx = xp.matmul(x, kernel) + bias
    h = xp.zeros((n, units), dtype=x.dtype)
    c = xp.zeros((n, units), dtype=x.dtype)
    hs, cs, gs = [], [], []
    for t in range(steps):
        h, c, g = cell(zx[:, t, :] + xp.matmul(h, recurrent_kernel), c, xp=xp)
        hs.append(h)
        cs.append(c)
        gs.append(g)
    return xp.stack(hs, axis=1), xp.stack(cs, axis=1), xp.stack(gs, axis=1)


def lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, dc_last=None,
                  *, xp):
    """BPTT of lstm_forward: dh_t = dhs_t + dz_(t+1) U^T, dc carried through the cells (starting
    from ``dc_last``, the gradient of the last cell state, or zero), both cut at multiples of
    ``bptt_steps``; returns (dx, dW, dU, db)."""
    return _lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx, lstm_cell_backward, xp,
                          bptt_steps, dc_last)


def _lstm_backward(dhs, x, hs, cs, gates, kernel, recurrent_kernel, need_dx, cell_backward, xp,
                   bptt_steps=None, dc_last=None):
    """lstm_backward with the cell's backward given."""
    n, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    zero = xp.zeros((n, units), dtype=x.dtype)
    dzs = [None] * steps
    dh_carry, dc = None, zero if dc_last is None else dc_last
    for t in range(steps - 1, -1, -1):
        dh = _with_carry(dhs, t, steps, dh_carry, xp)
        c_prev = cs[:, t - 1, :] if t > 0 else zero
        dz, dc = cell_backward(dh, dc, gates[:, t, :], c_prev, cs[:, t, :], xp=xp)
        dzs[t] = dz
        dh_carry = xp.matmul(dz, recurrent_kernel.T)
        if _cut(t, bptt_steps):
            dh_carry, dc = None, zero
    dz = xp.stack(dzs, axis=1)
    dw, du, db = _param_grads(x, dz, _shifted(hs, xp), xp)
    return _dx(dz, kernel, need_dx, xp), dw, du, db


# -- GRU (reset after the recurrent matmul, as Keras 3 and PyTorch) -------------------------------
def gru_cell(zx, zh, h_prev, *, xp):
    """z = sigmoid(zx_z + zh_z), r = sigmoid(zx_r + zh_r), hh = tanh(zx_h + r zh_h),
    h = z h_prev + (1 - z) hh, with zx = x W + b_0 and zh = h_prev U + b_1;
    returns (h, gates) with gates = [z, r, hh, zh_h] of shape (N, 4u)."""
    u = h_prev.shape[1]
    z = _act.sigmoid(zx[:, :u] + zh[:, :u], xp=xp)
    r = _act.sigmoid(zx[:, u:2 * u] + zh[:, u:2 * u], xp=xp)
    inner = zh[:, 2 * u:]
    hh = xp.tanh(zx[:, 2 * u:] + r * inner)
    h = z * h_prev + (1.0 - z) * hh
    return h, xp.concat([z, r, hh, inner], axis=1)


def gru_cell_backward(dh, gates, h_prev, *, xp):
    """The cell's backward: da_h = dh (1 - z)(1 - hh^2), da_z = dh (h_prev - hh) z(1-z),
    da_r = da_h zh_h r(1-r); returns (dzx = [da_z, da_r, da_h], dzh = [da_z, da_r, da_h r], dh z)."""
    u = h_prev.shape[1]
    z, r, hh, inner = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
    dah = dh * (1.0 - z) * (1.0 - hh * hh)
    daz = dh * (h_prev - hh) * z * (1.0 - z)
    dar = dah * inner * r * (1.0 - r)
    return xp.concat([daz, dar, dah], axis=1), xp.concat([daz, dar, dah * r], axis=1), dh * z


def gru_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """The GRU over a sequence (bias (2, 3u): input and recurrent biases); returns (hs, gates)."""
    return _gru_forward(x, kernel, recurrent_kernel, bias, gru_cell, xp)


def _gru_forward(x, kernel, recurrent_kernel, bias, cell, xp):
    """gru_forward with the cell given."""
    n, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    zx = xp.matmul(x, kernel) + bias[0, :]
    h = xp.zeros((n, units), dtype=x.dtype)
    hs, gs = [], []
    for t in range(steps):
        h, g = cell(zx[:, t, :], xp.matmul(h, recurrent_kernel) + bias[1, :], h, xp=xp)
        hs.append(h)
        gs.append(g)
    return xp.stack(hs, axis=1), xp.stack(gs, axis=1)


def gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of gru_forward: dh_(t-1) = dh_t z_t + dzh_t U^T, cut at multiples of ``bptt_steps``;
    returns (dx, dW, dU, db (2, 3u))."""
    return _gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx, gru_cell_backward, xp, bptt_steps)


def _gru_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx, cell_backward, xp, bptt_steps=None):
    """gru_backward with the cell's backward given."""
    n, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    zero = xp.zeros((n, units), dtype=x.dtype)
    dzxs, dzhs = [None] * steps, [None] * steps
    carry = None
    for t in range(steps - 1, -1, -1):
        dh = _with_carry(dhs, t, steps, carry, xp)
        h_prev = hs[:, t - 1, :] if t > 0 else zero
        dzx, dzh, direct = cell_backward(dh, gates[:, t, :], h_prev, xp=xp)
        dzxs[t], dzhs[t] = dzx, dzh
        carry = None if _cut(t, bptt_steps) else direct + xp.matmul(dzh, recurrent_kernel.T)
    dzx, dzh = xp.stack(dzxs, axis=1), xp.stack(dzhs, axis=1)
    dzxf, dzhf = _flat(dzx, xp), _flat(dzh, xp)
    dw = xp.matmul(_flat(x, xp).T, dzxf)
    du = xp.matmul(_flat(_shifted(hs, xp), xp).T, dzhf)
    db = xp.stack([xp.sum(dzxf, axis=0), xp.sum(dzhf, axis=0)], axis=0)
    return _dx(dzx, kernel, need_dx, xp), dw, du, db


# -- GRU with the reset before the recurrent matmul (Keras 2's reset_after=False, Cho et al.) -----
def gru_reset_before_forward(x, kernel, recurrent_kernel, bias, *, xp):
    """z = sigmoid(x W_z + h U_z + b_z), r = sigmoid(x W_r + h U_r + b_r),
    hh = tanh(x W_h + (r h) U_h + b_h), h_t = z h_(t-1) + (1 - z) hh, with h = h_(t-1) and one bias
    (3u,); returns (hs, gates) with gates = [z, r, hh] of shape (N, T, 3u)."""
    u = recurrent_kernel.shape[0]
    zx, h = _projection_and_zero_state(x, kernel, recurrent_kernel, bias, xp)
    hs, gs = [], []
    for t in range(x.shape[1]):
        zr = zx[:, t, :2 * u] + xp.matmul(h, recurrent_kernel[:, :2 * u])
        z = _act.sigmoid(zr[:, :u], xp=xp)
        r = _act.sigmoid(zr[:, u:], xp=xp)
        hh = xp.tanh(zx[:, t, 2 * u:] + xp.matmul(r * h, recurrent_kernel[:, 2 * u:]))
        h = z * h + (1.0 - z) * hh
        hs.append(h)
        gs.append(xp.concat([z, r, hh], axis=1))
    return xp.stack(hs, axis=1), xp.stack(gs, axis=1)


def gru_reset_before_backward(dhs, x, hs, gates, kernel, recurrent_kernel, need_dx=True, bptt_steps=None, *, xp):
    """BPTT of gru_reset_before_forward: da_h = dh (1 - z)(1 - hh^2), d(r h) = da_h U_h^T,
    da_z = dh (h - hh) z(1-z), da_r = d(r h) h r(1-r), dh_(t-1) = dh z + d(r h) r + [da_z, da_r] U_zr^T
    (cut at multiples of ``bptt_steps``); returns (dx, dW, dU, db (3u,))."""
    n, steps, _ = x.shape
    u = recurrent_kernel.shape[0]
    u_zr, u_h = recurrent_kernel[:, :2 * u], recurrent_kernel[:, 2 * u:]
    h_prev_all = _shifted(hs, xp)
    das = [None] * steps
    carry = None
    for t in range(steps - 1, -1, -1):
        dh = _with_carry(dhs, t, steps, carry, xp)
        g, h_prev = gates[:, t, :], h_prev_all[:, t, :]
        z, r, hh = g[:, :u], g[:, u:2 * u], g[:, 2 * u:]
        dah = dh * (1.0 - z) * (1.0 - hh * hh)
        drh = xp.matmul(dah, u_h.T)
        daz = dh * (h_prev - hh) * z * (1.0 - z)
        dar = drh * h_prev * r * (1.0 - r)
        das[t] = xp.concat([daz, dar, dah], axis=1)
        carry = None if _cut(t, bptt_steps) else (
            dh * z + drh * r + xp.matmul(das[t][:, :2 * u], u_zr.T))
    da = xp.stack(das, axis=1)
    daf = _flat(da, xp)
    dw = xp.matmul(_flat(x, xp).T, daf)
    r_all = gates[:, :, u:2 * u]
    du = xp.concat([xp.matmul(_flat(h_prev_all, xp).T, daf[:, :2 * u]),
                    xp.matmul(_flat(r_all * h_prev_all, xp).T, daf[:, 2 * u:])], axis=1)
    return _dx(da, kernel, need_dx, xp), dw, du, xp.sum(daf, axis=0)


# -- Embedding ----------------------------------------------------------------------------------
EMBEDDING_CHUNK = 4096  # tokens per one-hot block of the backward: bounds its memory


def embedding(tokens, table, *, xp):
    """y[n, t] = table[tokens[n, t]]: integer tokens (N, T) -> (N, T, d)."""
    n, steps = tokens.shape
    rows = xp.take(table, xp.reshape(tokens, (n * steps,)), axis=0)
    return xp.reshape(rows, (n, steps, table.shape[1]))


def embedding_backward(dy, tokens, input_dim, *, xp):
    """dtable[v] = sum of dy[n, t] over the (n, t) with tokens[n, t] = v, as one-hot^T @ dy blocks."""
    d = dy.shape[2]
    flat_tokens = xp.reshape(tokens, (-1,))
    flat_dy = xp.reshape(dy, (-1, d))
    vocab = xp.reshape(xp.arange(input_dim, dtype=flat_tokens.dtype), (1, input_dim))
    out = xp.zeros((input_dim, d), dtype=dy.dtype)
    total = flat_tokens.shape[0]
    for lo in range(0, total, EMBEDDING_CHUNK):
        hi = min(lo + EMBEDDING_CHUNK, total)
        hot = xp.astype(xp.reshape(flat_tokens[lo:hi], (-1, 1)) == vocab, dy.dtype)
        out = out + xp.matmul(hot.T, flat_dy[lo:hi, :])
    return out
