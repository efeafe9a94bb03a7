"""Smooth weighted round robin (nginx): weights 5,1,1 give a a b a c a a, not a a a a a b c."""
from __future__ import annotations

from collections.abc import Collection
from math import gcd

from lbapp.algorithms.base import Balancer, Pool

# Largest backends x period for which one period of the sequence is precomputed (a few ms to
# build); past it every pick runs the O(n) nginx step instead.
TABLE_LIMIT = 1 << 18


class SmoothWeightedRoundRobin(Balancer):
    def __init__(self, pool: Pool, table_limit: int = TABLE_LIMIT):
        super().__init__(pool)
        n = len(pool.names)
        g = gcd(*pool.weights) if n else 1
        self._names = pool.names
        self._w = [w // g for w in pool.weights]
        self._cur = [0] * n
        period = sum(self._w)
        self._seq: list[str] | None = None
        self._pos = 0
        if n and period * n <= table_limit:
            self._seq = [self._step(()) for _ in range(period)]
            self._cur = [0] * n

    def _step(self, exclude: Collection[str]) -> str | None:
        """One nginx step over the backends not in exclude; its state is self._cur."""
        names, w, cur = self._names, self._w, self._cur
        best = -1
        total = 0
        for i in range(len(names)):
            if exclude and names[i] in exclude:
                continue
            cur[i] += w[i]
            total += w[i]
            if best < 0 or cur[i] > cur[best]:
                best = i
        if best < 0:
            return None
        cur[best] -= total
        return names[best]

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        seq = self._seq
        if seq is None or exclude:
            # Picks with exclusions (retries, ejected backends) run the live nginx step, with
            # its own state, so the remaining backends stay interleaved while one is ejected.
            return self._step(exclude)
        i = self._pos
        self._pos = i + 1 if i + 1 < len(seq) else 0
        return seq[i]
