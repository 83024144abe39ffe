"""The one place the served page reaches the Playground's link parser and data generators.

Everything the page needs from a Playground link goes through these three functions, so a
change of those modules' shapes is absorbed here.
"""

from __future__ import annotations

import random

from nnkit import datasets
from nnkit.playground_config import PlaygroundConfig, parse_playground_url

__all__ = ["parse_link", "fresh_seed", "make_data", "features"]


def parse_link(fragment: str) -> PlaygroundConfig:
    """The PlaygroundConfig of a link's fragment (``a=b&c=d``); ValueError naming a bad key."""
    return parse_playground_url(fragment)


def fresh_seed() -> str:
    """A new seed written as the Playground writes its seeds (``Math.random().toFixed(5)``)."""
    return f"{random.random():.5f}"


def make_data(config: PlaygroundConfig):
    """(train_xy, y_train, test_xy, y_test): the link's points (x1, x2) and labels (-1/+1 or the
    regression target), generated, shuffled and split as the Playground does."""
    seed = config.seed_int()
    X, y = datasets.playground(config.data_name, config.n_samples, config.noise_fraction, seed=seed,
                               labels="pm1")
    return datasets.playground_split(X, y, config.perc_train_data, seed=seed)


def features(points, config: PlaygroundConfig):
    """The link's enabled input features of (n, 2) points, in the Playground's order."""
    return datasets.playground_features(points, config.features())
