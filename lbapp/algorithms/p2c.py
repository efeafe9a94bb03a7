"""Power of two choices: two distinct backends drawn at random by weight; the one with fewer
in-flight requests per unit of weight wins (the first drawn on a tie)."""
from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Collection, Sequence
from itertools import accumulate

from lbapp.algorithms.base import LoadTracking, Pool


class PowerOfTwoChoices(LoadTracking):
    def __init__(self, pool: Pool, rng: random.Random | None = None):
        super().__init__(pool)
        self._names = pool.names
        self._w = pool.weights
        self._all = list(range(len(pool.names)))
        self._cum = list(accumulate(pool.weights))
        self._rng = rng or random.Random()

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        names = self._names
        if len(names) < 2:
            return names[0] if names and names[0] not in exclude else None
        a, b = self._draw_two(self._all, self._cum)
        if exclude and (names[a] in exclude or names[b] in exclude):
            members = [i for i in self._all if names[i] not in exclude]
            if len(members) < 2:
                return names[members[0]] if members else None
            a, b = self._draw_two(members, list(accumulate(self._w[i] for i in members)))
        load, w = self._load, self._w
        return names[b] if load[b] * w[a] < load[a] * w[b] else names[a]

    def _draw_two(self, members: Sequence[int], cum: Sequence[int]) -> tuple[int, int]:
        """Two distinct members, the first by weight, the second by weight among the rest."""
        rand = self._rng.random
        last = len(cum) - 1
        total = cum[-1]
        x = bisect_right(cum, rand() * total, 0, last)
        wx = cum[x] - (cum[x - 1] if x else 0)
        # Draw from the total minus x's weight, then step over x's interval: no retry loop.
        r = rand() * (total - wx)
        if r >= cum[x] - wx:
            r += wx
        y = bisect_right(cum, r, 0, last)
        if y == x:  # only through float rounding at the very top of the range
            y = x - 1 if x else x + 1
        return members[x], members[y]
