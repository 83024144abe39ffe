"""What the image layers share: argument checks (pairs, padding, image shapes) and a forward
that checks the sample shape."""

from __future__ import annotations

from nnkit.layers.base import Layer


def check_positive_pair(value, argument: str, owner: str) -> tuple:
    """An int or a pair of ints, each >= 1, as a pair."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        raise TypeError(f"{owner}: {argument} must be an int or a pair of ints, got {value!r}") from None
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in pair):
        raise TypeError(f"{owner}: {argument} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{owner}: {argument} must be at least 1, got {value!r}")
    return pair


def check_padding(padding, owner: str) -> str:
    key = padding.lower() if isinstance(padding, str) else padding
    if key not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return key


class CheckedLayer(Layer):
    """A layer whose public ``forward`` first checks the sample shape it was built for (inside a
    model the model checks its input once)."""

    def forward(self, x, training=False):
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f"{type(self).__name__}: expects samples of shape {tuple(self.input_shape)}, "
                             f"got an input of shape {tuple(x.shape)}")
        return super().forward(x, training)


def check_image_shape(input_shape, owner: str, channels=None) -> tuple:
    """(h, w, c) of a channels-last image sample shape, or a ValueError naming the layer."""
    if len(input_shape) != 3:
        raise ValueError(f"{owner}: expects images of shape (n, height, width, channels), got sample "
                         f"shape {tuple(input_shape)} (rank {len(input_shape) + 1} input)")
    if channels is not None and input_shape[2] != channels:
        raise ValueError(f"{owner}: expects {channels} input channels, got sample shape {tuple(input_shape)}")
    return tuple(input_shape)
