"""Convolution as patch extraction plus one matmul, and the patches' adjoint.

Images are channels-last (n, h, w, c). A window is (kh, kw, sh, sw, dh, dw): its size, strides
and dilations; pads are (top, bottom, left, right). The patch matrix P has one row per output
pixel and kh*kw*c columns ordered (a, b, k), so a Conv2D kernel (kh, kw, c, filters) reshaped to
(kh*kw*c, filters) multiplies it directly.
"""

from __future__ import annotations

from nnkit.ops import activations as _act


def _pad(x, pads, fill, xp):
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), fill, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def _taps(window, out_hw):
    """The index tuple of every window tap (a, b) into the padded input, in (a, b) order."""
    kh, kw, sh, sw, dh, dw = window
    ho, wo = out_hw
    return [(slice(None), slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
             slice(b * dw, b * dw + sw * (wo - 1) + 1, sw), slice(None))
            for a in range(kh) for b in range(kw)]


def conv_patches(x, window, pads, fill=0.0, *, xp):
    """P[n, i, j, (a kw + b) c + k] = X[n, i sh + a dh, j sw + b dw, k] with X = x padded by
    ``pads`` with ``fill``; P is (n, ho, wo, kh kw c)."""
    kh, kw, sh, sw, dh, dw = window
    n, h, w, c = x.shape
    top, bottom, left, right = pads
    ho = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    wo = (w + left + right - (kw - 1) * dw - 1) // sw + 1
    padded = _pad(x, pads, fill, xp)
    cols = [padded[tap] for tap in _taps(window, (ho, wo))]
    return xp.reshape(xp.stack(cols, axis=3), (n, ho, wo, kh * kw * c))


def conv_patches_backward(dp, x_shape, window, pads, *, xp):
    """The adjoint of conv_patches: dx[n, y, x, k] = sum of dP over the patch entries read from
    pixel (y, x) (entries read from the padding are dropped)."""
    kh, kw = window[0], window[1]
    n, h, w, c = x_shape
    top, bottom, left, right = pads
    ho, wo = dp.shape[1], dp.shape[2]
    d5 = xp.reshape(dp, (n, ho, wo, kh * kw, c))
    dpad = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=dp.dtype)
    for t, tap in enumerate(_taps(window, (ho, wo))):
        dpad[tap] = dpad[tap] + d5[:, :, :, t, :]
    if not (top or bottom or left or right):
        return dpad
    return dpad[:, top:top + h, left:left + w, :]


def conv2d_activation(x, kernel, bias, window, pads, activation, *, xp):
    """Conv2D's forward, y = f(P(x) K + b) (``bias`` may be None); returns (y, tape), the tape
    what conv2d_activation_backward needs (opaque: each kernel family keeps its own)."""
    return _conv2d_activation_composed(x, kernel, bias, window, pads, activation, conv_patches,
                                       _act.bias_activation, xp)


def conv2d_activation_backward(dy, tape, kernel, window, pads, activation, with_bias=True, need_dx=True,
                               *, xp):
    """Conv2D's backward from conv2d_activation's tape: da = dy f'(a), dK = P^T da, db = sum of da
    over every pixel, dx = P^T(da K^T) (None unless need_dx); returns (dx, dK, db)."""
    return _conv2d_activation_backward_composed(dy, tape, kernel, window, pads, activation, with_bias,
                                                need_dx, conv_patches_backward,
                                                _act.bias_activation_backward, xp)


def _conv2d_activation_composed(x, kernel, bias, window, pads, activation, patches, bias_activation, xp):
    """conv2d_activation from a patches op and a bias + activation op (a kernel family's own, or
    the generic ones); the tape is (patch matrix, a, y, x's shape)."""
    p = patches(x, window, pads, xp=xp)
    n, ho, wo, cols = p.shape
    filters = kernel.shape[-1]
    p2 = xp.reshape(p, (n * ho * wo, cols))
    a, y = bias_activation(xp.matmul(p2, xp.reshape(kernel, (cols, filters))), bias, activation, xp=xp)
    return xp.reshape(y, (n, ho, wo, filters)), (p2, a, y, tuple(x.shape))


def _conv2d_activation_backward_composed(dy, tape, kernel, window, pads, activation, with_bias, need_dx,
                                        patches_backward, bias_activation_backward, xp):
    """conv2d_activation_backward from the patches' adjoint and a bias + activation backward op."""
    p2, a, y, x_shape = tape
    n, ho, wo, filters = dy.shape
    cols = p2.shape[1]
    da, db = bias_activation_backward(xp.reshape(dy, (n * ho * wo, filters)), a, y, activation,
                                      with_bias, xp=xp)
    dk = xp.reshape(xp.matmul(p2.T, da), kernel.shape)
    if not need_dx:
        return None, dk, db
    dp = xp.reshape(xp.matmul(da, xp.reshape(kernel, (cols, filters)).T), (n, ho, wo, cols))
    return patches_backward(dp, x_shape, window, pads, xp=xp), dk, db
