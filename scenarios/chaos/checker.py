"""The chaos soak's checker: pure functions over the recorded histories, each returning the
violations it finds (none: the invariant held). Times are seconds after the traffic start.

- ``disruptions``: every window of failed operations is explained by a fault that was active
  then (from a little before it was applied until it had settled after its heal) and may
  disrupt that kind of traffic, and lasts no longer than that fault's limit (its floor from the
  failure catalogue x scale + slack; a fault held as a degradation, like packet loss, may
  cause failures for as long as it is held).
- ``config_order``: every LB server's served config version never goes back (none reverted).
- ``config_known``: every version served is one some write put there (or the one before the
  run), with the value that write put there.
- ``config_delivered``: every acknowledged write is served by every LB server within the
  delivery bound (one poll period and slack) of its acknowledgement, where the bound starts
  again from the heal of any fault on that LB that was active meanwhile (none lost); and at
  the end every LB serves the last acknowledged write or a later one.
- ``nemesis``: every fault drawn was applied and healed.
- ``recovery``: after the final heal every daemon runs again and the lab converges.
- ``leftovers``: nothing of the lab remains after `lblab down`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FaultSpan:
    index: int
    label: str
    nodes: tuple[str, ...]
    start: float                     # applied (s)
    end: float | None                # healed (None: never healed)
    disruption: dict[str, float] = field(default_factory=dict)   # traffic kind -> floor (s)
    floor: str = ""
    while_held: bool = False
    status: str = "healed"           # healed | apply_failed | heal_failed | skipped


@dataclass(frozen=True)
class Write:
    seq: int
    sent: float
    value: str                       # the algorithm it set
    acked: float | None = None       # when the write was acknowledged (None: failed or unknown)
    revision: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Observation:
    """One successful poll of an LB server's /-/status."""
    t: float
    lb: str
    pid: int
    version: int
    value: str                       # the algorithm it serves


@dataclass(frozen=True)
class TrafficWindow:
    kind: str                        # http | dns
    start: float
    end: float
    failures: int
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Limits:
    delivery: float                  # s from an acknowledged write to every LB serving it
    scale: float = 2.0               # a disruption may last floor x scale + slack
    slack: float = 0.5
    lead: float = 0.25               # a fault may show this long before its recorded start
    settle: float = 2.0              # ... and this long after its heal

    def disruption_limit(self, floor: float) -> float:
        return floor * self.scale + self.slack


@dataclass(frozen=True)
class Violation:
    check: str
    message: str
    t_from: float
    t_to: float


def _fmt(t: float | None) -> str:
    return "never" if t is None else f"+{t:.2f}s"


# ------------------------------------------------------------------------------- disruptions
def disruptions(windows: Iterable[TrafficWindow], faults: Sequence[FaultSpan], limits: Limits,
                run_end: float) -> list[Violation]:
    found = []
    for w in windows:
        near = [f for f in faults if w.kind in f.disruption and f.status != "skipped"
                and f.start - limits.lead <= w.start <= (run_end if f.end is None else f.end) + limits.settle]
        held = [f for f in near if f.while_held and w.end <= (run_end if f.end is None else f.end) + limits.settle]
        bounded = [f for f in near if not f.while_held and w.duration <= limits.disruption_limit(f.disruption[w.kind])]
        if held or bounded:
            continue
        what = f"{w.kind} disruption {_fmt(w.start)}..{_fmt(w.end)} ({w.duration:.3f}s, {w.failures} failed: " \
               + ", ".join(f"{k} {v}" for k, v in sorted(w.outcomes.items())) + ")"
        if near:
            allowed = max(limits.disruption_limit(f.disruption[w.kind]) for f in near if not f.while_held) \
                if any(not f.while_held for f in near) else 0.0
            names = "; ".join(f"{f.label} (floor {f.disruption[w.kind]:g}s: {f.floor})" for f in near)
            found.append(Violation("disruptions", f"{what} is longer than its faults allow ({allowed:.2f}s): {names}",
                                   w.start, w.end))
        else:
            found.append(Violation("disruptions", f"{what} is explained by no fault active then", w.start, w.end))
    return found


