"""Conv2D and max pooling on the numpy backend, every large array kept across steps (_scratch).

Conv2D: the patch matrix and the products in kept arrays (_host_conv), bias + relu in place,
relu's backward as one masked product dy [y > 0] with blocked column sums (as the numba kernel: a
non-finite dy where y <= 0 gives NaN, not 0), the patches' adjoint accumulated in place. Max
pooling: y and the winning tap in one running-maximum sweep over the taps; the backward writes
each tap's dy [idx == t] straight into its view of dx.

On W5 (batch 64) the generic ops allocate every large array afresh; inside a training step glibc
hands those back to the system and each step took about 4,200 minor faults, 12 ms of a 45 ms step
(33 ms with glibc's trimming off). np.where(y > 0, dy, 0) on relu's random mask cost a branch
miss per element: 6.1 ms on the first layer's (43264, 32) against 0.44 ms for dy [y > 0].
"""

from __future__ import annotations

import math

import numpy as np

from nnkit._kernels import _host_conv as _host
from nnkit._kernels import _scratch
from nnkit.ops import activations as _act
from nnkit.ops import conv as _conv
from nnkit.ops import pooling as _pool
from nnkit.ops.conv import _taps
from nnkit.ops.pooling import _disjoint
from nnkit.ops.pooling import _taps as _padded_taps


def _bias_relu(z, bias, has_bias, relu):
    """z = f(z + b) in place (f: relu or the identity; relu keeps a NaN, as np.maximum)."""
    if has_bias:
        np.add(z, bias, out=z)
    if relu:
        np.maximum(z, 0.0, out=z)


def _column_sums(a, out):
    """out = the column sums of a 2-D ``a``, over blocks of k rows first (numpy reduces a long
    axis 0 of few columns 4x slower than a short one of many: 0.63 against 0.16 ms on (43264, 32))."""
    k = next(k for k in (16, 8, 4, 2, 1) if a.shape[0] % k == 0)
    np.add.reduce(np.add.reduce(a.reshape(-1, k * a.shape[1]), axis=0).reshape(k, -1), axis=0, out=out)


def _relu_backward(dy, y, da, db):
    """da = dy [y > 0] (relu's a > 0 is y > 0), db = its column sums."""
    np.multiply(dy, np.greater(y, 0.0, out=_scratch.empty(y.shape, np.bool_)), out=da)
    _column_sums(da, db)


def conv_patches_backward(dp, x_shape, window, pads, *, xp):
    """The adjoint of conv_patches: dx[n, y, x, k] = sum of dP over the patch entries read from
    pixel (y, x) (entries read from the padding are dropped)."""
    if not _host.is_image(dp):
        return _conv.conv_patches_backward(dp, x_shape, window, pads, xp=xp)
    kh, kw = window[0], window[1]
    n, h, w, c = x_shape
    top, bottom, left, right = pads
    ho, wo = dp.shape[1], dp.shape[2]
    d5 = dp.reshape(n, ho, wo, kh * kw, c)
    dpad = _scratch.empty((n, h + top + bottom, w + left + right, c), dp.dtype)
    dpad.fill(0)
    for t, tap in enumerate(_taps(window, (ho, wo))):
        np.add(dpad[tap], d5[:, :, :, t, :], out=dpad[tap])
    return dpad[:, top:top + h, left:left + w, :]


