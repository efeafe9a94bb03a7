"""Maglev lookup table (Eisenbud et al., NSDI 2016), weighted.

Each backend walks its own permutation of the table (offset + j * skip mod M, M prime) and claims
the first free entry on each of its turns. Weights decide how many turns each backend gets and
in what order: turns are interleaved by virtual time (k + 1/2) / weight, so heavier backends
claim more often, spread over the whole fill rather than at its end.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from math import lcm

from lbapp.algorithms.hashing import name_hashes

# Free entries left when the build switches from probing to a direct search (about sqrt(M)).
TAIL = 256


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split total into integer shares proportional to weights (largest remainder)."""
    wsum = sum(weights)
    shares = [total * w // wsum for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares


def turn_order(weights: Sequence[int], turns: Sequence[int]) -> list[int]:
    """Backend indices, backend i appearing turns[i] times, ordered by virtual time."""
    n = len(weights)
    if len(set(weights)) == 1:  # plain rounds; the same order the general case gives, faster
        rounds = min(turns)
        return list(range(n)) * rounds + [i for i in range(n) if turns[i] > rounds]
    scale = lcm(*weights)
    # (2k + 1) * scale / w is 2 * scale * (k + 1/2) / w exactly; * n + i breaks ties by index.
    keys = sorted(((2 * k + 1) * (scale // w)) * n + i
                  for i, (w, t) in enumerate(zip(weights, turns)) for k in range(t))
    return [key % n for key in keys]


class MaglevTable:
    def __init__(self, names: Sequence[str], weights: Sequence[int], size: int):
        self.size = len(names)
        m = size
        offsets, skips = [], []
        for name in names:
            h1, h2 = name_hashes(name, 2, b"lblab-maglev")
            offsets.append(h1 % m)
            skips.append(h2 % (m - 1) + 1)
        table = [-1] * m
        if names:
            turns = turn_order(weights, apportion(m, weights))
            probed = max(0, m - TAIL)
            pos = offsets
            for b in turns[:probed]:
                c = pos[b]
                s = skips[b]
                while table[c] >= 0:
                    c += s
                    if c >= m:
                        c -= m
                table[c] = b
                c += s
                pos[b] = c - m if c >= m else c
            # With few free entries left, probing would take ~m / free steps per claim; instead
            # take the free entry that comes first in the backend's permutation: the one whose
            # distance from the backend's position, in skips, is smallest.
            free = [c for c in range(m) if table[c] < 0]
            for b in turns[probed:]:
                p, inv = pos[b], pow(skips[b], -1, m)
                c = min(free, key=lambda c: (c - p) * inv % m)
                free.remove(c)
                table[c] = b
                pos[b] = (c + skips[b]) % m
        self._table = table
        self._m = m

    def lookup(self, h: int) -> int:
        return self._table[h % self._m]

    def fallbacks(self, h: int) -> Iterator[int]:
        """The backends of the following table entries, then every backend once (a backend whose
        weight is too small for the table to give it an entry still counts as usable)."""
        table, m = self._table, self._m
        j = h % m
        for k in range(1, m):
            yield table[(j + k) % m]
        yield from range(self.size)

    def shares(self) -> list[int]:
        counts = [0] * self.size
        for b in self._table:
            counts[b] += 1
        return counts
