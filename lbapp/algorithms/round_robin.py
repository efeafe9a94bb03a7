"""Plain round robin: every usable backend in turn, weights ignored."""
from __future__ import annotations

from collections.abc import Collection

from lbapp.algorithms.base import Balancer, Pool


class RoundRobin(Balancer):
    def __init__(self, pool: Pool):
        super().__init__(pool)
        self._names = pool.names
        self._next = 0

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        names = self._names
        n = len(names)
        if not n:
            return None
        i = self._next
        name = names[i]
        self._next = i + 1 if i + 1 < n else 0
        if name not in exclude:
            return name
        for step in range(1, n):
            j = (i + step) % n
            name = names[j]
            if name not in exclude:
                self._next = j + 1 if j + 1 < n else 0
                return name
        return None