def _input_gradient(da, kernel, dy_shape, x_shape, window, pads):
    """dx = P^T(da K^T) a tap at a time: tap t = (a, b) adds da K[a, b]^T, (n ho wo, c), to the
    pixels it read (one product into a contiguous (rows, c) block per tap, where the full dP's
    tap columns were read strided: 2.4 against 3.0 ms on W5's second layer)."""
    n, ho, wo, _ = dy_shape
    kw, c = kernel.shape[1], kernel.shape[2]
    _, h, w, _ = x_shape
    top, bottom, left, right = pads
    dpad = _scratch.empty((n, h + top + bottom, w + left + right, c), da.dtype)
    dpad.fill(0)
    part = _scratch.empty((da.shape[0], c), da.dtype)
    for t, tap in enumerate(_taps(window, (ho, wo))):
        np.matmul(da, kernel[t // kw, t % kw].T, out=part)
        np.add(dpad[tap], part.reshape(n, ho, wo, c), out=dpad[tap])
    return dpad[:, top:top + h, left:left + w, :]


_FAMILY = _host.Epilogues(_bias_relu, _relu_backward, conv_patches_backward, _act.bias_activation,
                          _act.bias_activation_backward, _input_gradient)


conv2d_activation, conv2d_activation_backward = _host.conv_kernels(_FAMILY)


def _sweep(views, y, idx, nan_aware):
    """y = the running maximum over the taps and idx the last tap that raised it (the first
    maximum; with ``nan_aware`` the first NaN, which no later tap raises), in one sweep."""
    np.copyto(y, views[0])
    idx.fill(0)
    better = _scratch.empty(y.shape, np.bool_)
    step = _scratch.empty(y.shape, np.int8)
    for t, v in enumerate(views[1:], start=1):
        np.greater(v, y, out=better)
        if nan_aware:
            better |= np.isnan(v) & ~np.isnan(y)
        np.multiply(better, t, out=step, dtype=np.int8)
        np.maximum(idx, step, out=idx)
        np.maximum(y, v, out=y)


def max_pool2d(x, window, pads, *, xp):
    """y[n, i, j, k] = max over the window of x padded with -inf; returns (y, the index of the
    first maximum within the window, (n, ho, wo, c)); a NaN wins (the first NaN, as in the kernels)."""
    if not _host.is_image(x) or window[0] * window[1] > 127:
        return _pool.max_pool2d(x, window, pads, xp=xp)
    padded, taps, (ho, wo) = _padded_taps(x, window, pads, -math.inf, np)
    views = [padded[tap] for tap in taps]
    shape = (x.shape[0], ho, wo, x.shape[3])
    y, idx = _scratch.empty(shape, x.dtype), _scratch.empty(shape, np.int8)
    _sweep(views, y, idx, nan_aware=False)
    if np.isnan(y).any():
        _sweep(views, y, idx, nan_aware=True)
    out = _scratch.empty(shape, np.int64)
    np.copyto(out, idx)
    return y, out


def max_pool2d_backward(dy, idx, x_shape, window, pads, *, xp):
    """dx = dy routed to the window's first maximum (summed where windows overlap)."""
    if not (_host.is_image(dy) and type(idx) is np.ndarray and idx.shape == dy.shape
            and _disjoint(window)):
        return _pool.max_pool2d_backward(dy, idx, x_shape, window, pads, xp=xp)
    # disjoint windows: each tap's dy [idx == t] written straight into its view of a kept dx
    # (0.53 ms on W5's first pooling; one product broadcast over a (n, ho, ph, wo, pw, c) view of
    # every window at once ran 1.2 ms, its short inner loops unmerged)
    n, h, w, c = x_shape
    top, bottom, left, right = pads
    ph, pw, sh, sw = window[:4]
    ho, wo = dy.shape[1], dy.shape[2]
    dpad = _scratch.empty((n, h + top + bottom, w + left + right, c), dy.dtype)
    if not (sh == ph and sw == pw and ho * ph == dpad.shape[1] and wo * pw == dpad.shape[2]):
        dpad.fill(0)  # pixels no window reads
    hit = _scratch.empty(dy.shape, np.bool_)
    for t, tap in enumerate(_taps(window, (ho, wo))):
        np.equal(idx, t, out=hit)
        np.multiply(dy, hit, out=dpad[tap])
    return dpad[:, top:top + h, left:left + w, :]


KERNELS = {f.__name__: f for f in (conv2d_activation, conv2d_activation_backward, conv_patches_backward, max_pool2d,
                                    max_pool2d_backward)}
