"""seedrandom 2.4.4's ``Math.seedrandom(seed)`` stream (ARC4), reimplemented with exact integers.

The TensorFlow Playground seeds ``Math.random`` with ``Math.seedrandom(state.seed)``; this module
draws the same doubles, bit for bit, from the same seed string (PLAYGROUND.md section 3.1):

- the key: ``key[j & 255] = 255 & ((smear ^= key[j & 255] * 19) + code_unit(j))`` over the
  UTF-16 code units of the seed, unset slots and the first smear counting as 0;
- RC4 key scheduling over S = 0..255 (an empty key is [0]), then 256 output bytes discarded
  (RC4-drop[256]);
- a double: n = the next 6 bytes, d = 2^48, x = 0; while n < 2^52: n = (n + x) 256, d = 256 d,
  x = the next byte; while n >= 2^53: n, d, x = n / 2, d / 2, x >> 1; return (n + x) / d.

Every intermediate is an integer below 2^61 and d a power of two, so Python's int arithmetic and
one correctly rounded division give the browser's double exactly.
"""

from __future__ import annotations

__all__ = ["SeedRandom", "mix_key"]

_WIDTH = 256
_MASK = _WIDTH - 1
_SIGNIFICANCE = 1 << 52
_OVERFLOW = 1 << 53


def mix_key(seed: str) -> list[int]:
    """seedrandom's ``mixkey(seed, [])``: the ARC4 key bytes of a seed string."""
    if not isinstance(seed, str):
        raise TypeError(f"seed: expected a str (the Playground seeds with the string as typed), "
                        f"got {type(seed).__name__}")
    units = seed.encode("utf-16-le")
    key: list[int] = []
    smear = 0
    for j in range(len(units) // 2):
        code = units[2 * j] | (units[2 * j + 1] << 8)
        slot = j & _MASK
        old = key[slot] if slot < len(key) else 0
        smear ^= old * 19
        value = _MASK & (smear + code)
        if slot < len(key):
            key[slot] = value
        else:
            key.append(value)
    return key


class SeedRandom:
    """The doubles in [0, 1) that ``Math.seedrandom(seed); Math.random()`` gives, one per call.

    ``draws`` counts the doubles drawn so far (the Playground's draw counts are checked with it).
    """

    def __init__(self, seed: str):
        key = mix_key(seed) or [0]
        s = list(range(_WIDTH))
        j = 0
        for i in range(_WIDTH):
            t = s[i]
            j = _MASK & (j + key[i % len(key)] + t)
            s[i] = s[j]
            s[j] = t
        self._s, self._i, self._j = s, 0, 0
        self.draws = 0
        self._bytes(_WIDTH)  # RC4-drop[256]

    def _bytes(self, count: int) -> int:
        """The next ``count`` ARC4 output bytes as one big-endian integer (seedrandom's ``g``)."""
        s, i, j, r = self._s, self._i, self._j, 0
        for _ in range(count):
            i = _MASK & (i + 1)
            t = s[i]
            j = _MASK & (j + t)
            s[i] = s[j]
            s[j] = t
            r = r * _WIDTH + s[_MASK & (s[i] + t)]
        self._i, self._j = i, j
        return r

    def random(self) -> float:
        """The next double, with randomness in all 53 bits of its significand."""
        n, d, x = self._bytes(6), 1 << 48, 0
        while n < _SIGNIFICANCE:
            n = (n + x) * _WIDTH
            d *= _WIDTH
            x = self._bytes(1)
        while n >= _OVERFLOW:
            n >>= 1  # n is even here: it was multiplied by 256
            d >>= 1
            x >>= 1
        self.draws += 1
        return (n + x) / d

    __call__ = random
