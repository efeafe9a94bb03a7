"""Balancing algorithms: the contract for every algorithm, and the non-hash algorithms."""
import random
from collections import Counter

import pytest

from lbapp.algorithms import Balancer, make_balancer, uses_table
from lbapp.algorithms.base import Pool
from lbapp.algorithms.weighted import SmoothWeightedRoundRobin
from lbapp.config.schema import ALGORITHMS, parse_config


def config(algorithm, weights=(1, 1, 1), names=None, **extra):
    names = names or [f"be{i}" for i in range(len(weights))]
    return parse_config({
        "backend_servers": [{"name": n, "address": f"10.1.0.{i + 11}", "port": 8080, "weight": w}
                            for i, (n, w) in enumerate(zip(names, weights))],
        "algorithm": algorithm,
        **extra,
    })


def build(algorithm, weights=(1, 1, 1), healthy=None, seed=1, **extra):
    return make_balancer(config(algorithm, weights, **extra), healthy, rng=random.Random(seed))


def picks(balancer, count, exclude=(), keys=None):
    keys = keys or [f"client-{i}".encode() for i in range(count)]
    return [balancer.pick(keys[i % len(keys)], exclude) for i in range(count)]


def shares(names, count):
    tally = Counter(names)
    return {name: tally[name] / count for name in tally}


# --- the contract, for every algorithm -----------------------------------------------------------

BOUNDED = {"hash": {"bounded_load": {"balance_factor": 1.25}}}
VARIANTS = [(a, {}) for a in ALGORITHMS] + [(a, BOUNDED) for a in ("source_hash", "consistent_hash",
                                                                    "maglev")]
IDS = [a + ("+bounded" if extra else "") for a, extra in VARIANTS]


@pytest.mark.parametrize("algorithm, extra", VARIANTS, ids=IDS)
def test_contract_shape(algorithm, extra):
    balancer = build(algorithm, **extra)
    assert isinstance(balancer, Balancer)
    assert balancer.needs_key is (algorithm in ("source_hash", "consistent_hash", "maglev"))
    name = balancer.pick(b"k")
    assert name in ("be0", "be1", "be2")
    balancer.on_start(name)
    balancer.on_finish(name)
    balancer.on_finish("unknown")  # tolerated: a request from a previous balancer


@pytest.mark.parametrize("algorithm, extra", VARIANTS, ids=IDS)
def test_never_picks_unhealthy_weight_zero_or_excluded(algorithm, extra):
    # be1 has weight 0, be3 is unhealthy, be2 is excluded: be0 and be4 remain.
    balancer = build(algorithm, (3, 0, 1, 1, 2), healthy=["be0", "be1", "be2", "be4", "ghost"],
                     **extra)
    got = Counter(picks(balancer, 3000, exclude={"be2"}))
    assert set(got) == {"be0", "be4"}
    got = Counter(picks(balancer, 3000))
    assert set(got) == {"be0", "be2", "be4"}


@pytest.mark.parametrize("algorithm, extra", VARIANTS, ids=IDS)
def test_only_remaining_backend_is_picked(algorithm, extra):
    balancer = build(algorithm, (1, 2, 3, 4, 5), **extra)
    for exclude in ({"be0", "be1", "be2", "be3"}, ["be1", "be2", "be3", "be4"]):
        (left,) = {f"be{i}" for i in range(5)} - set(exclude)
        assert set(picks(balancer, 500, exclude=exclude)) == {left}


@pytest.mark.parametrize("algorithm, extra", VARIANTS, ids=IDS)
def test_none_when_nothing_usable(algorithm, extra):
    balancer = build(algorithm, (1, 2, 0), **extra)
    assert balancer.pick(b"k", {"be0", "be1"}) is None
    assert balancer.pick(b"k", frozenset({"be0", "be1", "be2"})) is None
    assert balancer.pick(b"k") in ("be0", "be1")  # state not broken by the failed picks
    assert build(algorithm, (1, 1), healthy=[], **extra).pick(b"k") is None
    assert build(algorithm, (1, 1), healthy=["other"], **extra).pick(b"k") is None
    assert build(algorithm, (0, 0), **extra).pick(b"k") is None


