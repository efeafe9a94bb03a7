"""A balancer over a hash lookup table (slots, ring or maglev): the key's backend, or the
table's next choice for that key when it is excluded."""
from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Protocol

from lbapp.algorithms.base import Balancer, Pool
from lbapp.algorithms.hashing import key_hash


class HashTable(Protocol):
    size: int  # number of backends; lookups return indices below it

    def lookup(self, h: int) -> int: ...

    def fallbacks(self, h: int) -> Iterator[int]:
        """The next choices after lookup(h), in a fixed order; every backend appears."""
        ...


class HashBalancer(Balancer):
    needs_key = True

    def __init__(self, pool: Pool, table: HashTable, usable: Sequence[bool] | None = None):
        """usable[i] False: backend i keeps its place in the table but is never picked (its keys
        fall through), so the other backends' keys stay put while it is down."""
        usable = list(usable) if usable is not None else [True] * len(pool.names)
        super().__init__(Pool(tuple(n for n, u in zip(pool.names, usable) if u),
                              tuple(w for w, u in zip(pool.weights, usable) if u)))
        self._names = pool.names
        self._w = pool.weights
        self._usable = usable
        self._table = table

    def pick(self, key: bytes | None = None, exclude: Collection[str] = ()) -> str | None:
        if not self.backends:
            return None
        h = key_hash(key or b"")
        i = self._table.lookup(h)
        if self._usable[i] and self._names[i] not in exclude:
            return self._names[i]
        # Fewer exclusions than usable backends: one is left (no O(N) scan per fall-through).
        if len(exclude) < len(self.backends):
            pass
        elif not any(u and n not in exclude for n, u in zip(self._names, self._usable)):
            return None
        for i in self._table.fallbacks(h):
            if self._usable[i] and self._names[i] not in exclude:
                return self._names[i]
        return None
