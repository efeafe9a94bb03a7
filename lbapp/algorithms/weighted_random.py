"""Random pick with probability proportional to weight."""
from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Collection
from itertools import accumulate

from lbapp.algorithms.base import Balancer, Pool


class WeightedRandom(Balancer):
    def __init__(self, pool: Pool, rng: random.Random | None = None):
        super().__init__(pool)
        self._names = pool.names
        self._cum = list(accumulate(pool.weights))
        self._total = self._cum[-1] if self._cum else 0
        self._last = len(self._cum) - 1
        self._rng = rng or random.Random()

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        if not self._total:
            return None
        # hi=last: random() * total can round up to total itself
        name = self._names[bisect_right(self._cum, self._rng.random() * self._total, 0, self._last)]
        if name not in exclude:
            return name
        return self._pick_among(exclude)

    def _pick_among(self, exclude: Collection[str]) -> str | None:
        names = [n for n in self._names if n not in exclude]
        if not names:
            return None
        weights = [w for n, w in zip(self._names, self.weights) if n not in exclude]
        cum = list(accumulate(weights))
        return names[bisect_right(cum, self._rng.random() * cum[-1], 0, len(cum) - 1)]
