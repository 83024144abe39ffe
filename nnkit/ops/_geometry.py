"""Window geometry of convolution and pooling (plain Python on shapes; no arrays)."""

from __future__ import annotations

PADDINGS = ("valid", "same")


def window_output(size: int, kernel: int, stride: int, dilation: int, padding: str):
    """(output size, pad before, pad after) along one axis, as Keras/TensorFlow pad.

    "valid": out = floor((size - k_eff) / stride) + 1 with k_eff = (k - 1) dilation + 1, no padding;
    "same": out = ceil(size / stride), padded by max((out - 1) stride + k_eff - size, 0) in total,
    the smaller half before. The output size is < 1 where the window exceeds the input.
    """
    k_eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - k_eff) // stride + 1 if size >= k_eff else 0, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2, total - total // 2


def window_geometry(height: int, width: int, window: tuple, padding: str):
    """((ho, wo), pads (top, bottom, left, right)) of ``window`` = (kh, kw, sh, sw, dh, dw)."""
    kh, kw, sh, sw, dh, dw = window
    ho, top, bottom = window_output(height, kh, sh, dh, padding)
    wo, left, right = window_output(width, kw, sw, dw, padding)
    return (ho, wo), (top, bottom, left, right)
