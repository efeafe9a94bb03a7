"""Consistent hashing ring (ketama-like): ring_vnodes points per unit of weight per backend."""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from lbapp.algorithms.hashing import name_hashes

# Bound on the whole ring (weights up to 1000 x 160 vnodes would otherwise make millions of
# points); beyond it every backend's point count is scaled down proportionally.
MAX_POINTS = 1 << 16
_IDX_BITS = 20


class HashRing:
    def __init__(self, names: Sequence[str], weights: Sequence[int], vnodes: int,
                 max_points: int = MAX_POINTS):
        assert len(names) < 1 << _IDX_BITS
        self.size = len(names)
        counts = [vnodes * w for w in weights]
        total = sum(counts)
        if total > max_points:
            counts = [max(1, c * max_points // total) for c in counts]
        # Sort (point, index) packed into one int: much faster than sorting tuples. Equal points
        # (never seen with 64 bits) fall back to the name-sorted index, so order is still fixed.
        packed = sorted(p << _IDX_BITS | i
                        for i, (name, c) in enumerate(zip(names, counts))
                        for p in name_hashes(name, c, b"lblab-ring"))
        mask = (1 << _IDX_BITS) - 1
        self._points = [p >> _IDX_BITS for p in packed]
        self._owners = [p & mask for p in packed]

    def _position(self, h: int) -> int:
        i = bisect_left(self._points, h)
        return i if i < len(self._points) else 0

    def lookup(self, h: int) -> int:
        return self._owners[self._position(h)]

    def fallbacks(self, h: int) -> Iterator[int]:
        """The next distinct backends clockwise from the key's point."""
        owners = self._owners
        n = len(owners)
        start = self._position(h)
        seen = {owners[start]}
        for k in range(1, n):
            owner = owners[(start + k) % n]
            if owner not in seen:
                seen.add(owner)
                yield owner
                if len(seen) == self.size:
                    return
