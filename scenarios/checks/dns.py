"""Checks on name resolution."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

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
