"""Checks on the router's kernel route to a prefix, from the runner's polls of it."""
from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from lblab.durations import Duration
from lblab.durations import format_duration as fd
from lblab.faults.params import NodeName

from .base import CheckResult, Context, WindowedCheck


def _hops(nexthops: list[str]) -> str:
    return ", ".join(nexthops) if nexthops else "no route"


class RouteNexthops(WindowedCheck):
    """the router's route to prefix has count nexthops: with within, at some poll in
    [after, after+within] (measured: the time to reach it); without, at every poll in [after, before)."""

    kind: Literal["route_nexthops"] = "route_nexthops"
    router: NodeName
    prefix: str
    count: int = Field(ge=0, le=64)
    within: Duration | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        ipaddress.ip_network(v, strict=True)
        return v

    def scenario_problems(self, scenario, where: str):
        problems = super().scenario_problems(scenario, where)
        if self.within is not None:
            if self.before is not None:
                problems.append((f"{where}.before", "give either 'within' or 'before', not both"))
            elif self.after + self.within > scenario.duration:
                problems.append((f"{where}.within", f"after + within ({fd(self.after + self.within)}) "
                                                    f"goes past the end of the traffic ({fd(scenario.duration)})"))
        return problems

    def node_refs(self):
        return [("router", self.router, "router")]

    def route_windows(self, duration: float):
        hi = self.after + self.within if self.within is not None else (
            self.before if self.before is not None else duration)
        return [(self.router, self.prefix, self.after, hi)]

    def judge(self, ctx: Context) -> CheckResult:
        polls = list(ctx.route_polls.get((self.router, self.prefix), ()))
        where = f"{self.prefix} on {self.router}: "
        lo = self.after
        if self.within is not None:
            inwin = [p for p in polls if lo <= p.t <= lo + self.within]
            if not inwin:
                return self.result(False, None, self.count, where + "no route polls in the window")
            hit = next((p for p in inwin if p.nexthops is not None and len(p.nexthops) == self.count), None)
            if hit is not None:
                return self.result(True, round(hit.t - lo, 6), self.within,
                                   where + f"{self.count} nexthops after {fd(hit.t - lo)}: {_hops(hit.nexthops)}")
            last = inwin[-1]
            seen = "error: " + (last.error or "?") if last.nexthops is None else f"{len(last.nexthops)} nexthops"
            return self.result(False, None, self.within,
                               where + f"never {self.count} nexthops within {fd(self.within)} (last poll: {seen}, "
                               f"{len(inwin)} polls)")
        hi = self.before if self.before is not None else ctx.duration
        inwin = [p for p in polls if lo <= p.t < hi]
        if not inwin:
            return self.result(False, None, self.count, where + "no route polls in the window")
        bad = [p for p in inwin if p.nexthops is None or len(p.nexthops) != self.count]
        if bad:
            b = bad[0]
            seen = "poll error: " + (b.error or "?") if b.nexthops is None else f"{len(b.nexthops)} nexthops"
            return self.result(False, None if b.nexthops is None else len(b.nexthops), self.count,
                               where + f"{len(bad)} of {len(inwin)} polls differ; first at +{fd(b.t)}: {seen}")
        return self.result(True, self.count, self.count, where + f"all {len(inwin)} polls: {_hops(inwin[0].nexthops)}")