@pytest.mark.parametrize("algorithm, extra", VARIANTS, ids=IDS)
def test_single_backend(algorithm, extra):
    balancer = build(algorithm, (4,), **extra)
    assert set(picks(balancer, 50)) == {"be0"}
    assert balancer.pick(b"k", ["be0"]) is None


# --- distribution against weights ----------------------------------------------------------------

WEIGHTED = ["weighted_round_robin", "least_connections", "power_of_two_choices", "random",
            "source_hash", "consistent_hash", "maglev"]


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_shares_follow_weights(algorithm):
    # least_connections and p2c with no request in flight: weights decide alone.
    weights = (4, 3, 2, 1)
    n = 100_000
    got = shares(picks(build(algorithm, weights), n), n)
    for i, w in enumerate(weights):
        assert got[f"be{i}"] == pytest.approx(w / sum(weights), abs=0.02), got


@pytest.mark.parametrize("algorithm", ["weighted_round_robin", "least_connections", "random",
                                       "power_of_two_choices"])
def test_shares_among_the_rest_when_one_is_excluded(algorithm):
    weights = (4, 3, 1)
    n = 40_000
    got = shares(picks(build(algorithm, weights), n, exclude={"be0"}), n)
    assert got["be1"] == pytest.approx(0.75, abs=0.02), got
    assert got["be2"] == pytest.approx(0.25, abs=0.02), got


def test_round_robin_ignores_weights_and_cycles():
    balancer = build("round_robin", (5, 1, 1))
    assert picks(balancer, 7) == ["be0", "be1", "be2", "be0", "be1", "be2", "be0"]


def test_round_robin_skips_excluded_and_keeps_cycling():
    balancer = build("round_robin", (1, 1, 1, 1))
    assert picks(balancer, 6, exclude={"be1"}) == ["be0", "be2", "be3", "be0", "be2", "be3"]


# --- smooth weighted round robin -----------------------------------------------------------------

def test_weighted_round_robin_interleaves_like_nginx():
    balancer = build("weighted_round_robin", (5, 1, 1), names=["a", "b", "c"])
    assert "".join(picks(balancer, 21)) == "aabacaa" * 3


def test_weighted_round_robin_common_factor_changes_nothing():
    assert (picks(build("weighted_round_robin", (50, 10, 10)), 14)
            == picks(build("weighted_round_robin", (5, 1, 1)), 14))


def test_weighted_round_robin_live_path_matches_table():
    pool = Pool(("a", "b", "c", "d"), (7, 3, 2, 1))
    table = SmoothWeightedRoundRobin(pool)
    live = SmoothWeightedRoundRobin(pool, table_limit=0)
    assert table._seq is not None and live._seq is None
    assert [table.pick() for _ in range(200)] == [live.pick() for _ in range(200)]


def test_weighted_round_robin_excluded_share_stays_interleaved():
    balancer = build("weighted_round_robin", (5, 1, 1), names=["a", "b", "c"])
    got = "".join(picks(balancer, 12, exclude={"a"}))
    assert got.count("b") == got.count("c") == 6
    assert "bb" not in got and "cc" not in got


def test_weighted_round_robin_large_weights_are_exact():
    weights = (997, 991, 3)
    balancer = build("weighted_round_robin", weights)
    got = Counter(picks(balancer, sum(weights)))
    assert [got[f"be{i}"] for i in range(3)] == list(weights)


# --- least connections ---------------------------------------------------------------------------

def test_least_connections_follows_in_flight():
    balancer = build("least_connections", (1, 1, 1))
    first = [balancer.pick() for _ in range(3)]
    for name in first:
        balancer.on_start(name)
    assert sorted(first) == ["be0", "be1", "be2"]  # idle ties rotate
    balancer.on_start("be0")
    balancer.on_start("be2")  # be0: 2, be1: 1, be2: 2
    assert set(picks(balancer, 10)) == {"be1"}
    balancer.on_finish("be0")
    balancer.on_finish("be0")  # be0: 0
    assert set(picks(balancer, 10)) == {"be0"}
    assert balancer.pick(None, {"be0"}) == "be1"


