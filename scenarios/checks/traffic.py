"""Checks on what clients saw: failures, success rate, disruption windows, latency, and whether
the generators kept to their schedule."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

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


def _bounds(low, high, unit=lambda v: v):
    """The limit shown in the report: "≥ a", "≤ b" or "a–b"."""
    if low is not None and high is not None:
        return f"{unit(low)}–{unit(high)}"
    return f"≥ {unit(low)}" if low is not None else f"≤ {unit(high)}"


class _Bounded(TrafficCheck):
    """A measurement between optional bounds; at least one must be given."""

    @model_validator(mode="after")
    def _some_bound(self):
        if self.min is None and self.max is None:  # type: ignore[attr-defined]
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[attr-defined]
            raise ValueError("min must not be above max")
        return self

    def in_bounds(self, value: float) -> bool:
        low, high = self.min, self.max  # type: ignore[attr-defined]
        return (low is None or value >= low - 1e-9) and (high is None or value <= high + 1e-9)


class SuccessRate(_Bounded):
    """ok/sent ≥ min and/or ≤ max (`0.995` or `"99.5%"`; a max says a cost must show); with
    per_client, for the worst client."""

    kind: Literal["success_rate"] = "success_rate"
    min: Fraction | None = None
    max: Fraction | None = None
    per_client: bool = False

    def judge(self, ctx: Context) -> CheckResult:
        limit = self.min if self.max is None else _bounds(self.min, self.max, lambda v: f"{v:.2%}")
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, limit)
        if self.per_client:
            by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for r in ops:
                by[r.get("client") or "?"][0] += r["outcome"] == "ok"
                by[r.get("client") or "?"][1] += 1
            rates = {k: ok / n for k, (ok, n) in sorted(by.items())}
            worst = min(rates, key=rates.get)
            return self.result(self.in_bounds(rates[worst]), round(rates[worst], 6), limit,
                               "lowest: " + worst + "; " + ", ".join(f"{k} {v:.4%}" for k, v in rates.items()))
        ok = sum(r["outcome"] == "ok" for r in ops)
        rate = ok / len(ops)
        return self.result(self.in_bounds(rate), round(rate, 6), limit, f"{ok} of {len(ops)} ok")


def windows_detail(ws: Sequence[A.Window]) -> str:
    if not ws:
        return "no failures"
    top = A.longest(ws)
    return (f"{len(ws)} window(s); longest +{fd(top.start)}–+{fd(top.end)} "
            f"({top.failures} failed of {top.operations})")


class LongestDisruption(_Bounded):
    """the longest disruption window (first to last failure of a burst) ≤ max (and ≥ min, if
    given: an outage that must show)."""

    kind: Literal["longest_disruption"] = "longest_disruption"
    max: Duration | None = None
    min: Duration | None = None

    def judge(self, ctx: Context) -> CheckResult:
        limit = self.max if self.min is None else _bounds(self.min, self.max, fd)
        ops = self.ops(ctx)
        if not ops:
            return no_operations(self, limit)
        ws = A.disruption_windows(ops, ctx.t0, ctx.gap)
        top = A.longest(ws)
        measured = round(top.duration, 6) if top else 0.0
        return self.result(self.in_bounds(measured), measured, limit, windows_detail(ws))


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