# ------------------------------------------------------------------------------------ config
def by_lb(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in sorted(observations, key=lambda o: o.t):
        out.setdefault(o.lb, []).append(o)
    return out


def config_order(observations: Iterable[Observation]) -> list[Violation]:
    found = []
    for lb, seen in by_lb(observations).items():
        for before, after in zip(seen, seen[1:]):
            if after.version < before.version:
                found.append(Violation("config_order", f"{lb} served v{after.version} at {_fmt(after.t)} (pid {after.pid}) "
                                       f"after v{before.version} at {_fmt(before.t)} (pid {before.pid}): reverted",
                                       before.t, after.t))
    return found


def config_known(observations: Iterable[Observation], writes: Sequence[Write], initial: dict[int, str],
                 resolved: dict[int, str]) -> list[Violation]:
    """``initial``: revision -> value served before the run; ``resolved``: revision -> value etcd
    held at revisions no acknowledgement named (a write that failed after it was applied)."""
    written = {w.revision: w.value for w in writes if w.revision is not None}
    attempted = {w.value for w in writes}
    found, reported = [], set()
    for o in sorted(observations, key=lambda o: o.t):
        key = (o.lb, o.version)
        if key in reported:
            continue
        if o.version in written or o.version in initial:
            expected = written.get(o.version, initial.get(o.version))
        elif o.version in resolved and resolved[o.version] in attempted:
            expected = resolved[o.version]
        else:
            reported.add(key)
            found.append(Violation("config_known", f"{o.lb} served v{o.version} at {_fmt(o.t)}, a version no write "
                                   "made" + (f" (etcd held {resolved[o.version]!r} there)" if o.version in resolved else ""),
                                   o.t, o.t))
            continue
        if o.value != expected:
            reported.add(key)
            found.append(Violation("config_known", f"{o.lb} served v{o.version} as {o.value!r} at {_fmt(o.t)}, "
                                   f"but that version holds {expected!r}", o.t, o.t))
    return found


def _deadline(acked: float, lb: str, faults: Sequence[FaultSpan], bound: float, run_end: float) -> float:
    """When the LB must serve a write acknowledged at ``acked``: ``bound`` later, or ``bound``
    after the heal of the last fault on the LB that was active in the meantime."""
    deadline = acked + bound
    changed = True
    while changed:
        changed = False
        for f in faults:
            end = run_end if f.end is None else f.end
            if lb in f.nodes and f.start <= deadline and end > acked and end + bound > deadline:
                deadline, changed = end + bound, True
    return deadline


def config_delivered(writes: Sequence[Write], observations: Iterable[Observation], lbs: Sequence[str],
                     faults: Sequence[FaultSpan], limits: Limits, observed_until: float) -> list[Violation]:
    """Deadlines after ``observed_until`` (the last poll) are left to the final state: at the end
    every LB serves the last acknowledged write or a later one."""
    seen = by_lb(observations)
    acked = sorted((w for w in writes if w.revision is not None and w.acked is not None), key=lambda w: w.acked)
    if writes and not acked:
        return [Violation("config_delivered", f"none of {len(writes)} config writes was acknowledged: nothing to judge "
                          f"(first error: {writes[0].error})", writes[0].sent, observed_until)]
    found = []
    for lb in lbs:
        polls = seen.get(lb, [])
        for w in acked:
            deadline = _deadline(w.acked, lb, faults, limits.delivery, observed_until)
            if deadline > observed_until:
                continue
            served = next((o for o in polls if o.version >= w.revision), None)
            if served is None or served.t > deadline:
                before = [o for o in polls if o.t <= deadline]
                last = f"v{before[-1].version} at {_fmt(before[-1].t)}" if before else "nothing it was asked"
                when = f"first at {_fmt(served.t)}" if served else "never"
                found.append(Violation("config_delivered", f"{lb} did not serve v{w.revision} (write {w.seq}, "
                                       f"acknowledged {_fmt(w.acked)}) by {_fmt(deadline)}: it served {last}; "
                                       f"v{w.revision} or later {when}", w.acked, deadline))
        if acked:
            final = polls[-1] if polls else None
            if final is None or final.version < acked[-1].revision:
                found.append(Violation("config_delivered", f"{lb} ends serving "
                                       f"{'nothing' if final is None else f'v{final.version}'}, not the last "
                                       f"acknowledged write v{acked[-1].revision} (lost)", acked[-1].acked, observed_until))
    return found


# --------------------------------------------------------------------------- run-level checks
def nemesis(faults: Sequence[FaultSpan], run_end: float) -> list[Violation]:
    found = []
    for f in faults:
        if f.status in ("apply_failed", "heal_failed"):
            found.append(Violation("nemesis", f"fault {f.index} ({f.label}): {f.status.replace('_', ' ')}",
                                   f.start, run_end if f.end is None else f.end))
        elif f.end is None and f.status != "skipped":
            found.append(Violation("nemesis", f"fault {f.index} ({f.label}) was never healed", f.start, run_end))
    return found


def recovery(final: dict[str, Any], run_end: float) -> list[Violation]:
    """``final``: {converged: bool, detail, daemons: {node/daemon: state}} after the final heal."""
    found = []
    # "held": a daemon its node's agent keeps stopped on purpose (a standby or drained LB's)
    down = sorted(name for name, state in (final.get("daemons") or {}).items() if state not in ("running", "held"))
    if down:
        found.append(Violation("recovery", f"not running after the final heal: {', '.join(down)}", run_end, run_end))
    if not final.get("converged"):
        found.append(Violation("recovery", f"the lab did not converge after the final heal: {final.get('detail')}",
                               run_end, run_end))
    return found


def leftovers(found: dict[str, list] | None, run_end: float) -> list[Violation]:
    if not found:
        return []
    what = "; ".join(f"{kind}: {', '.join(map(str, items[:6]))}" for kind, items in sorted(found.items()))
    return [Violation("leftovers", f"left behind after lblab down: {what}", run_end, run_end)]
