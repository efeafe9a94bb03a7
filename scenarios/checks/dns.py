"""Checks on name resolution."""
from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from lblab.durations import Duration
from lblab.durations import format_duration as fd
from lblab.faults.params import NodeName

from .. import analysis as A
from .base import CheckResult, Context, WindowedCheck, no_operations


class DnsFailures(WindowedCheck):
    """failed DNS-stream queries + HTTP requests that could not resolve (`dns_fail`) ≤ max."""

    kind: Literal["dns_failures"] = "dns_failures"
    max: int = Field(ge=0)
    client: NodeName | None = None

    def judge(self, ctx: Context) -> CheckResult:
        dns_ops = self.ops(ctx, "dns")
        http_ops = self.ops(ctx, "http")
        if not dns_ops and not http_ops:
            return no_operations(self, self.max)
        fails = sorted([r for r in dns_ops if A.is_failed(r)] +
                       [r for r in http_ops if r["outcome"] == "dns_fail"], key=lambda r: r["t_send"])
        detail = (f"{sum(A.is_failed(r) for r in dns_ops)} of {len(dns_ops)} DNS queries, "
                  f"{sum(r['outcome'] == 'dns_fail' for r in http_ops)} of {len(http_ops)} HTTP lookups")
        if fails:
            detail += f"; from +{fd(fails[0]['t_send'] - ctx.t0)} to +{fd(fails[-1]['t_send'] - ctx.t0)}"
        return self.result(len(fails) <= self.max, len(fails), self.max, detail)


class DnsAnswerLeaves(WindowedCheck):
    """successful DNS-stream answers stop holding address within `within` of `after`, and hold
    it no more before `before` (measured: when it left)."""

    kind: Literal["dns_answer_leaves"] = "dns_answer_leaves"
    address: ipaddress.IPv4Address
    within: Duration
    client: NodeName | None = None

    def scenario_problems(self, scenario, where: str):
        problems = super().scenario_problems(scenario, where)
        if "dns" not in scenario.traffic_kinds():
            problems.append((where, "needs dns traffic (its answers are what is judged)"))
        return problems

    def judge(self, ctx: Context) -> CheckResult:
        answered = [r for r in self.ops(ctx, "dns") if r["outcome"] == "ok"]
        if not answered:
            return no_operations(self, self.within)
        address = str(self.address)
        holding = [i for i, r in enumerate(answered) if address in r.get("answers", ())]
        if not holding:
            return self.result(True, 0.0, self.within, f"{address} in none of {len(answered)} answers")
        last = holding[-1]
        if last == len(answered) - 1:
            return self.result(False, None, self.within, f"{address} still in the last of {len(answered)} "
                                                         f"answers (+{fd(answered[last]['t_send'] - ctx.t0)})")
        left = answered[last + 1]["t_send"] - ctx.t0 - self.after
        return self.result(left <= self.within, round(left, 6), self.within,
                           f"{address} last answered +{fd(answered[last]['t_send'] - ctx.t0)}, "
                           f"gone from +{fd(answered[last + 1]['t_send'] - ctx.t0)}")
