"""Checks on what clients saw: failures, success rate, disruption windows, latency, and whether
the generators kept to their schedule."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from lblab.durations import Duration
from lblab.durations import format_duration as fd

from .. import analysis as A
from .base import CheckModel, CheckResult, Context, TrafficCheck, no_operations, outcome_text


def _fraction(v: Any) -> Any:
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"not a percentage: {v!r}") from None
    return v


# 0.995 or "99.5%"
Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0, le=1)]


class FailedRequests(TrafficCheck):
    """failed operations ≤ max."""

    kind: Literal["failed_requests"] = "failed_requests"
    max: int = Field(ge=0)

    def judge(self, ctx: Context) -> CheckResult:
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, self.max)
        failed = [r for r in ops if A.is_failed(r)]
        detail = f"{len(failed)} of {len(ops)} failed"
        if failed:
            detail += f" ({outcome_text(failed)}), first at +{fd(failed[0]['t_send'] - ctx.t0)}"
        return self.result(len(failed) <= self.max, len(failed), self.max, detail)


class SuccessRate(TrafficCheck):
    """ok/sent ≥ min (`0.995` or `"99.5%"`); with per_client, for the worst client."""

    kind: Literal["success_rate"] = "success_rate"
    min: Fraction
    per_client: bool = False

    def judge(self, ctx: Context) -> CheckResult:
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, self.min)
        if self.per_client:
            by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for r in ops:
                by[r.get("client") or "?"][0] += r["outcome"] == "ok"
                by[r.get("client") or "?"][1] += 1
            rates = {k: ok / n for k, (ok, n) in sorted(by.items())}
            worst = min(rates, key=rates.get)
            return self.result(rates[worst] >= self.min, round(rates[worst], 6), self.min,
                               "lowest: " + worst + "; " + ", ".join(f"{k} {v:.4%}" for k, v in rates.items()))
        ok = sum(r["outcome"] == "ok" for r in ops)
        rate = ok / len(ops)
        return self.result(rate >= self.min, round(rate, 6), self.min, f"{ok} of {len(ops)} ok")


def windows_detail(ws: Sequence[A.Window]) -> str:
    if not ws:
        return "no failures"
    top = A.longest(ws)
    return (f"{len(ws)} window(s); longest +{fd(top.start)}–+{fd(top.end)} "
            f"({top.failures} failed of {top.operations})")


class LongestDisruption(TrafficCheck):
    """the longest disruption window (first to last failure of a burst) ≤ max."""

    kind: Literal["longest_disruption"] = "longest_disruption"
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, self.max)
        ws = A.disruption_windows(ops, ctx.t0, ctx.gap)
        top = A.longest(ws)
        measured = round(top.duration, 6) if top else 0.0
        return self.result(measured <= self.max + 1e-9, measured, self.max, windows_detail(ws))


class Disruptions(TrafficCheck):
    """number of disruption windows ≤ max."""

    kind: Literal["disruptions"] = "disruptions"
    max: int = Field(ge=0)

    def judge(self, ctx: Context) -> CheckResult:
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, self.max)
        ws = A.disruption_windows(ops, ctx.t0, ctx.gap)
        return self.result(len(ws) <= self.max, len(ws), self.max, windows_detail(ws))


class Latency(TrafficCheck):
    """that percentile (default p99; 100 = max) of successful latencies ≤ max."""

    kind: Literal["latency"] = "latency"
    percentile: float = Field(99.0, gt=0, le=100)
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        lat = [r["latency"] for r in self.ops(ctx) if r["outcome"] == "ok" and "latency" in r]
        v = A.percentile(lat, self.percentile)
        if v is None:
            return self.result(False, None, self.max, "no successful operations in the window")
        return self.result(v <= self.max, round(v, 6), self.max,
                           f"p{self.percentile:g} of {len(lat)} successful operations")


class TrafficSent(CheckModel):
    """the generators sent ≥ min_fraction of their schedule (they kept up)."""

    kind: Literal["traffic_sent"] = "traffic_sent"
    min_fraction: Fraction = 0.95

    def judge(self, ctx: Context) -> CheckResult:
        g = A.generator_stats(ctx.history)
        frac = g["sent_fraction"]
        if frac is None:
            return self.result(False, None, self.min_fraction, "no generator records")
        killed = [k for k, v in g["per_client"].items() if v.get("killed")]
        detail = f"sent {g['sent']} of {g['scheduled']} scheduled, missed {g['missed']}"
        if killed:
            detail += f"; no end record from {', '.join(killed)}"
        return self.result(frac >= self.min_fraction, frac, self.min_fraction, detail)
