"""Consistent hashing with bounded loads (Mirrokni et al.; HAProxy's hash-balance-factor).

A backend takes a request only while its in-flight count stays within
ceil(c * (total_in_flight + 1) * weight / total_weight) -- for equal weights
ceil(c * (total + 1) / n) -- over the backends not excluded; otherwise the key falls through to
the table's next choice. Since the bounds sum to at least c * (total + 1) > total, some backend
is always under its bound.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from fractions import Fraction

from lbapp.algorithms.base import LoadTracking, Pool
from lbapp.algorithms.hash_balancer import HashTable
from lbapp.algorithms.hashing import key_hash


class BoundedHashBalancer(LoadTracking):
    needs_key = True

    def __init__(self, pool: Pool, table: HashTable, balance_factor: float,
                 usable: Sequence[bool] | None = None):
        usable = list(usable) if usable is not None else [True] * len(pool.names)
        super().__init__(pool)
        self.backends = tuple(n for n, u in zip(pool.names, usable) if u)
        self.weights = tuple(w for w, u in zip(pool.weights, usable) if u)
        for i, name in enumerate(pool.names):
            if not usable[i]:  # backends that are down are never picked: track no load for them
                del self._index[name]
        self._names = pool.names
        self._w = pool.weights
        self._usable = usable
        self._wsum = sum(self.weights)
        self._table = table
        # Exact integer comparisons: float rounding must not let a backend past its bound.
        factor = Fraction(str(balance_factor))
        self._num, self._den = factor.numerator, factor.denominator

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        names, usable, load, w = self._names, self._usable, self._load, self._w
        if exclude:
            members = [i for i in range(len(names)) if usable[i] and names[i] not in exclude]
            total = sum(load[i] for i in members)
            wsum = sum(w[i] for i in members)
        else:
            total, wsum = self._total, self._wsum
        if not wsum:
            return None
        # load * wsum < c * (total + 1) * w  <=>  load + 1 <= ceil(c * (total + 1) * w / wsum)
        limit = self._num * (total + 1)
        scale = wsum * self._den
        h = key_hash(key or b"")
        i = self._table.lookup(h)
        if usable[i] and load[i] * scale < limit * w[i] and names[i] not in exclude:
            return names[i]
        for i in self._table.fallbacks(h):
            if usable[i] and load[i] * scale < limit * w[i] and names[i] not in exclude:
                return names[i]
        return None
