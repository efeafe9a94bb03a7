"""source_hash lookup: the key's hash modulo a table of weighted slots."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from math import gcd

from lbapp.algorithms.hashing import mix64

# Pseudo-random re-probes before falling back to scanning the backends in order.
REPROBES = 16


class SlotTable:
    """Each backend owns weight/gcd slots; a key owns slot hash % len(slots)."""

    def __init__(self, weights: Sequence[int]):
        g = gcd(*weights) if weights else 1
        self.size = len(weights)
        self._slots = [i for i, w in enumerate(weights) for _ in range(w // g)]

    def lookup(self, h: int) -> int:
        return self._slots[h % len(self._slots)]

    def fallbacks(self, h: int) -> Iterator[int]:
        """Next choices for the key, deterministic: re-hashed slots (so an excluded backend's keys
        spread over the others by weight), then every backend once."""
        slots = self._slots
        for _ in range(REPROBES):
            h = mix64(h)
            yield slots[h % len(slots)]
        start = slots[h % len(slots)]
        for k in range(1, self.size + 1):
            yield (start + k) % self.size
