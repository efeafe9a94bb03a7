"""make_balancer: the balancer for a config's algorithm over its usable backends."""
from __future__ import annotations

import functools
import random
from collections.abc import Iterable

from lbapp.algorithms.base import Balancer, Pool
from lbapp.algorithms.bounded import BoundedHashBalancer
from lbapp.algorithms.hash_balancer import HashBalancer, HashTable
from lbapp.algorithms.least_conn import LeastConnections
from lbapp.algorithms.maglev import MaglevTable, table_size_for
from lbapp.algorithms.p2c import PowerOfTwoChoices
from lbapp.algorithms.ring import HashRing
from lbapp.algorithms.round_robin import RoundRobin
from lbapp.algorithms.source_hash import SlotTable
from lbapp.algorithms.weighted import SmoothWeightedRoundRobin
from lbapp.algorithms.weighted_random import WeightedRandom
from lbapp.config.schema import LBConfig

__all__ = ["Balancer", "make_balancer"]


def make_balancer(config: LBConfig, healthy: Iterable[str] | None = None, *,
                  rng: random.Random | None = None) -> Balancer:
    """rng: randomness for random and power_of_two_choices (default: a fresh random.Random)."""
    algorithm = config.algorithm
    if algorithm == "round_robin":
        return RoundRobin(Pool.from_config(config, healthy))
    if algorithm == "weighted_round_robin":
        return SmoothWeightedRoundRobin(Pool.from_config(config, healthy))
    if algorithm == "least_connections":
        return LeastConnections(Pool.from_config(config, healthy))
    if algorithm == "power_of_two_choices":
        return PowerOfTwoChoices(Pool.from_config(config, healthy), rng=rng)
    if algorithm == "random":
        return WeightedRandom(Pool.from_config(config, healthy), rng=rng)
    if algorithm in ("source_hash", "consistent_hash", "maglev"):
        return _hash_balancer(config, healthy)
    raise ValueError(f"unknown balancing algorithm {algorithm!r}")


def _hash_balancer(config: LBConfig, healthy: Iterable[str] | None) -> Balancer:
    # The table comes from every weighted backend, healthy or not, sorted by name (so it depends
    # on the backends, not the order they are listed): a backend going down then moves only its
    # own keys, which fall through to the table's next choice, and health changes reuse the
    # cached table instead of rebuilding it.
    options = config.hash
    pool, table = _pool_and_table(config)
    usable = None
    if healthy is not None:
        up = frozenset(healthy)
        usable = [name in up for name in pool.names]
    if options.bounded_load is not None:
        return BoundedHashBalancer(pool, table, options.bounded_load.balance_factor,
                                   usable=usable)
    return HashBalancer(pool, table, usable=usable)


@functools.lru_cache(maxsize=4)
def hash_table(algorithm: str, names: tuple[str, ...], weights: tuple[int, ...],
               parameter: int, fill: str = "stable") -> HashTable:
    """The (immutable) lookup table; parameter: ring vnodes or Maglev table size."""
    if algorithm == "consistent_hash":
        return HashRing(names, weights, parameter)
    if algorithm == "maglev":
        return MaglevTable(names, weights, parameter, fill)
    return SlotTable(weights)


def _pool_and_table(config: LBConfig) -> tuple[Pool, HashTable]:
    pool = _by_name(Pool.from_config(config))
    if config.algorithm == "consistent_hash":
        parameter = config.hash.ring_vnodes
    elif config.algorithm == "maglev":
        fill = config.hash.maglev_fill
        parameter = config.hash.maglev_table_size or table_size_for(pool.weights, fill)
        return pool, hash_table("maglev", pool.names, pool.weights, parameter, fill)
    else:
        parameter = 0
    return pool, hash_table(config.algorithm, pool.names, pool.weights, parameter)


TABLE_ALGORITHMS = frozenset({"source_hash", "consistent_hash", "maglev"})


def uses_table(config: LBConfig) -> bool:
    """Whether the config's balancer needs a lookup table (``build_tables`` has work to do)."""
    return config.algorithm in TABLE_ALGORITHMS


def build_tables(config: LBConfig) -> None:
    """Build (and cache) the lookup table a config's balancer will use, so that make_balancer
    finds it ready: a Maglev table takes up to ~1 s to build, which the LB server does off its
    event loop (in a thread) before applying the config."""
    if uses_table(config):
        _pool_and_table(config)


def _by_name(pool: Pool) -> Pool:
    order = sorted(range(len(pool.names)), key=pool.names.__getitem__)
    return Pool(tuple(pool.names[i] for i in order), tuple(pool.weights[i] for i in order))
