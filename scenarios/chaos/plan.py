"""The chaos soak's schedule, drawn from a seed before anything runs (pure, deterministic): which
faults the nemesis injects when and for how long, and which config writes go out when. The same
seed, lab topology and options give the same schedule, so a failing run can be repeated.

The nemesis draws only from the hazards the node kinds declare (``NodeKind.hazards``: what the
design survives on a node, and the disruption users may see), and never holds more at once than
the design tolerates: at most ``concurrency`` faults, at most each role's ``fault_budget`` of
its nodes, and never two faults on one node (a partition occupies every node it names).
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lblab.kinds.base import Hazard

# LB algorithms a config write switches between: each needs no other option
WRITE_ALGORITHMS = ("round_robin", "least_connections", "power_of_two_choices", "random")


@dataclass(frozen=True)
class Candidate:
    """A hazard on one node, with every node the fault names (busy while it holds)."""

    role: str
    node: str
    hazard: Hazard
    nodes: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.hazard.label()


@dataclass(frozen=True)
class Step:
    index: int
    start: float          # seconds after the traffic start
    hold: float           # healed this long after it was applied
    candidate: Candidate

    @property
    def end(self) -> float:
        return self.start + self.hold


@dataclass(frozen=True)
class Timing:
    warmup: float = 3.0                       # a baseline without faults first
    gap: tuple[float, float] = (1.0, 5.0)     # from one injection to the next
    hold: tuple[float, float] = (2.0, 10.0)   # how long a fault lasts
    quiet_end: float = 10.0                   # all healed this long before the traffic ends
    concurrency: int = 2                      # faults at once, at most
    write_every: tuple[float, float] = (1.0, 4.0)   # between config writes

    def problems(self) -> list[tuple[str, str]]:
        """(option, why) for timings that cannot make a schedule."""
        found = []
        for name in ("gap", "hold", "write_every"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                found.append((name, f"needs 0 < low <= high, got {lo:g}..{hi:g}"))
        if self.warmup < 0 or self.quiet_end < 0:
            found.append(("warmup/quiet_end", "cannot be negative"))
        if self.concurrency < 1:
            found.append(("concurrency", f"must be at least 1, got {self.concurrency}"))
        return found


def candidates(hazards: Iterable[tuple[str, str, Hazard]], nodes_of, actions: Sequence[str] | None = None
               ) -> list[Candidate]:
    """Every (role, node, hazard) as a Candidate, in the order given (registry, then topology);
    ``nodes_of(action, params)`` names the nodes a fault touches; ``actions`` keeps only these."""
    out = []
    for role, node, hazard in hazards:
        if actions is not None and hazard.action not in actions:
            continue
        out.append(Candidate(role, node, hazard, tuple(nodes_of(hazard.action, hazard.params)) or (node,)))
    return out


def allowed(candidate: Candidate, active: Sequence[Step], budgets: dict[str, int], concurrency: int) -> bool:
    """Whether the design still holds with this fault added to those active."""
    if len(active) >= concurrency:
        return False
    busy = {node for step in active for node in step.candidate.nodes}
    if busy.intersection(candidate.nodes):
        return False
    same_role = sum(1 for step in active if step.candidate.role == candidate.role)
    return same_role < budgets.get(candidate.role, 0)


def nemesis_plan(pool: Sequence[Candidate], budgets: dict[str, int], duration: float, seed: int,
                 timing: Timing = Timing()) -> list[Step]:
    """The faults of a run: injected at random gaps from ``warmup`` on, each among those the design
    still tolerates at that moment, held a random time, all healed by duration - quiet_end."""
    rng = random.Random(f"nemesis:{seed}")
    last = duration - timing.quiet_end
    steps: list[Step] = []
    t = timing.warmup
    while True:
        t += rng.uniform(*timing.gap)
        if t + timing.hold[0] > last:
            return steps
        active = [s for s in steps if s.start <= t < s.end]
        usable = [c for c in pool if allowed(c, active, budgets, timing.concurrency)]
        if not usable:
            continue
        chosen = rng.choice(usable)
        start = round(t, 3)
        hold = math.floor(min(rng.uniform(*timing.hold), last - start) * 1000) / 1000   # ends by `last`
        steps.append(Step(len(steps), start, hold, chosen))


@dataclass(frozen=True)
class PlannedWrite:
    seq: int
    at: float
    changes: dict


def write_plan(duration: float, seed: int, timing: Timing = Timing(),
               values: Sequence[str] = WRITE_ALGORITHMS) -> list[PlannedWrite]:
    """Config writes through the whole run until half the quiet end is left (so the last one is
    seen served before the run ends), each switching the algorithm to another value."""
    rng = random.Random(f"writes:{seed}")
    writes: list[PlannedWrite] = []
    t, current = 0.0, None
    last = duration - timing.quiet_end / 2
    while True:
        t += rng.uniform(*timing.write_every)
        if t > last:
            return writes
        current = rng.choice([v for v in values if v != current])
        writes.append(PlannedWrite(len(writes), round(t, 3), {"algorithm": current}))
