"""Maglev lookup table (Eisenbud et al., NSDI 2016), weighted.

Each backend walks its own permutation of the table (offset + j * skip mod M, M prime) and claims
the first free entry on each of its turns. Weights decide how many turns each backend gets and
in what order: turns are interleaved by virtual time (k + 1/2) / weight, so heavier backends
claim more often, spread over the whole fill rather than at its end.

Table size: the paper asks for M much larger than the number of backends. ``table_size_for``
takes the first size of SIZES that gives the lightest backend at least ENTRIES_PER_UNIT entries
(at equal weights: 100 per backend), else the largest. Sizes come from a short ladder (about
doubling) because every key's entry is its hash modulo M: a different M reshuffles every key, so
M must not follow each added or removed backend; it changes only when the pool crosses a rung.
A larger table evens out weights but only slowly reduces what a rebuild moves: removing one of N
backends from the config moves ~1.2x the ideal 1/N of the keys at N = 50 and ~6x at N = 1000
(benchmarks/hash_scale.py; Maglev trades stability for exact balance). So backends that go down
keep their entries (registry.py): their keys, and only theirs, fall through to the next entries.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from math import isqrt, lcm

from lbapp.algorithms.hashing import name_hashes

# Free entries left when the build switches from probing to a direct search (about sqrt(M)).
TAIL = 256
SIZES = (65537, 131071, 262139, 524287)   # primes near 2**16 .. 2**19
ENTRIES_PER_UNIT = 100


def is_prime(n: int) -> bool:
    if n < 2 or n % 2 == 0:
        return n == 2
    return all(n % d for d in range(3, isqrt(n) + 1, 2))


def table_size_for(weights: Sequence[int]) -> int:
    """The first of SIZES with >= ENTRIES_PER_UNIT entries per lightest weight, else the last."""
    units = -(-sum(weights) // min(weights)) if weights else 1  # ceil(total / lightest)
    return next((m for m in SIZES if m >= ENTRIES_PER_UNIT * units), SIZES[-1])


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
    index = list(range(n))  # one int object per backend, shared by all its table entries
    return [index[key % n] for key in keys]


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
