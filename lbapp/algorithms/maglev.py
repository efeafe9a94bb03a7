"""Maglev lookup table (Eisenbud et al., NSDI 2016), weighted, with two ways to fill it.

Every backend has its own permutation of the M table entries (offset + j * skip mod M, M prime).

- ``stable`` (the default): every entry goes to the backend whose permutation reaches it first
  (rendezvous hashing over the entries; ties go to the backend with the lower tie-break hash).
  An entry's owner depends only on the backends that compete for it, so removing a backend from
  the config moves exactly its own entries (1/N of the keys) and adding one moves only the
  entries it takes. Shares are even up to sampling noise (~1/sqrt(M/N)): the table is sized for
  ENTRIES_PER_UNIT["stable"] entries per lightest weight unit. A weight of w is w virtual
  backends, each with its own permutation (weights reduced by their gcd first).
- ``exact`` (the paper's populate): backends take turns claiming the next free entry of their
  permutation, so every backend holds exactly its share (+-1 entry); but the fill is a cascade,
  and rebuilding without one of N backends moves ~1.2x the ideal 1/N of the keys at N = 50 and
  ~6x at N = 1000 (benchmarks/hash_scale.py); a larger table helps only slowly (3.1x at 1M
  entries). Weights decide how many turns each backend gets, interleaved by virtual time
  (k + 1/2) / weight.

Table size: the first of SIZES giving the lightest backend ENTRIES_PER_UNIT[fill] entries, else
the largest. A short ladder (about doubling), because every key's entry is its hash modulo M: a
different M reshuffles every key, so M must not follow each added or removed backend; it changes
only when the pool crosses a rung. Backends that go down keep their entries (registry.py): their
keys, and only theirs, fall through to the next entries.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from math import gcd, isqrt, lcm

from lbapp.algorithms.hashing import name_hashes

# Free entries left when the build switches from probing to a direct search (about sqrt(M)).
TAIL = 256
SIZES = (65537, 131071, 262139, 524287, 1048573)   # primes near 2**16 .. 2**20
# stable: shares vary by ~1/sqrt(entries) (3% at 1000); exact: every share is exact at any size
ENTRIES_PER_UNIT = {"stable": 1000, "exact": 100}
DOMAIN = b"lblab-maglev"


def is_prime(n: int) -> bool:
    if n < 2 or n % 2 == 0:
        return n == 2
    return all(n % d for d in range(3, isqrt(n) + 1, 2))


def table_size_for(weights: Sequence[int], fill: str = "stable") -> int:
    """The first of SIZES with >= ENTRIES_PER_UNIT[fill] entries per lightest weight, else the
    last."""
    units = -(-sum(weights) // min(weights)) if weights else 1  # ceil(total / lightest)
    return next((m for m in SIZES if m >= ENTRIES_PER_UNIT[fill] * units), SIZES[-1])


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


def stable_fill(names: Sequence[str], weights: Sequence[int], m: int) -> array:
    """Entry j -> index of the backend whose (virtual backends') permutation reaches j first."""
    import numpy as np  # only LB servers using this fill pay for the import

    unit = 0
    for w in weights:
        unit = gcd(unit, w)
    offsets, skips, tiebreaks, owners = [], [], [], []
    for i, (name, w) in enumerate(zip(names, weights)):
        # A backend keeps its first virtual backends' hashes when its weight changes.
        hashes = name_hashes(name, 3 * (w // unit), DOMAIN)
        for k in range(0, len(hashes), 3):
            offsets.append(hashes[k] % m)
            skips.append(hashes[k + 1] % (m - 1) + 1)
            tiebreaks.append(hashes[k + 2])
            owners.append(i)
    order = sorted(range(len(offsets)), key=tiebreaks.__getitem__)
    off = np.array([offsets[x] for x in order], dtype=np.int64)
    skip = np.array([skips[x] for x in order], dtype=np.int64)
    owner_of = np.array([owners[x] for x in order], dtype=np.int64)
    v = len(order)  # virtual backends
    first = np.full(m, -1, dtype=np.int64)  # entry -> virtual backend (in tie-break order)
    free = m
    # Walk the permutations in steps (round r: every virtual backend's r-th entry, in tie-break
    # order); an entry goes to its first visitor. Chunks of rounds keep numpy's arrays ~64 Ki.
    rounds = max(1, (1 << 16) // v)
    start = 0
    visitor = np.arange(v, dtype=np.int64)
    while free > max(64, m // v):
        steps = np.arange(start, start + rounds, dtype=np.int64)[:, None]
        entries = ((off + steps * skip) % m).ravel()
        who = np.broadcast_to(visitor, (rounds, v)).ravel()
        unclaimed = first[entries] < 0
        entries, who = entries[unclaimed], who[unclaimed]
        claimed, at = np.unique(entries, return_index=True)  # first visit of each entry
        first[claimed] = who[at]
        free -= len(claimed)
        start += rounds
    # The last few entries, directly: the visitor whose permutation reaches it earliest.
    rest = np.flatnonzero(first < 0)
    inverse = np.array([pow(int(s), -1, m) for s in skip], dtype=np.int64)
    rows = max(1, (1 << 16) // v)
    for i in range(0, len(rest), rows):
        chunk = rest[i:i + rows, None]
        reached_at = (chunk - off) % m * inverse % m
        first[rest[i:i + rows]] = np.argmin(reached_at, axis=1)
    entry_owner = owner_of[first]
    if len(names) <= 0xFFFF:
        return array("H", entry_owner.astype(np.uint16).tobytes())
    return array("I", entry_owner.astype(np.uint32).tobytes())


class MaglevTable:
    def __init__(self, names: Sequence[str], weights: Sequence[int], size: int,
                 fill: str = "stable"):
        self.size = len(names)
        self._m = m = size
        if fill == "stable":
            self._table = stable_fill(names, weights, m) if names else [-1] * m
            return
        offsets, skips = [], []
        for name in names:
            h1, h2 = name_hashes(name, 2, DOMAIN)
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
