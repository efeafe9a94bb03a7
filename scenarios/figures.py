"""The report's figures as data: pure functions over a result directory (scenarios.resultdir);
scenarios.plots draws them. Times are seconds from the traffic start (t0).

Series are bucketed by send time: counts per ``analysis.bucket`` (100 ms by default), latency
percentiles and shares per STAT_BUCKETS buckets (500 ms), so that a p99 has ~100 samples at the
reference lab's rates. A run long enough for more than MAX_BUCKETS buckets gets wider buckets
instead of a huge figure. Operations sent outside [0, duration) are left out.

Figure kinds form a registry (``BUILDERS``): each builder turns a result directory into zero or
more ``Figure``s (no traffic of a kind, no route polls: no figure), and scenarios.plots has one
drawer per kind.
"""
from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .analysis import is_failed, judged, percentile
from lblab.durations import format_duration as fd
from .resultdir import Fault, KindSummary, Result, ResultDir, RouteTrack, Window

MAX_BUCKETS = 4000
MAX_NAMES = 10           # per share figure; the rest are summed up as OTHER
OTHER = "(others)"
STAT_BUCKETS = 5
LABEL_CHARS = 40
TRAFFIC_KINDS = ("http", "dns")


# ------------------------------------------------------------------------------- buckets

@dataclass(frozen=True)
class Bins:
    width: float
    count: int

    def edges(self) -> list[float]:
        return [round(i * self.width, 9) for i in range(self.count + 1)]

    def index(self, t: float) -> int | None:
        if not math.isfinite(t):
            return None
        i = math.floor(t / self.width + 1e-9)
        return i if 0 <= i < self.count else None

    def wider(self, factor: int) -> "Bins":
        return Bins(self.width * factor, math.ceil(self.count / factor))


def bins_for(duration: float, bucket: float) -> Bins:
    width = max(bucket, duration / MAX_BUCKETS)
    return Bins(width, max(1, math.ceil(duration / width - 1e-9)))


def group(ops: Iterable[dict], t0: float, bins: Bins) -> list[list[dict]]:
    """Judged operations per bucket of send time."""
    groups: list[list[dict]] = [[] for _ in range(bins.count)]
    for rec in judged(ops):
        i = bins.index(rec["t_send"] - t0)
        if i is not None:
            groups[i].append(rec)
    return groups


def outcome_counts(groups: Sequence[Sequence[dict]]) -> dict[str, list[int]]:
    failed = [sum(1 for r in g if is_failed(r)) for g in groups]
    return {"ok": [len(g) - f for g, f in zip(groups, failed)], "failed": failed}


def _latency(rec: dict) -> float | None:
    value = rec.get("latency")
    if rec.get("outcome") != "ok" or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def latency_percentiles(groups: Sequence[Sequence[dict]], ps: Sequence[float] = (50, 99)) -> dict[str, list]:
    """p<N> of successful operations per bucket (None where a bucket has none) and their count."""
    out: dict[str, list] = {f"p{p:g}": [] for p in ps}
    out["count"] = []
    for g in groups:
        lat = [v for v in map(_latency, g) if v is not None]
        out["count"].append(len(lat))
        for p in ps:
            out[f"p{p:g}"].append(percentile(lat, p))
    return out


def _name(value: Any) -> str:
    if value is None or value == "":
        return "?"
    return value if isinstance(value, str) else json.dumps(value, default=str)[:LABEL_CHARS]


def shares(groups: Sequence[Sequence[dict]], key: str, limit: int = MAX_NAMES) -> dict[str, list[float]]:
    """Share of each value of ``key`` ("lb", "backend") among each bucket's successful operations
    (0 for every name in a bucket without one), names sorted; beyond ``limit`` names, those that
    served least are summed up as OTHER."""
    counts = [collections.Counter(_name(r.get(key)) for r in g if r.get("outcome") == "ok") for g in groups]
    totals = [sum(c.values()) for c in counts]
    overall = sum(counts, collections.Counter())
    names = sorted(overall)
    if len(names) > limit:
        kept = set(sorted(names, key=lambda n: (-overall[n], n))[:limit - 1])
        counts = [_fold(c, kept) for c in counts]
        names = sorted(kept) + [OTHER]
    return {n: [c[n] / total if total else 0.0 for c, total in zip(counts, totals)] for n in names}


