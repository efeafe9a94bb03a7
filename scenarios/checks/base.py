"""What a check is: one pydantic model per check kind holding its parameters and its ``judge``,
which turns the recorded history (and the runner's route polls) into a CheckResult
{name, passed, measured, limit, detail}. Every check can fail, and a check with nothing to
judge (no operations in its window, no route polls) fails rather than passing vacuously.

Every concrete check class is registered by its ``kind`` (``CHECKS``, in definition order); the
scenario schema, the file-level validation and the docs table are derived from that registry.
"""
from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from lblab.durations import Duration
from lblab.durations import format_duration as fd
from lblab.faults.params import NodeName

from .. import analysis as A
from ..history import History
from ..orchhistory import OrchHistory

CHECKS: dict[str, type["CheckModel"]] = {}
Problem = tuple[str, str]


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
    orchestrator: OrchHistory = field(default_factory=OrchHistory)   # the members' check histories


class CheckModel(BaseModel):
    """Subclasses declare ``kind: Literal["name"] = "name"``, their parameters, a docstring whose
    first line is the docs' "passes when", and ``judge``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    needs_http: ClassVar[bool] = False     # judges who served requests: needs http traffic

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.__annotations__:
            CHECKS[cls.model_fields["kind"].default] = cls

    @property
    def name(self) -> str:
        return self.kind  # type: ignore[attr-defined]

    @classmethod
    def summary(cls) -> str:
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

    def judge(self, ctx: Context) -> CheckResult:
        raise NotImplementedError

    def result(self, passed: bool, measured: Any, limit: Any, detail: str = "") -> CheckResult:
        return CheckResult(self.kind, passed, measured, limit, detail)  # type: ignore[attr-defined]

    # --- validation against the scenario and the lab ---------------------------------------
    def scenario_problems(self, scenario, where: str) -> list[Problem]:
        problems = []
        if self.needs_http and "http" not in scenario.traffic_kinds():
            problems.append((where, "needs http traffic"))
        return problems

    def node_refs(self) -> list[tuple[str, str, str | None]]:
        """(field, node, required role or None) for every node this check names."""
        return []

    def route_windows(self, duration: float) -> list[tuple[str, str, float, float]]:
        """(router, prefix, from, to) the runner must poll for this check."""
        return []


class WindowedCheck(CheckModel):
    after: Duration = Field(0.0, description="only operations sent at or after this offset")
    before: Duration | None = Field(None, description="only operations sent before this offset")

    def scenario_problems(self, scenario, where: str) -> list[Problem]:
        problems = super().scenario_problems(scenario, where)
        if self.after > scenario.duration:
            problems.append((f"{where}.after", f"is after the end of the traffic ({fd(scenario.duration)})"))
        if self.before is not None and not (self.after < self.before):
            problems.append((f"{where}.before", "must be after 'after'"))
        client = getattr(self, "client", None)
        if client is not None and client not in scenario.clients():
            problems.append((f"{where}.client", f"{client!r} sends no traffic in this scenario"))
        return problems

    def ops(self, ctx: Context, kind: str | None = None) -> list[dict]:
        kind = kind or getattr(self, "traffic", "http")
        return A.select(ctx.history.ops(kind), ctx.t0, self.after, self.before, getattr(self, "client", None))

    def scope(self) -> str:
        parts = [p for p in (getattr(self, "traffic", None), getattr(self, "client", None)) if p]
        within = getattr(self, "within", None)
        if within is not None:
            parts.append(f"within {fd(within)} of +{fd(self.after)}")
        elif self.after or self.before is not None:
            parts.append(f"{fd(self.after)}–{fd(self.before) if self.before is not None else 'end'}")
        return ", ".join(parts)


class TrafficCheck(WindowedCheck):
    traffic: Literal["http", "dns"] = "http"
    client: NodeName | None = None

    def scenario_problems(self, scenario, where: str) -> list[Problem]:
        problems = super().scenario_problems(scenario, where)
        if self.traffic not in scenario.traffic_kinds():
            problems.append((f"{where}.traffic", f"the scenario has no {self.traffic} traffic"))
        return problems


def no_operations(check: CheckModel, limit: Any) -> CheckResult:
    return check.result(False, None, limit, "no operations in the window")


def outcome_text(ops: Sequence[dict]) -> str:
    counts = collections.Counter(r["outcome"] for r in ops if A.is_failed(r))
    return ", ".join(f"{k} {v}" for k, v in counts.most_common(5))


def judge(check: CheckModel, ctx: Context, index: int | None = None) -> CheckResult:
    try:
        res = check.judge(ctx)
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, not a crash
        res = CheckResult(check.name, False, None, None, f"check crashed: {type(exc).__name__}: {exc}")
    res.index = index
    res.scope = res.scope or (check.scope() if isinstance(check, WindowedCheck) else "")
    return res


def judge_all(scenario, ctx: Context) -> list[CheckResult]:
    return [judge(c, ctx, i) for i, c in enumerate(scenario.checks)]


def route_targets(scenario) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(router, prefix) -> the [from, to] windows in which the runner must poll it."""
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for check in scenario.checks:
        for router, prefix, lo, hi in check.route_windows(scenario.duration):
            out.setdefault((router, prefix), []).append((lo, hi))
    return out
