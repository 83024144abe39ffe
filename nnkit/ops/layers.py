"""Ops of the layers that are neither affine nor elementwise: maxout and dropout."""

from __future__ import annotations


def maxout(z, pieces, *, xp):
    """y_j = max_k z_(j, k) over the ``pieces`` affine pieces of each unit; returns (y, argmax k).

    ``z`` is (n, units * pieces), laid out unit-major: columns j*pieces .. j*pieces+pieces-1.
    """
    n, width = z.shape
    zr = xp.reshape(z, (n, width // pieces, pieces))
    idx = xp.argmax(zr, axis=-1)
    return xp.max(zr, axis=-1), idx


def maxout_backward(dy, idx, pieces, *, xp):
    """dz_(j, k) = dy_j where k is the winning piece of unit j, else 0."""
    n, units = dy.shape
    k = xp.arange(pieces, dtype=idx.dtype)
    hit = xp.reshape(idx, (n, units, 1)) == xp.reshape(k, (1, 1, pieces))
    dz = xp.where(hit, xp.reshape(dy, (n, units, 1)), 0.0)
    return xp.reshape(dz, (n, units * pieces))


def dropout(x, u, rate, *, xp):
    """Inverted dropout: mask = (u >= rate) / (1 - rate), y = x * mask; returns (y, mask)."""
    mask = xp.astype(u >= rate, x.dtype) * (1.0 / (1.0 - rate))
    return x * mask, mask


def dropout_backward(dy, mask, *, xp):
    """dx = dy * mask."""
    return dy * mask
