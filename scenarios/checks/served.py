"""Checks on who served the successful requests: every LB or backend, one in particular, none
of one, or a split that follows weights."""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lblab.durations import format_duration as fd
from lblab.faults.params import NodeName

from .. import analysis as A
from .base import CheckResult, Context, WindowedCheck, no_operations
from .traffic import Fraction


class _AllServed(WindowedCheck):
    expected: list[NodeName] | None = Field(None, description="default: the lab's backends / LBs")
    min: int = Field(1, ge=1)
    client: NodeName | None = Field(None, description="only this client's requests")

    needs_http = True
    role: ClassVar[str]

    def judge(self, ctx: Context) -> CheckResult:
        expected = list(self.expected or (ctx.backends if self.role == "backend" else ctx.lbs))
        counts = A.split(self.ops(ctx), self.role)
        if not expected:
            return self.result(False, counts, None, f"no expected {self.role}s (give 'expected')")
        missing = [n for n in expected if counts.get(n, 0) < self.min]
        seen = {n: counts.get(n, 0) for n in expected}
        detail = "all served" if not missing else f"not served (< {self.min}): {', '.join(missing)}"
        return self.result(not missing, seen, {"expected": expected, "min": self.min}, detail)

    def node_refs(self):
        return [(f"expected[{j}]", n, self.role) for j, n in enumerate(self.expected or [])]


class AllBackendsServed(_AllServed):
    """each expected backend (default: the lab's backends) served ≥ min successful requests (of
    client's, if given)."""

    kind: Literal["all_backends_served"] = "all_backends_served"
    role = "backend"


class AllLbsServed(_AllServed):
    """each expected LB (default: the lab's LBs) served ≥ min successful requests (of client's,
    if given)."""

    kind: Literal["all_lbs_served"] = "all_lbs_served"
    role = "lb"


class _ServedBy(WindowedCheck):
    lb: NodeName | None = None
    backend: NodeName | None = None
    client: NodeName | None = Field(None, description="only this client's requests")

    needs_http = True

    @model_validator(mode="after")
    def _exactly_one(self) -> "_ServedBy":
        if (self.lb is None) == (self.backend is None):
            raise ValueError("give exactly one of 'lb' or 'backend'")
        return self

    def hits(self, ctx: Context) -> tuple[list[dict], list[dict], str]:
        key, who = ("lb", self.lb) if self.lb is not None else ("backend", self.backend)
        ops = self.ops(ctx)
        hits = [r for r in ops if r["outcome"] == "ok" and r.get(key) == who]
        detail = f"{len(hits)} successful responses from {key} {who} of {len(ops)} operations"
        if hits:
            detail += f" (first +{fd(hits[0]['t_send'] - ctx.t0)}, last +{fd(hits[-1]['t_send'] - ctx.t0)})"
        return ops, hits, detail

    def node_refs(self):
        return [(field, getattr(self, field), field) for field in ("lb", "backend") if getattr(self, field)]


class ServedByExcludes(_ServedBy):
    """no successful response from this LB / backend in the window (to client, if given)."""

    kind: Literal["served_by_excludes"] = "served_by_excludes"

    def judge(self, ctx: Context) -> CheckResult:
        ops, hits, detail = self.hits(ctx)
        if not ops:
            return no_operations(self, 0)
        return self.result(not hits, len(hits), 0, detail)


class ServedByIncludes(_ServedBy):
    """≥ min successful responses from this LB / backend in the window (to client, if given)."""

    kind: Literal["served_by_includes"] = "served_by_includes"
    min: int = Field(1, ge=1)

    def judge(self, ctx: Context) -> CheckResult:
        ops, hits, detail = self.hits(ctx)
        if not ops:
            return no_operations(self, self.min)
        return self.result(len(hits) >= self.min, len(hits), self.min, detail)


class _Split(WindowedCheck):
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(min_length=1)
    tolerance: Fraction = 0.05

    needs_http = True
    role: ClassVar[str]

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, v: dict[str, float]) -> dict[str, float]:
        if sum(v.values()) <= 0:
            raise ValueError("weights must not all be 0")
        return v

    def selected(self, ctx: Context) -> list[dict]:
        return self.ops(ctx)

    def judge(self, ctx: Context) -> CheckResult:
        counts = A.split(self.selected(ctx), self.role)
        total = sum(counts.values())
        if not total:
            return self.result(False, None, self.tolerance, "no successful responses in the window")
        wsum = sum(self.weights.values())
        names = sorted(set(counts) | set(self.weights))
        shares = {n: counts.get(n, 0) / total for n in names}
        expected = {n: self.weights.get(n, 0.0) / wsum for n in names}
        dev = {n: shares[n] - expected[n] for n in names}
        worst = max(names, key=lambda n: abs(dev[n]))
        detail = (f"worst {worst}: {shares[worst]:.1%} vs {expected[worst]:.1%} expected; " +
                  ", ".join(f"{n} {shares[n]:.1%}" for n in names) + f" of {total}")
        return self.result(abs(dev[worst]) <= self.tolerance + 1e-9, round(abs(dev[worst]), 6),
                           self.tolerance, detail)

    def node_refs(self):
        return [(f"weights.{n}", n, self.role) for n in self.weights]


class BackendSplit(_Split):
    """every backend's share of successful responses within tolerance (absolute, default 5 points)
    of its share of the weights; with lb, only responses through that LB."""

    kind: Literal["backend_split"] = "backend_split"
    lb: NodeName | None = Field(None, description="only responses through this LB")
    role = "backend"

    def selected(self, ctx: Context) -> list[dict]:
        ops = self.ops(ctx)
        return ops if self.lb is None else [r for r in ops if r.get("lb") == self.lb]

    def node_refs(self):
        return super().node_refs() + ([("lb", self.lb, "lb")] if self.lb else [])


class LbSplit(_Split):
    """every LB's share of successful responses within tolerance (absolute, default 5 points) of
    its share of the weights."""

    kind: Literal["lb_split"] = "lb_split"
    role = "lb"
