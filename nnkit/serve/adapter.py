"""The one place the served page reaches the Playground's link parser and the browser's page load.

A link is read by ``nnkit.playground_config.parse_playground_url`` (as the browser reads it, or
strictly for the page's own controls); its points and its networks' initial weights are the
browser's (``nnkit.playground_browser``): the same seedrandom stream, generators, shuffle and
weight draws, so a Playground link opens here with the Playground's own points and first network.
"""

from __future__ import annotations

import hashlib

import numpy as np

from nnkit import datasets
from nnkit.playground_browser import browser_session, to_fixed
from nnkit.playground_config import PlaygroundConfig, parse_playground_url

__all__ = ["parse_link", "fresh_seed", "seed_number", "LinkData", "features"]


def parse_link(fragment: str, strict: bool = False) -> PlaygroundConfig:
    """The PlaygroundConfig of a link's fragment (``a=b&c=d``); ValueError naming a bad key.

    ``strict``: refuse what the browser would silently read otherwise (the page's own controls
    are read so); a link as pasted is read as the browser reads it.
    """
    return parse_playground_url("#" + fragment, strict=strict)  # "#": an empty fragment is the defaults


def fresh_seed() -> str:
    """A new seed written as the Playground writes its seeds (``Math.random().toFixed(5)``)."""
    import random

    return to_fixed(random.random())


def seed_number(config: PlaygroundConfig) -> int:
    """A 64-bit int from the link's string seed (the first 8 bytes of its SHA-256), for what nnkit
    draws itself (a model's own random stream)."""
    return int.from_bytes(hashlib.sha256(str(config.seed).encode("utf-8")).digest()[:8], "little")


class LinkData:
    """The browser's page load of a link: its points, and the stream its networks' weights come from.

    ``initial_weights(config)`` gives, in nnkit's Dense layout, the page load's network first, then
    for each later network (Reset, or a changed architecture) one drawn from the continuing stream,
    as the Playground's reset() draws it.
    """

    def __init__(self, config: PlaygroundConfig):
        self._session = browser_session(config)
        self._first = True

        def points(rows):
            table = np.array(rows, dtype=np.float64).reshape(len(rows), 3)
            return np.ascontiguousarray(table[:, :2]), np.ascontiguousarray(table[:, 2])

        self.train_xy, self.y_train = points(self._session.train)
        self.test_xy, self.y_test = points(self._session.test)

    def initial_weights(self, config: PlaygroundConfig) -> list:
        session = self._session
        if not (self._first and _same_network(session.config, config)):
            session.config = config
            session.reset()
        self._first = False
        return session.network.nnkit_weights()


def _same_network(a: PlaygroundConfig, b: PlaygroundConfig) -> bool:
    return (list(a.network_shape), a.input_ids(), a.init_zero) == (list(b.network_shape), b.input_ids(), b.init_zero)


def features(points, config: PlaygroundConfig):
    """The link's enabled input features of (n, 2) points, in the Playground's order."""
    return datasets.playground_features(points, config.features())