def _fold(counts: collections.Counter, kept: set[str]) -> collections.Counter:
    out: collections.Counter = collections.Counter()
    for name, v in counts.items():
        out[name if name in kept else OTHER] += v
    return out


# --------------------------------------------------------------------------- overlays

@dataclass(frozen=True)
class Mark:
    t: float
    label: str
    status: str          # the fault's status ("applied", "skipped", ...); "heal" for the heal


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


def fault_label(fault: Fault) -> str:
    """'node_down lb2', 'kill lb2 lbserver', 'config payment {...}' (cut to LABEL_CHARS)."""
    text = " ".join([fault.action, *(_value_text(v) for v in fault.params.values())])
    if fault.status not in ("applied", "pending"):
        text += f" ({fault.status})"
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def marks(result: Result) -> list[Mark]:
    """Faults at the time they were applied (else scheduled), then the heal, in time order."""
    out = [Mark(f.applied_at if f.applied_at is not None else f.at, fault_label(f), f.status)
           for f in result.faults]
    if result.heal is not None and result.heal.at is not None:
        out.append(Mark(result.heal.at, "heal" if result.heal.status == "ok" else f"heal ({result.heal.status})",
                        "heal"))
    return sorted(out, key=lambda m: m.t)


@dataclass(frozen=True)
class FloorMark:
    start: float         # the longest window's start
    longest: float       # its duration
    floor: float
    note: str


def floor_mark(result: Result, summary: KindSummary) -> FloorMark | None:
    """The floor drawn next to the longest disruption window of a traffic kind."""
    if result.floor is None or result.floor.disruption is None or not summary.disruptions:
        return None
    top = max(summary.disruptions, key=lambda w: (w.end - w.start, w.failures))
    return FloorMark(top.start, top.end - top.start, result.floor.disruption, result.floor.note or "")


@dataclass(frozen=True)
class Overlay:
    """What every figure shares: the time axis and the fault marks."""
    duration: float
    marks: list[Mark]


# ------------------------------------------------------------------------------- routes

@dataclass(frozen=True)
class RouteSegment:
    start: float
    end: float
    nexthops: tuple[str, ...] | None      # None: the poll failed
    error: str | None = None

    @property
    def count(self) -> int | None:
        return None if self.nexthops is None else len(self.nexthops)


def route_segments(track: RouteTrack, duration: float) -> list[RouteSegment]:
    """What the route was, piecewise, over the polled spans: each change holds until the next
    one or the end of its span. Results without spans count as polled from the first change to
    the end of the run."""
    changes = sorted(track.changes, key=lambda c: c.t)
    if not changes:
        return []
    spans = track.spans if track.spans is not None else [(changes[0].t, max(duration, changes[-1].t))]
    out: list[RouteSegment] = []
    for lo, hi in sorted(spans):
        if hi < lo:
            continue
        before = [c for c in changes if c.t <= lo]
        inside = [c for c in changes if lo < c.t <= hi]
        points = ([before[-1]] if before else []) + inside
        for k, c in enumerate(points):
            start = max(lo, c.t)
            end = points[k + 1].t if k + 1 < len(points) else hi
            hops = tuple(c.nexthops) if c.nexthops is not None else None
            out.append(RouteSegment(start, end, hops, None if hops is not None else (c.error or "poll failed")))
    return out


# ------------------------------------------------------------------------------ figures

@dataclass
class Figure:
    name: str            # file stem of its PNG
    kind: str            # its drawer in scenarios.plots
    title: str
    caption: str
    data: dict[str, Any] = field(default_factory=dict)


T = TypeVar("T")


def registrar(table: dict[str, T]) -> Callable[[str], Callable[[T], T]]:
    """A decorator factory that files functions into ``table`` under a kind name."""
    def by_kind(kind: str) -> Callable[[T], T]:
        def register(fn: T) -> T:
            table[kind] = fn
            return fn
        return register
    return by_kind


FigureBuilder = Callable[[ResultDir, Bins], list[Figure]]
BUILDERS: dict[str, FigureBuilder] = {}
builder = registrar(BUILDERS)


def _windows(summary: KindSummary) -> list[Window]:
    return sorted(summary.disruptions, key=lambda w: w.start)


