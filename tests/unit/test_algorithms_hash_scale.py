"""Hash algorithms with 100 and 1000 backends: Maglev table sizing, what moves when a backend
goes down or leaves the config, balance. Shares are computed exactly from the tables (a sample of
keys would only see ~100 keys per backend at N = 1000); benchmarks/hash_scale.py reports the same
numbers with build times and memory."""
import functools
from bisect import bisect_left
from typing import get_args

import pytest

from lbapp.algorithms import make_balancer
from lbapp.algorithms.maglev import ENTRIES_PER_UNIT, SIZES, MaglevTable, is_prime, table_size_for
from lbapp.config.schema import ConfigError, HashOptions, parse_config

from tests.unit.test_algorithms_hash import KEYS, config, mapping, names


@functools.cache
def balancer(algorithm, n, down=None, fill=None):
    healthy = None if down is None else [x for x in names(n) if x != down]
    options = {"maglev_fill": fill} if fill else {}
    return make_balancer(config(algorithm, names(n), **options), healthy=healthy)


def maglev_entry_names(b):
    return [b._names[i] for i in b._table._table]


def ring_shares(b):
    points, owners = b._table._points, b._table._owners
    share = [0] * len(b._names)
    previous = points[-1] - 2**64
    for p, i in zip(points, owners):
        share[i] += p - previous
        previous = p
    return {b._names[i]: s / 2**64 for i, s in enumerate(share)}


# --- table size -----------------------------------------------------------------------------------

def test_sizes_are_primes_and_grow():
    assert all(is_prime(m) for m in SIZES) and list(SIZES) == sorted(SIZES)
    assert not is_prime(65536) and not is_prime(1) and is_prime(2)


def test_fills_are_the_schemas():
    assert set(ENTRIES_PER_UNIT) == set(get_args(HashOptions.model_fields["maglev_fill"].annotation))


@pytest.mark.parametrize("fill, weights, size", [
    ("stable", [1] * 3, 65537),
    ("stable", [1] * 65, 65537),       # 1000 entries per backend still fit
    ("stable", [1] * 66, 131071),
    ("stable", [1] * 1000, 1048573),
    ("stable", [3] * 1000, 1048573),   # only the ratio to the lightest weight counts
    ("stable", [1, 1000], 1048573),    # the weight-1 backend gets >= 1000 entries
    ("stable", [1] * 10 + [1000] * 10, 1048573),   # would want more: capped at the largest
    ("exact", [1] * 655, 65537),       # 100 entries per backend
    ("exact", [1] * 656, 131071),
    ("exact", [1] * 1000, 131071),
    ("exact", [1, 1000], 131071),
    ("stable", [], 65537),
])
def test_table_size_from_weights(fill, weights, size):
    assert table_size_for(weights, fill) == size


@pytest.mark.parametrize("fill", sorted(ENTRIES_PER_UNIT))
def test_size_changes_only_at_a_rung(fill):
    """Every key's entry is hash % M: M must not follow each added backend."""
    sizes = [table_size_for([1] * n, fill) for n in range(1, 12000)]
    changes = [n for n in range(2, 12000) if sizes[n - 1] != sizes[n - 2]]
    assert len(changes) <= len(SIZES) - 1
    fits = SIZES[-1] // ENTRIES_PER_UNIT[fill]
    assert all(sizes[n - 1] >= ENTRIES_PER_UNIT[fill] * n for n in range(1, fits + 1))


def test_explicit_size_is_kept_and_checked():
    b = make_balancer(config("maglev", names(3), maglev_table_size=1009))
    assert b._table._m == 1009
    assert make_balancer(config("maglev", names(3)))._table._m == 65537
    with pytest.raises(ConfigError, match="maglev_table_size must be prime"):
        config("maglev", names(3), maglev_table_size=131072)
    with pytest.raises(ConfigError, match="maglev_table_size"):
        config("maglev", names(3), maglev_table_size=2_000_003)
    with pytest.raises(ConfigError, match="maglev_fill"):
        config("maglev", names(3), maglev_fill="paper")
    with pytest.raises(ConfigError, match="maglev_table_size"):
        parse_config({"backend_servers": ["a:1"], "hash": {"maglev_table_size": "big"}})


# --- a backend goes down: only its keys move ------------------------------------------------------

@pytest.mark.parametrize("n", [100, 1000])
@pytest.mark.parametrize("algorithm", ["maglev", "consistent_hash", "source_hash"])
def test_down_backend_moves_exactly_its_keys(algorithm, n):
    gone = f"be{n // 3}"
    up, down = balancer(algorithm, n), balancer(algorithm, n, gone)
    assert down._table is up._table            # health changes reuse the cached table
    keys = KEYS[:30_000]
    before, after = mapping(up, keys), mapping(down, keys)
    assert gone not in after
    assert all(a == b for b, a in zip(before, after) if b != gone)
    heirs = {a for b, a in zip(before, after) if b == gone}
    assert len(heirs) > 1   # spread, not one heir


