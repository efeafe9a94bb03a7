"""Hash algorithms: determinism, fall-through, disruption on backend changes, balance, and
bounded loads."""
import functools
import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from lbapp.algorithms import make_balancer
from lbapp.algorithms.maglev import MaglevTable
from lbapp.algorithms.ring import MAX_POINTS, HashRing
from lbapp.config.schema import parse_config

HASHES = ["source_hash", "consistent_hash", "maglev"]
KEYS = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}".encode() for i in range(100_000)]
REPO = Path(__file__).resolve().parents[2]


def config(algorithm, names, weights=None, **hash_options):
    weights = weights or [1] * len(names)
    return parse_config({
        "backend_servers": [{"name": n, "address": f"10.1.0.{i + 11}", "port": 8080, "weight": w}
                            for i, (n, w) in enumerate(zip(names, weights))],
        "algorithm": algorithm,
        "hash": hash_options,
    })


def names(n):
    return [f"be{i}" for i in range(n)]


def mapping(balancer, keys=KEYS, exclude=()):
    return [balancer.pick(k, exclude) for k in keys]


@functools.cache
def all_keys_mapping(algorithm, backends):
    """Where each of KEYS goes with these equally weighted backends (shared by several tests)."""
    return mapping(make_balancer(config(algorithm, list(backends))))


# --- determinism ---------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", HASHES)
def test_same_key_same_backend_across_independent_balancers(algorithm):
    keys = KEYS[:5000]
    one = make_balancer(config(algorithm, names(6)))
    two = make_balancer(config(algorithm, list(reversed(names(6)))))  # listing order is irrelevant
    assert mapping(one, keys) == mapping(one, keys) == mapping(two, keys)
    assert len(set(mapping(one, keys))) == 6
    # and the fall-through choices too
    assert mapping(one, keys, {"be1", "be4"}) == mapping(two, keys, {"be4", "be1"})


def test_mapping_is_the_same_in_another_process():
    """Python's hash() is salted per process; the LB pair must agree on every key."""
    keys = [k.decode() for k in KEYS[:300]]
    code = (
        "import json, sys\n"
        "from lbapp.algorithms import make_balancer\n"
        "from lbapp.config.schema import parse_config\n"
        "docs, keys = json.loads(sys.stdin.read())\n"
        "balancers = [make_balancer(parse_config(d)) for d in docs]\n"
        "print(json.dumps([[b.pick(k.encode(), ['be2']) for k in keys] for b in balancers]))\n"
    )
    docs = [json.loads(config(a, names(5)).model_dump_json()) for a in HASHES]
    env = {**os.environ, "PYTHONHASHSEED": "4242", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps([docs, keys]), env=env,
                         cwd=REPO, capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout)
    balancers = [make_balancer(parse_config(d)) for d in docs]
    ours = [[b.pick(k.encode(), ["be2"]) for k in keys] for b in balancers]
    assert theirs == ours


@pytest.mark.parametrize("algorithm", HASHES)
def test_missing_key_is_tolerated(algorithm):
    balancer = make_balancer(config(algorithm, names(3)))
    assert balancer.pick(None) == balancer.pick(b"") in names(3)


# --- fall-through on exclude ---------------------------------------------------------------------

def test_ring_falls_through_to_next_distinct_node_clockwise():
    keys = KEYS[:20_000]
    full = make_balancer(config("consistent_hash", names(5)))
    for gone in ({"be3"}, {"be0", "be3"}):
        without = make_balancer(config("consistent_hash", [n for n in names(5) if n not in gone]))
        # Skipping a node's points is exactly the ring without that node.
        assert mapping(full, keys, gone) == mapping(without, keys)


@pytest.mark.parametrize("algorithm", HASHES)
def test_excluded_backends_keys_spread_over_the_others(algorithm):
    balancer = make_balancer(config(algorithm, names(5)))
    primary = mapping(balancer, KEYS[:50_000])
    fallen = [balancer.pick(k, {"be0"}) for k, p in zip(KEYS, primary) if p == "be0"]
    others = [balancer.pick(k, {"be0"}) for k, p in zip(KEYS, primary) if p != "be0"]
    assert others == [p for p in primary if p != "be0"]  # nobody else's keys move
    got = Counter(fallen)
    assert set(got) == {"be1", "be2", "be3", "be4"}
    for count in got.values():  # not all onto one neighbour
        assert count / len(fallen) == pytest.approx(0.25, abs=0.08), got


