"""make_balancer: the balancer for a config's algorithm over its usable backends."""
from __future__ import annotations

import random
from collections.abc import Iterable

from lbapp.algorithms.base import Balancer, Pool
from lbapp.algorithms.bounded import BoundedHashBalancer
from lbapp.algorithms.hash_balancer import HashBalancer, HashTable
from lbapp.algorithms.least_conn import LeastConnections
from lbapp.algorithms.maglev import MaglevTable
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
    options = config.hash
    usable = None
    if config.algorithm == "source_hash":
        # Slots come from every weighted backend, healthy or not: a backend going down then moves
        # only its own keys instead of reshuffling the modulo for everyone.
        pool = _by_name(Pool.from_config(config))
        if healthy is not None:
            up = frozenset(healthy)
            usable = [name in up for name in pool.names]
        table: HashTable = SlotTable(pool.weights)
    else:
        # Sorted by name, so the mapping depends on the backends, not the order they are listed.
        pool = _by_name(Pool.from_config(config, healthy))
        if config.algorithm == "consistent_hash":
            table = HashRing(pool.names, pool.weights, options.ring_vnodes)
        else:
            table = MaglevTable(pool.names, pool.weights, options.maglev_table_size)
    if options.bounded_load is not None:
        return BoundedHashBalancer(pool, table, options.bounded_load.balance_factor,
                                   usable=usable)
    return HashBalancer(pool, table, usable=usable)


def _by_name(pool: Pool) -> Pool:
    order = sorted(range(len(pool.names)), key=pool.names.__getitem__)
    return Pool(tuple(pool.names[i] for i in order), tuple(pool.weights[i] for i in order))
