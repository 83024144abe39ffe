"""Data augmentation as layers that act only in training (the identity at inference).

    GaussianNoise:  y = x + std z,  z ~ N(0, 1)             (input noise; any layer position)
    RandomShift:    y[i, j] = x[i - dy, j - dx], 0 outside,  dy, dx ~ U{-m..m} per sample
    RandomFlip:     y[i, j] = x[i, W - 1 - j] (and/or x[H - 1 - i, j]) with probability p per sample

Put them in a Sequential, before the layers they feed (shifts and flips act on images, so first):
``fit`` runs every layer with ``training=True``, so each batch is augmented afresh, while
``predict``/``evaluate`` see the data untouched. The random numbers come from the backend's
generator, which ``fit(seed=...)`` seeds, so an augmented training run is reproducible.

Images come as rows of H*W*C pixels (flattened, row-major, channels last) or as (n, H, W[, C]).
Backward passes are exact: noise adds a constant (dx = dy), a flip is its own inverse, and a
shift's adjoint is the opposite shift (each pixel moves to at most one place).
Everything runs through ``backend.xp``, on every backend.
"""

from __future__ import annotations

import math
import numbers

from nnkit.layers.base import Layer

__all__ = ["GaussianNoise", "RandomShift", "RandomFlip"]


def _image_shape(image_shape, owner):
    try:
        shape = tuple(int(d) for d in image_shape)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: image_shape must be (H, W) or (H, W, C), got {image_shape!r}") from None
    if len(shape) not in (2, 3) or any(d < 1 for d in shape):
        raise ValueError(f"{owner}: image_shape must be (H, W) or (H, W, C) of positive ints, got {image_shape!r}")
    return shape if len(shape) == 3 else shape + (1,)


class GaussianNoise(Layer):
    """y = x + std z with z ~ N(0, 1) in training (Box-Muller from the backend's uniforms); y = x otherwise.

    Parameters
    ----------
    std: the noise's standard deviation, >= 0 (in the units of the layer's input: put it after
        a normalisation to make it relative).
    """

    def __init__(self, std: float, name: str | None = None):
        super().__init__(name)
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not std >= 0 or not math.isfinite(std):
            raise ValueError(f"GaussianNoise: std must be a finite number >= 0, got {std!r}")
        self.std = float(std)

    def forward(self, x, training=False):
        if not training or self.std == 0.0:
            return x
        xp = self.backend.xp
        u = self.random_uniform((2,) + tuple(x.shape), x.dtype, row_axis=1)
        # Box-Muller: 1 - u lies in (0, 1], so the log is finite
        z = xp.sqrt(-2.0 * xp.log(1.0 - u[0, ...])) * xp.cos((2.0 * math.pi) * u[1, ...])
        return x + self.std * z

    def backward(self, dy, need_dx=True):
        """dx = dy: the noise does not depend on x."""
        return dy

    def get_config(self):
        return {"std": self.std}


class _ImageLayer(Layer):
    """Shared by the image augmentations: the (H, W, C) view of a batch and back."""

    def __init__(self, image_shape, name):
        super().__init__(name)
        self.image_shape = _image_shape(image_shape, type(self).__name__)

    def _build(self, input_shape, rng):
        H, W, C = self.image_shape
        if tuple(input_shape) not in ((H * W * C,), (H, W, C), (H, W) if C == 1 else None):
            raise ValueError(f"{type(self).__name__}: image_shape {self.image_shape} does not match "
                             f"samples of shape {tuple(input_shape)} (expected ({H * W * C},) or {(H, W, C)})")
        return input_shape

    def _images(self, x):
        return self.backend.xp.reshape(x, (x.shape[0],) + self.image_shape)


