"""Direct-loop references of convolution, pooling and batch normalization (channels-last),
written independently of nnkit.ops: TensorFlow's padding rule, loops over output pixels and taps."""

import math

import numpy as np


def tf_pads(size, k, stride, dilation, padding):
    """(out, before, after) by TensorFlow's documented rule."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        return math.floor((size - k_eff) / stride) + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2, total - total // 2


def _padded(x, k, s, d, padding, fill=0.0):
    n, h, w, c = x.shape
    ho, t, b = tf_pads(h, k[0], s[0], d[0], padding)
    wo, l, r = tf_pads(w, k[1], s[1], d[1], padding)
    xp = np.full((n, h + t + b, w + l + r, c), fill)
    xp[:, t:t + h, l:l + w] = x
    return xp, (ho, wo), (t, l)


def conv(x, K, bias, s, d, padding):
    kh, kw, _, f = K.shape
    xp, (ho, wo), _ = _padded(x, (kh, kw), s, d, padding)
    y = np.zeros((x.shape[0], ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    y[:, i, j] += xp[:, i * s[0] + a * d[0], j * s[1] + b * d[1]] @ K[a, b]
    return y + (0 if bias is None else bias)


def conv_backward(dy, x, K, s, d, padding):
    """(dx, dK, db)."""
    kh, kw, _, _ = K.shape
    xp, (ho, wo), (t, l) = _padded(x, (kh, kw), s, d, padding)
    dxp, dK = np.zeros_like(xp), np.zeros_like(K)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * s[0] + a * d[0], j * s[1] + b * d[1]
                    dxp[:, r, c] += dy[:, i, j] @ K[a, b].T
                    dK[a, b] += xp[:, r, c].T @ dy[:, i, j]
    h, w = x.shape[1:3]
    return dxp[:, t:t + h, l:l + w], dK, dy.sum(axis=(0, 1, 2))


def pool(x, k, s, padding, kind):
    """(y, dy -> dx) of max or average pooling (average over the real pixels only)."""
    n, h, w, c = x.shape
    xp, (ho, wo), (t, l) = _padded(x, k, s, (1, 1), padding, fill=np.nan)
    y = np.zeros((n, ho, wo, c))
    cells = {}
    for i in range(ho):
        for j in range(wo):
            win = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            if kind == "max":
                y[:, i, j] = np.nanmax(win, axis=(1, 2))
            else:
                y[:, i, j] = np.nanmean(win, axis=(1, 2))
            cells[i, j] = win

    def backward(dy):
        dxp = np.zeros(xp.shape)
        for (i, j), win in cells.items():
            sl = (slice(None), slice(i * s[0], i * s[0] + k[0]), slice(j * s[1], j * s[1] + k[1]))
            if kind == "max":
                for m in range(n):
                    for ch in range(c):
                        flat = np.where(np.isnan(win[m, :, :, ch]), -np.inf, win[m, :, :, ch]).ravel()
                        a, b = divmod(int(np.argmax(flat)), win.shape[2])
                        dxp[m, i * s[0] + a, j * s[1] + b, ch] += dy[m, i, j, ch]
            else:
                real = ~np.isnan(win)
                dxp[sl] += real * (dy[:, i, j] / real.sum(axis=(1, 2)))[:, None, None, :]
        return dxp[:, t:t + h, l:l + w]

    return y, backward


def batch_norm(x, gamma, beta, eps):
    """(y, dy -> (dx, dgamma, dbeta), mean, biased var) over every axis but the last, by loops
    over the features."""
    c = x.shape[-1]
    x2 = x.reshape(-1, c)
    m = x2.shape[0]
    mean = np.array([sum(x2[:, k]) / m for k in range(c)])
    var = np.array([sum((x2[:, k] - mean[k]) ** 2) / m for k in range(c)])
    xhat = (x2 - mean) / np.sqrt(var + eps)
    y = (gamma * xhat + beta).reshape(x.shape)

    def backward(dy):
        dy2 = dy.reshape(-1, c)
        dxhat = dy2 * gamma
        dvar = (dxhat * (x2 - mean) * -0.5 * (var + eps) ** -1.5).sum(axis=0)
        dmean = (-dxhat / np.sqrt(var + eps)).sum(axis=0) + dvar * (-2.0 * (x2 - mean)).mean(axis=0)
        dx = dxhat / np.sqrt(var + eps) + dvar * 2.0 * (x2 - mean) / m + dmean / m
        return dx.reshape(x.shape), (dy2 * xhat).sum(axis=0), dy2.sum(axis=0)

    return y, backward, mean, var
