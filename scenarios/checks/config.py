"""Checks on config changes the scenario made (the `config` fault measures, per LB server, the
time from the write being committed to the LB serving it)."""
from __future__ import annotations

from typing import Literal

from lblab.durations import Duration
from lblab.durations import format_duration as fd

from .base import CheckModel, CheckResult, Context


class ConfigPropagation(CheckModel):
    """every `config` fault reached every running LB server within max of its write."""

    kind: Literal["config_propagation"] = "config_propagation"
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        entries = [f for f in ctx.faults if f.get("action") == "config"]
        if not entries:
            return self.result(False, None, fd(self.max), "no config fault in this run")
        worst, parts = 0.0, []
        for entry in entries:
            record = entry.get("record") or {}
            applied = record.get("applied") if isinstance(record, dict) else None
            if entry.get("status") != "applied" or not applied:
                return self.result(False, None, fd(self.max),
                                   f"config fault at +{fd(entry.get('at', 0))} has no measured propagation "
                                   f"({entry.get('status')}: {entry.get('detail') or record})")
            slowest = max(applied.values())
            worst = max(worst, slowest)
            parts.append(f"+{fd(entry.get('at', 0))}: " + ", ".join(f"{lb} {fd(v)}" for lb, v in sorted(applied.items())))
        return self.result(worst <= self.max, fd(worst), fd(self.max), "; ".join(parts))