def test_source_hash_backend_going_down_moves_only_its_keys():
    up = make_balancer(config("source_hash", names(5), [2, 1, 1, 1, 1]))
    down = make_balancer(config("source_hash", names(5), [2, 1, 1, 1, 1]),
                         healthy=["be0", "be1", "be3", "be4"])
    before, after = mapping(up, KEYS[:30_000]), mapping(down, KEYS[:30_000])
    assert "be2" not in after
    assert all(b == a for b, a in zip(before, after) if b != "be2")
    assert len({a for b, a in zip(before, after) if b == "be2"}) == 4


# --- disruption and balance ----------------------------------------------------------------------

def moved_ratio(algorithm, n, change):
    """Share of keys that change backend between n-1 and n backends, over the ideal 1/n."""
    all_names = names(n)
    if change == "remove":  # n backends -> n-1
        before, after = all_names, all_names[:2] + all_names[3:]
    else:  # n-1 backends -> n
        before, after = all_names[:-1], all_names
    one = all_keys_mapping(algorithm, tuple(before))
    two = all_keys_mapping(algorithm, tuple(after))
    moved = sum(a != b for a, b in zip(one, two)) / len(KEYS)
    return moved / (1 / n), one, two


@pytest.mark.parametrize("n", [5, 10])
@pytest.mark.parametrize("change", ["remove", "add"])
@pytest.mark.parametrize("algorithm", ["consistent_hash", "maglev"])
def test_few_keys_move_when_a_backend_is_removed_or_added(algorithm, change, n):
    ratio, one, two = moved_ratio(algorithm, n, change)
    assert 0.5 <= ratio <= 1.2, ratio
    if algorithm == "consistent_hash":  # a ring moves nothing but the changed node's keys
        changed = "be2" if change == "remove" else f"be{n - 1}"
        assert all(changed in (a, b) for a, b in zip(one, two) if a != b)


def test_modulo_source_hash_moves_most_keys_for_contrast():
    ratio, _, _ = moved_ratio("source_hash", 5, "add")
    assert ratio > 2


@pytest.mark.parametrize("algorithm, bound", [("maglev", 1.1), ("consistent_hash", 1.25),
                                              ("source_hash", 1.1)])
@pytest.mark.parametrize("n", [5, 10])
def test_keys_are_balanced(algorithm, bound, n):
    load = Counter(all_keys_mapping(algorithm, tuple(names(n))))
    assert len(load) == n
    assert max(load.values()) / (len(KEYS) / n) <= bound, load


def test_exact_maglev_table_shares_follow_weights_exactly():
    weights = [1, 2, 3, 4, 7]
    shares = MaglevTable(names(5), weights, 65537, "exact").shares()
    for share, w in zip(shares, weights):
        assert abs(share - 65537 * w / sum(weights)) < 1


def test_stable_maglev_table_shares_follow_weights():
    weights = [1, 2, 3, 4, 7]
    shares = MaglevTable(names(5), weights, 65537).shares()
    for share, w in zip(shares, weights):
        assert share == pytest.approx(65537 * w / sum(weights), rel=0.06)


@pytest.mark.parametrize("fill", ["stable", "exact"])
def test_maglev_entries_are_interleaved_not_clustered(fill):
    table = MaglevTable(names(4), [1, 1, 1, 1], 65537, fill)._table
    runs = sum(a != b for a, b in zip(table, table[1:]))
    assert runs > 0.7 * len(table)  # 3/4 expected for a random-looking table


def test_stable_maglev_is_a_function_of_the_backends_not_their_order():
    weights = [1, 2, 1, 1, 3, 1, 1]
    one = MaglevTable(names(7), weights, 1009)
    assert list(one._table) == list(MaglevTable(names(7), weights, 1009)._table)
    assert set(MaglevTable(["only"], [5], 1009)._table) == {0}
    listed = make_balancer(config("maglev", names(7), weights))
    reversed_ = make_balancer(config("maglev", names(7)[::-1], weights[::-1]))
    assert mapping(listed, KEYS[:5000]) == mapping(reversed_, KEYS[:5000])


def test_ring_weight_increase_only_moves_keys_to_that_backend():
    one = mapping(make_balancer(config("consistent_hash", names(4), [1, 1, 1, 1])), KEYS[:30_000])
    two = mapping(make_balancer(config("consistent_hash", names(4), [1, 1, 3, 1])), KEYS[:30_000])
    moved = [(a, b) for a, b in zip(one, two) if a != b]
    assert moved and all(b == "be2" for _, b in moved)
    assert Counter(two)["be2"] / len(two) == pytest.approx(0.5, abs=0.04)