@builder("timeline")
def timeline_figures(rd: ResultDir, bins: Bins) -> list[Figure]:
    out = []
    for kind in TRAFFIC_KINDS:
        ops = rd.history.ops(kind)
        if not ops:
            continue
        summary = getattr(rd.result.analysis, kind)
        counts = outcome_counts(group(ops, rd.t0, bins))
        unit = "requests" if kind == "http" else "queries"
        floor = floor_mark(rd.result, summary)
        caption = (f"{kind.upper()} {unit} per {fd(bins.width)} by send time: ok and failed; "
                   f"{len(summary.disruptions)} disruption window(s) shaded")
        if floor:
            caption += f"; longest {fd(floor.longest)} against the floor of {fd(floor.floor)}"
        out.append(Figure(f"timeline-{kind}", "timeline", f"{kind.upper()} {unit} per {fd(bins.width)}", caption,
                          {"edges": bins.edges(), **counts, "windows": _windows(summary), "floor": floor,
                           "unit": unit}))
    return out


@builder("latency")
def latency_figures(rd: ResultDir, bins: Bins) -> list[Figure]:
    wide = bins.wider(STAT_BUCKETS)
    series = {kind: latency_percentiles(group(rd.history.ops(kind), rd.t0, wide))
              for kind in TRAFFIC_KINDS if rd.history.ops(kind)}
    if not any(any(v is not None for v in s["p50"]) for s in series.values()):
        return []
    return [Figure("latency", "latency", f"latency p50 / p99 per {fd(wide.width)}",
                   f"p50 and p99 latency of successful operations per {fd(wide.width)} of send time",
                   {"edges": wide.edges(), "series": series})]


@builder("share")
def share_figures(rd: ResultDir, bins: Bins) -> list[Figure]:
    wide = bins.wider(STAT_BUCKETS)
    groups = group(rd.history.http, rd.t0, wide)
    out = []
    for key, who in (("lb", "LB"), ("backend", "backend")):
        by_name = shares(groups, key)
        if by_name and set(by_name) != {"?"}:
            out.append(Figure(f"share-{key}", "share", f"share of successful HTTP responses per {who}",
                              f"which {who} answered, as a share of each {fd(wide.width)}'s successful requests",
                              {"edges": wide.edges(), "shares": by_name, "who": who}))
    return out


@builder("routes")
def route_figures(rd: ResultDir, bins: Bins) -> list[Figure]:
    tracks = {name: route_segments(track, rd.result.duration) for name, track in sorted(rd.result.route_polls.items())}
    tracks = {name: segs for name, segs in tracks.items() if segs}
    if not tracks:
        return []
    polls = sum(t.polls for t in rd.result.route_polls.values())
    return [Figure("routes", "routes", "route nexthops", f"nexthop count of the polled routes ({polls} polls); "
                   "gaps: not polled, crosses: failed polls", {"tracks": tracks})]


@dataclass(frozen=True)
class FaultBar:
    start: float
    end: float
    action: str
    label: str


def fault_rows(result: Result) -> dict[str, list[FaultBar]]:
    """Node -> the spans its faults were active (applied to healed; not healed: to the end), for
    faults that were healed on their own (a chaos run's); a scenario's steps make no spans."""
    rows: dict[str, list[FaultBar]] = {}
    for f in result.faults:
        if f.healed_at is None or f.applied_at is None:
            continue
        end = min(f.healed_at + (f.heal_took or 0.0), result.duration)
        rows.setdefault(f.node or _value_text(f.params.get("node", "?")), []).append(
            FaultBar(f.applied_at, end, f.action, fault_label(f)))
    return dict(sorted(rows.items(), key=lambda item: min(bar.start for bar in item[1])))


@builder("faults")
def fault_figures(rd: ResultDir, bins: Bins) -> list[Figure]:
    rows = fault_rows(rd.result)
    if not rows:
        return []
    count = sum(len(bars) for bars in rows.values())
    return [Figure("faults", "faults", "faults by node", f"{count} fault(s) on {len(rows)} node(s), each from "
                   "when it was applied until its heal was done", {"rows": rows})]


def overlay_for(rd: ResultDir) -> Overlay:
    return Overlay(rd.result.duration, marks(rd.result))


def figures_for(rd: ResultDir) -> list[Figure]:
    bins = bins_for(rd.result.duration, rd.result.analysis.bucket)
    return [fig for build in BUILDERS.values() for fig in build(rd, bins)]
