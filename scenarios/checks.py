"""Judging a scenario's checks against a recorded history (and the runner's route polls).

Each check gives a CheckResult {name, passed, measured, limit, detail}; every check can fail,
and a check with nothing to judge (no operations in its window, no route polls) fails rather
than passing vacuously.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import analysis as A
from .durations import format_duration as fd
from .history import History
from .spec import (AllServed, Check, ConfigPropagation, Disruptions, DnsFailures, FailedRequests, Latency, LongestDisruption,
                   RouteNexthops, Scenario, ServedByExcludes, ServedByIncludes, Split, SuccessRate, TrafficSent)


@dataclass
class CheckResult:
    name: str
    passed: bool
    measured: Any
    limit: Any
    detail: str = ""
    index: int | None = None
    scope: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoutePoll:
    t: float                         # relative to t0
    nexthops: list[str] | None       # None when the poll itself failed
    error: str | None = None


@dataclass
class Context:
    history: History
    t0: float
    duration: float
    gap: float = 0.25
    backends: list[str] = field(default_factory=list)    # expected backends (lab's backend nodes)
    lbs: list[str] = field(default_factory=list)         # expected active LBs
    route_polls: Mapping[tuple[str, str], Sequence[RoutePoll]] = field(default_factory=dict)
    faults: Sequence[dict] = field(default_factory=list)      # the runner's fault entries


def _scope(c: Any) -> str:
    parts = []
    if getattr(c, "traffic", None):
        parts.append(c.traffic)
    if getattr(c, "client", None):
        parts.append(c.client)
    after, before = getattr(c, "after", 0.0), getattr(c, "before", None)
    within = getattr(c, "within", None)
    if within is not None:
        parts.append(f"within {fd(within)} of +{fd(after)}")
    elif after or before is not None:
        parts.append(f"{fd(after)}–{fd(before) if before is not None else 'end'}")
    return ", ".join(parts)


def _ops(c: Any, ctx: Context, kind: str | None = None) -> list[dict]:
    kind = kind or getattr(c, "traffic", "http")
    return A.select(ctx.history.ops(kind), ctx.t0, getattr(c, "after", 0.0), getattr(c, "before", None),
                    getattr(c, "client", None))


def _outcome_text(ops: Sequence[dict]) -> str:
    c = collections.Counter(r["outcome"] for r in ops if A.is_failed(r))
    return ", ".join(f"{k} {v}" for k, v in c.most_common(5))


def _failed_requests(c: FailedRequests, ctx: Context) -> CheckResult:
    ops = _ops(c, ctx)
    failed = [r for r in ops if A.is_failed(r)]
    detail = f"{len(failed)} of {len(ops)} failed"
    if failed:
        detail += f" ({_outcome_text(failed)}), first at +{fd(failed[0]['t_send'] - ctx.t0)}"
    if not ops:
        return CheckResult(c.kind, False, None, c.max, "no operations in the window")
    return CheckResult(c.kind, len(failed) <= c.max, len(failed), c.max, detail)


def _success_rate(c: SuccessRate, ctx: Context) -> CheckResult:
    ops = _ops(c, ctx)
    if not ops:
        return CheckResult(c.kind, False, None, c.min, "no operations in the window")
    if c.per_client:
        by: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for r in ops:
            by[r.get("client") or "?"][0] += r["outcome"] == "ok"
            by[r.get("client") or "?"][1] += 1
        rates = {k: ok / n for k, (ok, n) in sorted(by.items())}
        worst = min(rates, key=rates.get)
        return CheckResult(c.kind, rates[worst] >= c.min, round(rates[worst], 6), c.min,
                           "lowest: " + worst + "; " + ", ".join(f"{k} {v:.4%}" for k, v in rates.items()))
    ok = sum(r["outcome"] == "ok" for r in ops)
    rate = ok / len(ops)
    return CheckResult(c.kind, rate >= c.min, round(rate, 6), c.min, f"{ok} of {len(ops)} ok")


def _windows_detail(ws: Sequence[A.Window]) -> str:
    if not ws:
        return "no failures"
    top = A.longest(ws)
    return (f"{len(ws)} window(s); longest +{fd(top.start)}–+{fd(top.end)} "
            f"({top.failures} failed of {top.operations})")


def _longest_disruption(c: LongestDisruption, ctx: Context) -> CheckResult:
    ops = _ops(c, ctx)
    if not ops:
        return CheckResult(c.kind, False, None, c.max, "no operations in the window")
    ws = A.disruption_windows(ops, ctx.t0, ctx.gap)
    top = A.longest(ws)
    measured = round(top.duration, 6) if top else 0.0
    return CheckResult(c.kind, measured <= c.max + 1e-9, measured, c.max, _windows_detail(ws))


def _disruptions(c: Disruptions, ctx: Context) -> CheckResult:
    ops = _ops(c, ctx)
    if not ops:
        return CheckResult(c.kind, False, None, c.max, "no operations in the window")
    ws = A.disruption_windows(ops, ctx.t0, ctx.gap)
    return CheckResult(c.kind, len(ws) <= c.max, len(ws), c.max, _windows_detail(ws))


def _dns_failures(c: DnsFailures, ctx: Context) -> CheckResult:
    dns_ops = _ops(c, ctx, "dns")
    http_ops = _ops(c, ctx, "http")
    if not dns_ops and not http_ops:
        return CheckResult(c.kind, False, None, c.max, "no operations in the window")
    fails = sorted([r for r in dns_ops if A.is_failed(r)] +
                   [r for r in http_ops if r["outcome"] == "dns_fail"], key=lambda r: r["t_send"])
    detail = (f"{sum(A.is_failed(r) for r in dns_ops)} of {len(dns_ops)} DNS queries, "
              f"{sum(r['outcome'] == 'dns_fail' for r in http_ops)} of {len(http_ops)} HTTP lookups")
    if fails:
        detail += f"; from +{fd(fails[0]['t_send'] - ctx.t0)} to +{fd(fails[-1]['t_send'] - ctx.t0)}"
    return CheckResult(c.kind, len(fails) <= c.max, len(fails), c.max, detail)


def _all_served(c: AllServed, ctx: Context) -> CheckResult:
    key = "backend" if c.kind == "all_backends_served" else "lb"
    expected = list(c.expected or (ctx.backends if key == "backend" else ctx.lbs))
    counts = A.split(_ops(c, ctx), key)
    if not expected:
        return CheckResult(c.kind, False, counts, None, f"no expected {key}s (give 'expected')")
    missing = [n for n in expected if counts.get(n, 0) < c.min]
    seen = {n: counts.get(n, 0) for n in expected}
    detail = "all served" if not missing else f"not served (< {c.min}): {', '.join(missing)}"
    return CheckResult(c.kind, not missing, seen, {"expected": expected, "min": c.min}, detail)


def _served_by(c: ServedByExcludes | ServedByIncludes, ctx: Context) -> CheckResult:
    key, who = ("lb", c.lb) if c.lb is not None else ("backend", c.backend)
    ops = _ops(c, ctx)
    hits = [r for r in ops if r["outcome"] == "ok" and r.get(key) == who]
    detail = f"{len(hits)} successful responses from {key} {who} of {len(ops)} operations"
    if hits:
        detail += f" (first +{fd(hits[0]['t_send'] - ctx.t0)}, last +{fd(hits[-1]['t_send'] - ctx.t0)})"
    if not ops:
        return CheckResult(c.kind, False, None, 0 if isinstance(c, ServedByExcludes) else c.min,
                           "no operations in the window")
    if isinstance(c, ServedByExcludes):
        return CheckResult(c.kind, not hits, len(hits), 0, detail)
    return CheckResult(c.kind, len(hits) >= c.min, len(hits), c.min, detail)


def _split(c: Split, ctx: Context) -> CheckResult:
    key = "backend" if c.kind == "backend_split" else "lb"
    ops = _ops(c, ctx)
    if c.kind == "backend_split" and c.lb is not None:
        ops = [r for r in ops if r.get("lb") == c.lb]
    counts = A.split(ops, key)
    total = sum(counts.values())
    if not total:
        return CheckResult(c.kind, False, None, c.tolerance, "no successful responses in the window")
    wsum = sum(c.weights.values())
    names = sorted(set(counts) | set(c.weights))
    shares = {n: counts.get(n, 0) / total for n in names}
    expected = {n: c.weights.get(n, 0.0) / wsum for n in names}
    dev = {n: shares[n] - expected[n] for n in names}
    worst = max(names, key=lambda n: abs(dev[n]))
    detail = (f"worst {worst}: {shares[worst]:.1%} vs {expected[worst]:.1%} expected; " +
              ", ".join(f"{n} {shares[n]:.1%}" for n in names) + f" of {total}")
    return CheckResult(c.kind, abs(dev[worst]) <= c.tolerance + 1e-9, round(abs(dev[worst]), 6),
                       c.tolerance, detail)


def _latency(c: Latency, ctx: Context) -> CheckResult:
    lat = [r["latency"] for r in _ops(c, ctx) if r["outcome"] == "ok" and "latency" in r]
    v = A.percentile(lat, c.percentile)
    if v is None:
        return CheckResult(c.kind, False, None, c.max, "no successful operations in the window")
    return CheckResult(c.kind, v <= c.max, round(v, 6), c.max,
                       f"p{c.percentile:g} of {len(lat)} successful operations")


def _route_nexthops(c: RouteNexthops, ctx: Context) -> CheckResult:
    polls = list(ctx.route_polls.get((c.router, c.prefix), ()))
    where = f"{c.prefix} on {c.router}: "
    lo = c.after
    if c.within is not None:
        hi = c.after + c.within
        inwin = [p for p in polls if lo <= p.t <= hi]
        if not inwin:
            return CheckResult(c.kind, False, None, c.count, where + "no route polls in the window")
        hit = next((p for p in inwin if p.nexthops is not None and len(p.nexthops) == c.count), None)
        if hit is not None:
            return CheckResult(c.kind, True, round(hit.t - c.after, 6), c.within,
                               where + f"{c.count} nexthops after {fd(hit.t - c.after)}: {_hops(hit.nexthops)}")
        last = inwin[-1]
        seen = "error: " + (last.error or "?") if last.nexthops is None else f"{len(last.nexthops)} nexthops"
        return CheckResult(c.kind, False, None, c.within,
                           where + f"never {c.count} nexthops within {fd(c.within)} (last poll: {seen}, "
                           f"{len(inwin)} polls)")
    hi = c.before if c.before is not None else ctx.duration
    inwin = [p for p in polls if lo <= p.t < hi]
    if not inwin:
        return CheckResult(c.kind, False, None, c.count, where + "no route polls in the window")
    bad = [p for p in inwin if p.nexthops is None or len(p.nexthops) != c.count]
    if bad:
        b = bad[0]
        seen = "poll error: " + (b.error or "?") if b.nexthops is None else f"{len(b.nexthops)} nexthops"
        return CheckResult(c.kind, False, None if b.nexthops is None else len(b.nexthops), c.count,
                           where + f"{len(bad)} of {len(inwin)} polls differ; first at +{fd(b.t)}: {seen}")
    return CheckResult(c.kind, True, c.count, c.count, where + f"all {len(inwin)} polls: {_hops(inwin[0].nexthops)}")


def _hops(nexthops: list[str]) -> str:
    return ", ".join(nexthops) if nexthops else "no route"


def _traffic_sent(c: TrafficSent, ctx: Context) -> CheckResult:
    g = A.generator_stats(ctx.history)
    frac = g["sent_fraction"]
    if frac is None:
        return CheckResult(c.kind, False, None, c.min_fraction, "no generator records")
    killed = [k for k, v in g["per_client"].items() if v.get("killed")]
    detail = f"sent {g['sent']} of {g['scheduled']} scheduled, missed {g['missed']}"
    if killed:
        detail += f"; no end record from {', '.join(killed)}"
    return CheckResult(c.kind, frac >= c.min_fraction, frac, c.min_fraction, detail)


def _config_propagation(c: ConfigPropagation, ctx: Context) -> CheckResult:
    entries = [f for f in ctx.faults if f.get("action") == "config"]
    if not entries:
        return CheckResult(c.kind, False, None, fd(c.max), "no config fault in this run")
    worst, parts = 0.0, []
    for entry in entries:
        record = entry.get("record") or {}
        applied = record.get("applied") if isinstance(record, dict) else None
        if entry.get("status") != "applied" or not applied:
            return CheckResult(c.kind, False, None, fd(c.max),
                               f"config fault at +{fd(entry.get('at', 0))} has no measured propagation "
                               f"({entry.get('status')}: {entry.get('detail') or record})")
        slowest = max(applied.values())
        worst = max(worst, slowest)
        parts.append(f"+{fd(entry.get('at', 0))}: " + ", ".join(f"{lb} {fd(v)}" for lb, v in sorted(applied.items())))
    return CheckResult(c.kind, worst <= c.max, fd(worst), fd(c.max), "; ".join(parts))


_JUDGES: dict[str, Callable[[Any, Context], CheckResult]] = {
    "failed_requests": _failed_requests,
    "success_rate": _success_rate,
    "longest_disruption": _longest_disruption,
    "disruptions": _disruptions,
    "dns_failures": _dns_failures,
    "all_backends_served": _all_served,
    "all_lbs_served": _all_served,
    "served_by_excludes": _served_by,
    "served_by_includes": _served_by,
    "backend_split": _split,
    "lb_split": _split,
    "latency": _latency,
    "route_nexthops": _route_nexthops,
    "traffic_sent": _traffic_sent,
    "config_propagation": _config_propagation,
}


def route_targets(scenario: Scenario) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(router, prefix) -> the [from, to] windows in which the runner must poll it."""
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c in scenario.checks:
        if isinstance(c, RouteNexthops):
            hi = c.after + c.within if c.within is not None else (c.before if c.before is not None else scenario.duration)
            out.setdefault((c.router, c.prefix), []).append((c.after, hi))
    return out


def judge(check: Check, ctx: Context, index: int | None = None) -> CheckResult:
    try:
        res = _JUDGES[check.kind](check, ctx)
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, not a crash
        res = CheckResult(check.kind, False, None, None, f"check crashed: {type(exc).__name__}: {exc}")
    res.index = index
    res.scope = res.scope or _scope(check)
    return res


def judge_all(scenario: Scenario, ctx: Context) -> list[CheckResult]:
    return [judge(c, ctx, i) for i, c in enumerate(scenario.checks)]