def test_ring_with_huge_weights_is_capped_but_proportional():
    ring = HashRing(names(10), [1000] * 9 + [500], 160)
    assert len(ring._points) <= MAX_POINTS + 10
    load = Counter(ring.lookup(int.from_bytes(os.urandom(8), "little")) for _ in range(20_000))
    assert load[9] / 20_000 == pytest.approx(500 / 9500, abs=0.015)


# --- bounded loads -------------------------------------------------------------------------------

def bound(load_total, weight, weight_sum, factor=Fraction(5, 4)):
    return math.ceil(factor * (load_total + 1) * weight / weight_sum)


def skewed_keys(rng, count):
    # 60% of requests carry one hot key; the rest a few dozen others.
    return [b"hot" if rng.random() < 0.6 else f"k{rng.randrange(40)}".encode()
            for _ in range(count)]


def drive(balancer, weights, exclude=(), steps=6000, concurrency=60, seed=5):
    """Start requests with skewed keys while finishing random ones; at each pick, check the
    chosen backend stays within its bound. Returns where the hot key went."""
    rng = random.Random(seed)
    active = []
    hot = Counter()
    considered = {n: w for n, w in weights.items() if n not in exclude}
    for key in skewed_keys(rng, steps):
        load = balancer.in_flight()
        assert all(count >= 0 for count in load.values())
        total = sum(load[n] for n in considered)
        name = balancer.pick(key, exclude)
        assert name in considered
        assert load[name] + 1 <= bound(total, considered[name], sum(considered.values())), (
            name, load, total)
        balancer.on_start(name)
        active.append(name)
        if key == b"hot":
            hot[name] += 1
        while len(active) > concurrency or (active and rng.random() < 0.3):
            balancer.on_finish(active.pop(rng.randrange(len(active))))
    return hot


@pytest.mark.parametrize("algorithm", HASHES)
def test_bounded_load_keeps_every_backend_within_bound(algorithm):
    weights = {n: 1 for n in names(5)}
    balancer = make_balancer(config(algorithm, names(5), bounded_load={"balance_factor": 1.25}))
    hot = drive(balancer, weights)
    assert len(hot) >= 3  # the hot key overflowed its backend onto others
    # The ones that came first in the hot key's fall-through order took most of it.
    assert hot.most_common(1)[0][1] > 0.25 * sum(hot.values())


@pytest.mark.parametrize("algorithm", HASHES)
def test_bounded_load_is_weight_aware_and_honours_exclude(algorithm):
    weights = {"be0": 3, "be1": 1, "be2": 1, "be3": 2, "be4": 1}
    balancer = make_balancer(config(algorithm, list(weights), list(weights.values()),
                                    bounded_load={"balance_factor": 1.25}))
    drive(balancer, weights)
    drive(balancer, weights, exclude={"be0"})


def test_without_bounded_load_the_hot_key_overloads_its_backend():
    """The scenario above is skewed enough to break the bound when nothing enforces it."""
    plain = make_balancer(config("maglev", names(5)))
    bounded = make_balancer(config("maglev", names(5), bounded_load={"balance_factor": 1.25}))
    rng = random.Random(5)
    loads = Counter()
    for key in skewed_keys(rng, 200):
        loads[plain.pick(key)] += 1
    assert max(loads.values()) > bound(200, 1, 5)
    for key in skewed_keys(rng, 200):
        bounded.on_start(bounded.pick(key))
    assert max(bounded.in_flight().values()) <= bound(199, 1, 5)


@pytest.mark.parametrize("algorithm", HASHES)
def test_bounded_load_idle_picks_match_plain_hashing(algorithm):
    plain = make_balancer(config(algorithm, names(5)))
    bounded = make_balancer(config(algorithm, names(5), bounded_load={"balance_factor": 1.25}))
    keys = KEYS[:3000]
    assert mapping(bounded, keys) == mapping(plain, keys)
    assert mapping(bounded, keys, {"be1"}) == mapping(plain, keys, {"be1"})


def test_bounded_load_at_factor_one_is_exact():
    balancer = make_balancer(config("consistent_hash", names(4),
                                    bounded_load={"balance_factor": 1}))
    for _ in range(400):
        balancer.on_start(balancer.pick(b"hot"))
    assert set(balancer.in_flight().values()) == {100}
