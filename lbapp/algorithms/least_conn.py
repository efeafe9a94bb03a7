"""Least connections: fewest in-flight requests per unit of weight.

Ties (e.g. every backend idle) are broken round robin; with unequal weights by a smooth weighted
round robin among the tied backends (as nginx does), so that weights still count when idle.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from math import lcm

from lbapp.algorithms.base import LoadTracking, Pool


class LeastConnections(LoadTracking):
    def __init__(self, pool: Pool):
        super().__init__(pool)
        n = len(pool.names)
        self._names = pool.names
        self._w = pool.weights
        # score = in_flight * lcm / weight: an exact integer that orders like in_flight / weight,
        # so the hot path can use the C builtins min/count/index on one list.
        scale = lcm(*pool.weights) if n else 1
        self._step = [scale // w for w in pool.weights]
        self._score = [0] * n
        self._equal = len(set(pool.weights)) <= 1
        self._next = 0
        self._cur = [0] * n

    def on_start(self, name: str) -> None:
        i = self._index.get(name)
        if i is not None:
            self._load[i] += 1
            self._total += 1
            self._score[i] += self._step[i]

    def on_finish(self, name: str) -> None:
        i = self._index.get(name)
        if i is not None and self._load[i] > 0:
            self._load[i] -= 1
            self._total -= 1
            self._score[i] -= self._step[i]

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        score = self._score
        if not score:
            return None
        if exclude:
            return self._pick_excluding(exclude)
        low = min(score)
        ties = score.count(low)
        if ties == 1:
            return self._names[score.index(low)]
        if self._equal:
            try:
                i = score.index(low, self._next)
            except ValueError:
                i = score.index(low)
            self._next = i + 1
            return self._names[i]
        n = len(score)
        return self._names[self._smooth(range(n) if ties == n else
                                        [i for i in range(n) if score[i] == low])]

    def _pick_excluding(self, exclude: Collection[str]) -> str | None:
        names, score = self._names, self._score
        tied: list[int] = []
        low = 0
        for i in range(len(names)):
            if names[i] in exclude:
                continue
            s = score[i]
            if not tied or s < low:
                low = s
                tied = [i]
            elif s == low:
                tied.append(i)
        if not tied:
            return None
        if len(tied) == 1:
            return names[tied[0]]
        if self._equal:
            i = next((i for i in tied if i >= self._next), tied[0])
            self._next = i + 1
            return names[i]
        return names[self._smooth(tied)]

    def _smooth(self, tied: Iterable[int]) -> int:
        """One nginx smooth weighted round robin step among the tied backends."""
        w, cur = self._w, self._cur
        best = -1
        top = 0
        total = 0
        for i in tied:
            c = cur[i] + w[i]
            cur[i] = c
            total += w[i]
            if best < 0 or c > top:
                best, top = i, c
        cur[best] -= total
        return best