class RandomShift(_ImageLayer):
    """Shift each image by (dy, dx) ~ U{-max_shift..max_shift}^2 pixels in training, filling with 0.

    Parameters
    ----------
    max_shift: the largest shift in pixels along each axis (an int >= 0).
    image_shape: (H, W) or (H, W, C) of one image.
    """

    def __init__(self, max_shift: int, image_shape, name: str | None = None):
        super().__init__(image_shape, name)
        if isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Integral) or max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be an int >= 0, got {max_shift!r}")
        self.max_shift = int(max_shift)
        self._shifts = None

    def _shift(self, x, sy, sx):
        """y[n, i, j] = x[n, i - sy_n, j - sx_n] where that pixel exists, else 0."""
        xp = self.backend.xp
        H, W, C = self.image_shape
        n = x.shape[0]
        index_dtype = sy.dtype
        rows = xp.arange(H, dtype=index_dtype)[None, :] - sy[:, None]   # (n, H) source rows
        cols = xp.arange(W, dtype=index_dtype)[None, :] - sx[:, None]   # (n, W) source columns
        inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
        rows = xp.clip(rows, 0, H - 1)
        cols = xp.clip(cols, 0, W - 1)
        pixel = rows[:, :, None] * W + cols[:, None, :]                  # (n, H, W) within an image
        channel = xp.arange(C, dtype=index_dtype)
        sample = xp.arange(n, dtype=index_dtype) * (H * W * C)
        flat = (pixel[:, :, :, None] * C + channel[None, None, None, :]) + sample[:, None, None, None]
        y = xp.take(xp.reshape(x, (-1,)), xp.reshape(flat, (-1,)))
        y = xp.reshape(y, (n, H, W, C))
        y = xp.where(inside[:, :, :, None], y, xp.zeros_like(y))
        return xp.reshape(y, tuple(x.shape))

    def forward(self, x, training=False):
        if not training or self.max_shift == 0:
            self._shifts = None
            return x
        xp, be = self.backend.xp, self.backend
        span = 2 * self.max_shift + 1
        u = self.random_uniform((2, x.shape[0]), x.dtype, row_axis=1)
        shifts = xp.astype(xp.floor(u * span), be.dtype("int64")) - self.max_shift
        # floor(u * span) can round up to span for u just below 1 in float32
        shifts = xp.clip(shifts, -self.max_shift, self.max_shift)
        self._shifts = shifts
        return self._shift(x, shifts[0, ...], shifts[1, ...])

    def backward(self, dy, need_dx=True):
        """dx = dy shifted back by (-dy, -dx): the adjoint of the shift."""
        if self._shifts is None:
            return dy
        if not need_dx:
            return None
        return self._shift(dy, -self._shifts[0, ...], -self._shifts[1, ...])

    def _clear_cache(self):
        self._shifts = None

    def get_config(self):
        return {"max_shift": self.max_shift, "image_shape": list(self.image_shape)}


class RandomFlip(_ImageLayer):
    """Mirror each image left-right (and/or upside-down) with probability p in training.

    Parameters
    ----------
    image_shape: (H, W) or (H, W, C) of one image.
    horizontal: flip left-right (x[i, W - 1 - j]).
    vertical: flip upside-down (x[H - 1 - i, j]), drawn independently.
    p: the probability of each flip.
    """

    def __init__(self, image_shape, horizontal: bool = True, vertical: bool = False, p: float = 0.5,
                 name: str | None = None):
        super().__init__(image_shape, name)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be a probability in [0, 1], got {p!r}")
        if not (horizontal or vertical):
            raise ValueError("RandomFlip: at least one of horizontal and vertical must be True")
        self.horizontal, self.vertical, self.p = bool(horizontal), bool(vertical), float(p)
        self._masks = None

    def _flip(self, x, masks):
        xp = self.backend.xp
        img = self._images(x)
        for axis, mask in masks:
            img = xp.where(mask[:, None, None, None], xp.flip(img, axis=axis), img)
        return xp.reshape(img, tuple(x.shape))

    def forward(self, x, training=False):
        if not training or self.p == 0.0:
            self._masks = None
            return x
        u = self.random_uniform((2, x.shape[0]), x.dtype, row_axis=1)
        masks = []
        if self.horizontal:
            masks.append((2, u[0, ...] < self.p))
        if self.vertical:
            masks.append((1, u[1, ...] < self.p))
        self._masks = masks
        return self._flip(x, masks)

    def backward(self, dy, need_dx=True):
        """dx = the same flips applied to dy (a flip is its own inverse; the two commute)."""
        if self._masks is None:
            return dy
        if not need_dx:
            return None
        return self._flip(dy, self._masks)

    def _clear_cache(self):
        self._masks = None

    def get_config(self):
        return {"image_shape": list(self.image_shape), "horizontal": self.horizontal,
                "vertical": self.vertical, "p": self.p}