@pytest.mark.parametrize("n", [100, 1000])
def test_exact_maglev_down_backend_moves_its_exact_share(n):
    """Every backend holds M/N entries (+-1), so one going down moves 1/N of the keys."""
    b = balancer("maglev", n, fill="exact")
    m = b._table._m
    shares = b._table.shares()
    assert max(shares) - min(shares) <= 1
    assert all(abs(s / m * n - 1) < 0.01 for s in shares)


@pytest.mark.parametrize("n, spread", [(100, 0.15), (1000, 0.15)])
def test_stable_maglev_shares_are_even_at_scale(n, spread):
    """At >= 1000 entries per backend the shares vary by ~3% (1/sqrt(1000)); 15% is ~5 sigma."""
    shares = balancer("maglev", n)._table.shares()
    mean = sum(shares) / n
    assert max(shares) / mean <= 1 + spread and min(shares) / mean >= 1 - spread


# --- a backend leaves the config: the table is rebuilt -------------------------------------------

def maglev_moved_ratio(n, fill, removed=2):
    full = balancer("maglev", n, fill=fill)
    rest = names(n)[:removed] + names(n)[removed + 1:]
    fewer = make_balancer(config("maglev", rest, maglev_fill=fill))
    assert fewer._table._m == full._table._m
    a, b = maglev_entry_names(full), maglev_entry_names(fewer)
    moved = [(x, y) for x, y in zip(a, b) if x != y]
    return len(moved) / len(a) * n, moved


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_stable_maglev_config_removal_moves_only_the_removed_backends_keys(n):
    for removed in (2, n // 2, n - 1):
        ratio, moved = maglev_moved_ratio(n, "stable", removed)
        gone = names(n)[removed]
        assert all(x == gone for x, _ in moved)        # nothing else moved
        assert ratio <= 1.1, ratio                     # and its share was ~1/N
        assert len({y for _, y in moved}) > min(n - 1, 5)   # spread over the others


def test_stable_maglev_weight_change_moves_only_to_or_from_that_backend():
    one = make_balancer(config("maglev", names(50), [1] * 50))
    two = make_balancer(config("maglev", names(50), [1] * 10 + [3] + [1] * 39))
    assert one._table._m == two._table._m
    moved = [(x, y) for x, y in zip(maglev_entry_names(one), maglev_entry_names(two)) if x != y]
    assert moved and all(y == "be10" for _, y in moved)
    assert 1.5 < len(moved) / one._table._m * 52 < 2.5   # be10 went from 1/50 to 3/52


@pytest.mark.parametrize("n, low, high", [(100, 1.0, 1.8), (1000, 1.0, 8.0)])
def test_exact_maglev_config_removal_moves_more_than_ideal_at_scale(n, low, high):
    """The paper's fill trades stability for exact balance: rebuilding without one of N backends
    moves 1.6x (N = 100) and ~6.7x (N = 1000) the ideal 1/N (benchmarks/hash_scale.py). The
    bound catches a regression; the ratio is why the stable fill is the default."""
    assert low <= maglev_moved_ratio(n, "exact")[0] <= high


@pytest.mark.parametrize("n, spread", [(100, 0.35), (1000, 0.45)])
def test_ring_at_scale_moves_only_the_removed_nodes_keys_and_stays_balanced(n, spread):
    full = balancer("consistent_hash", n)
    fewer = make_balancer(config("consistent_hash", names(n)[:2] + names(n)[3:]))
    points = sorted(set(full._table._points) | set(fewer._table._points))

    def owner(b, h):
        k = bisect_left(b._table._points, h)
        return b._names[b._table._owners[k if k < len(b._table._points) else 0]]
    # every arc between merged points either keeps its owner or belonged to be2
    assert all(owner(full, p) == owner(fewer, p) or owner(full, p) == "be2" for p in points[::7])
    shares = ring_shares(full)
    assert max(shares.values()) * n <= 1 + spread and min(shares.values()) * n >= 1 - spread


@pytest.mark.parametrize("fill", sorted(ENTRIES_PER_UNIT))
def test_maglev_build_at_1000_backends_is_balanced_and_interleaved(fill):
    table = MaglevTable(names(1000), [1] * 1000, 131071, fill)
    shares = table.shares()
    assert max(shares) - min(shares) <= (1 if fill == "exact" else 80)   # stable: 131 +- 11.4
    runs = sum(a != b for a, b in zip(table._table, table._table[1:]))
    assert runs > 0.99 * len(table._table)
