"""The one place the served page reaches the Playground's link parser and data generators.

Everything the page needs from a Playground link goes through these three functions, so a
change of those modules' shapes is absorbed here.
"""

from __future__ import annotations

import hashlib
import inspect
import random

from nnkit import datasets
from nnkit.playground_config import PlaygroundConfig, parse_playground_url

__all__ = ["parse_link", "fresh_seed", "seed_number", "make_data", "features"]

_HAS_STRICT = "strict" in inspect.signature(parse_playground_url).parameters


def parse_link(fragment: str, strict: bool = False) -> PlaygroundConfig:
    """The PlaygroundConfig of a link's fragment (``a=b&c=d``); ValueError naming a bad key.

    ``strict``: refuse what the browser would silently read otherwise (the page's own controls
    are read so); a link as pasted is read as the browser reads it, where the parser can.
    """
    link = "#" + fragment  # an empty fragment is the Playground's defaults
    if _HAS_STRICT:
        return parse_playground_url(link, strict=strict)
    return parse_playground_url(link)


def seed_number(config: PlaygroundConfig) -> int:
    """A 64-bit int for NumPy's generators from the link's string seed (the first 8 bytes of its
    SHA-256), so one link gives the same points and weights every time."""
    return int.from_bytes(hashlib.sha256(str(config.seed).encode("utf-8")).digest()[:8], "little")


def fresh_seed() -> str:
    """A new seed written as the Playground writes its seeds (``Math.random().toFixed(5)``)."""
    return f"{random.random():.5f}"


def make_data(config: PlaygroundConfig):
    """(train_xy, y_train, test_xy, y_test): the link's points (x1, x2) and labels (-1/+1 or the
    regression target), generated, shuffled and split as the Playground does."""
    seed = seed_number(config)
    X, y = datasets.playground(config.data_name, config.n_samples, config.noise_fraction, seed=seed,
                               labels="pm1")
    return datasets.playground_split(X, y, config.perc_train_data, seed=seed)


def features(points, config: PlaygroundConfig):
    """The link's enabled input features of (n, 2) points, in the Playground's order."""
    return datasets.playground_features(points, config.features())