def test_least_connections_idle_ties_rotate():
    balancer = build("least_connections", (1, 1, 1))
    assert picks(balancer, 6) == ["be0", "be1", "be2", "be0", "be1", "be2"]
    balancer.on_start("be1")
    assert picks(balancer, 4) == ["be0", "be2", "be0", "be2"]
    assert picks(balancer, 4, exclude={"be2"}) == ["be0"] * 4


def test_least_connections_is_per_unit_of_weight():
    balancer = build("least_connections", (3, 1))
    for _ in range(2):
        balancer.on_start("be0")  # 2/3 < 1/1 once be1 has one
    balancer.on_start("be1")
    assert set(picks(balancer, 5)) == {"be0"}
    balancer.on_start("be0")  # 3/3 == 1/1: tie, broken by weight 3:1
    got = Counter(picks(balancer, 400))
    assert got == {"be0": 300, "be1": 100}


def test_least_connections_spreads_concurrent_requests_by_weight():
    balancer = build("least_connections", (3, 2, 1))
    for _ in range(600):
        balancer.on_start(balancer.pick())
    assert balancer.in_flight() == {"be0": 300, "be1": 200, "be2": 100}


def test_least_connections_unmatched_finish_does_not_go_negative():
    balancer = build("least_connections", (1, 1))
    balancer.on_finish("be0")
    balancer.on_finish("be0")
    balancer.on_start("be1")
    assert balancer.in_flight() == {"be0": 0, "be1": 1}
    assert balancer.pick() == "be0"


# --- power of two choices ------------------------------------------------------------------------

def test_p2c_avoids_the_loaded_backend():
    balancer = build("power_of_two_choices", (1, 1, 1))
    for _ in range(5):
        balancer.on_start("be1")
    got = Counter(picks(balancer, 2000))
    assert set(got) == {"be0", "be2"}  # any pair holding be1 has a less loaded other member
    assert abs(got["be0"] - got["be2"]) < 200


def test_p2c_compares_load_per_unit_of_weight():
    balancer = build("power_of_two_choices", (3, 1))
    balancer.on_start("be0")
    balancer.on_start("be0")  # 2/3
    balancer.on_start("be1")  # 1/1
    assert set(picks(balancer, 200)) == {"be0"}
    balancer.on_start("be0")
    balancer.on_start("be0")  # 4/3
    assert set(picks(balancer, 200)) == {"be1"}


def test_p2c_keeps_load_balanced_under_concurrency():
    balancer = build("power_of_two_choices", (1,) * 8)
    rng = random.Random(3)
    active = []
    for _ in range(20_000):
        name = balancer.pick()
        balancer.on_start(name)
        active.append(name)
        if len(active) > 80:
            balancer.on_finish(active.pop(rng.randrange(len(active))))
    loads = balancer.in_flight().values()
    assert max(loads) - min(loads) <= 6


def test_p2c_excluded_never_picked_and_pairs_distinct():
    balancer = build("power_of_two_choices", (1, 1, 1))
    balancer.on_start("be0")
    balancer.on_start("be0")
    # Only be0 and be2 left: the pair is always {be0, be2}, and be2 is less loaded.
    assert set(picks(balancer, 300, exclude={"be1"})) == {"be2"}


@pytest.mark.parametrize("algorithm", ["power_of_two_choices", "random"])
def test_random_algorithms_are_reproducible_with_a_seed(algorithm):
    assert picks(build(algorithm, (3, 2, 1), seed=7), 300) == picks(build(algorithm, (3, 2, 1),
                                                                          seed=7), 300)
    assert picks(build(algorithm, (3, 2, 1), seed=7), 300) != picks(build(algorithm, (3, 2, 1),
                                                                          seed=8), 300)


def test_unknown_algorithm_is_rejected():
    cfg = config("round_robin").model_copy(update={"algorithm": "fastest"})
    with pytest.raises(ValueError):
        make_balancer(cfg)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_only_hash_algorithms_have_a_table_to_build_off_the_loop(algorithm):
    assert uses_table(config(algorithm)) == (algorithm in ("source_hash", "consistent_hash", "maglev"))
