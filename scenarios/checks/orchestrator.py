"""Checks on the orchestrator cluster, judged from the members' own check histories of the run
(``ctx.orchestrator``: every check, fenced health write, role change, shard assignment and
scaling decision, merged by time; ``lbapp.orchestrator.history``) and the runner's fault
entries (an ``orchestrator`` fault's record names the member it hit and the term then)."""
from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import Field

from lbapp.keys import split_target
from lbapp.orchestrator.history import Event, longest_unchecked, term_overlaps
from lblab.durations import Duration
from lblab.durations import format_duration as fd
from lblab.faults.params import NodeName

from .base import CheckModel, CheckResult, Context, WindowedCheck

WRITES = ("assignment", "scale")         # recorded only once their fenced write succeeded


def written(event: Event) -> bool:
    return event.ev in WRITES or (event.ev == "health" and bool(event.fields.get("written")))


def missing(check: CheckModel, ctx: Context, limit) -> CheckResult | None:
    """A failed result when the run recorded no orchestrator history (nothing to judge)."""
    if ctx.orchestrator.events:
        return None
    why = "; ".join(ctx.orchestrator.problems[:3]) or "does the lab run orchestrators?"
    return check.result(False, None, limit, f"no orchestrator history in this run ({why})")


def orchestrator_faults(ctx: Context, member: str | None = None) -> list[dict]:
    """Applied `orchestrator` faults (on the leader or a follower, or either): their records
    (node, term, and inner.t, when the kill, stop or partition took effect)."""
    return [f["record"] for f in ctx.faults if f.get("action") == "orchestrator"
            and f.get("status") == "applied" and isinstance(f.get("record"), dict)
            and member in (None, f.get("params", {}).get("member", "leader"))]


def hit_at(record: dict) -> float:
    return (record.get("inner") or {}).get("t", record.get("t"))


def rel(ctx: Context, t: float) -> str:
    return f"+{fd(t - ctx.t0)}"


def bounds(check: WindowedCheck, ctx: Context) -> tuple[float, float]:
    """The check's window [after, before or the end] as epochs."""
    return ctx.t0 + check.after, ctx.t0 + (check.before if check.before is not None else ctx.duration)


class LeaderTakeover(CheckModel):
    """after each orchestrator fault on the leader, another member wins a newer term and makes
    its first fenced write (acts) within max of the fault."""

    kind: Literal["leader_takeover"] = "leader_takeover"
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, self.max)) is not None:
            return failed
        records = orchestrator_faults(ctx, "leader")
        if not records:
            return self.result(False, None, self.max, "no orchestrator fault on the leader in this run")
        worst, parts = 0.0, []
        for record in records:
            old, old_term = record.get("node"), record.get("term") or 0
            at = hit_at(record)
            acted = next((e for e in ctx.orchestrator.events if e.ev == "assignment" and e.t >= at
                          and e.term > old_term and e.member != old), None)
            if acted is None:
                return self.result(False, None, self.max, f"{old} (term {old_term}) hit at {rel(ctx, at)}: "
                                                          "no other member acted under a newer term")
            elected = next((e for e in ctx.orchestrator.events if e.ev == "role" and e.fields.get("leader")
                            and e.term == acted.term), None)
            took = acted.t - at
            worst = max(worst, took)
            parts.append(f"{old} hit at {rel(ctx, at)}: {acted.member} term {acted.term}"
                         + (f" elected after {fd(elected.t - at)}," if elected else "")
                         + f" acted after {fd(took)}")
        return self.result(worst <= self.max, round(worst, 4), self.max, "; ".join(parts))


class ShardTakeover(CheckModel):
    """after each orchestrator fault, every backend the member hit was checking (in the second
    before) is checked by another member within max (measured: the slowest)."""

    kind: Literal["shard_takeover"] = "shard_takeover"
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, self.max)) is not None:
            return failed
        records = orchestrator_faults(ctx)
        if not records:
            return self.result(False, None, self.max, "no orchestrator fault in this run")
        events = ctx.orchestrator.events
        worst, parts = 0.0, []
        for record in records:
            node, at = record.get("node"), hit_at(record)
            held = sorted({e.target for e in events if e.ev == "check" and e.member == node
                           and at - 1.0 <= e.t <= at and e.target})
            if not held:
                return self.result(False, None, self.max, f"{node} checked nothing in the second before "
                                                          f"{rel(ctx, at)}: no shard to take over")
            for target in held:
                taken = next((e for e in events if e.ev == "check" and e.target == target and e.t > at
                              and e.member != node), None)
                if taken is None:
                    return self.result(False, None, self.max, f"{target} of {node}: never checked by another "
                                                              f"member after {rel(ctx, at)}")
                worst = max(worst, taken.t - at)
                parts.append(f"{target} {node} -> {taken.member} after {fd(taken.t - at)}")
        return self.result(worst <= self.max + 1e-9, round(worst, 4), self.max, "; ".join(parts))


class UncheckedGap(WindowedCheck):
    """no backend went longer than max without a health check by some member (window edges count
    as checks)."""

    kind: Literal["unchecked_gap"] = "unchecked_gap"
    max: Duration

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, self.max)) is not None:
            return failed
        targets = sorted({e.target for e in ctx.orchestrator.events if e.ev == "check" and e.target})
        if not targets:
            return self.result(False, None, self.max, "no health check in the history")
        start, end = bounds(self, ctx)
        gaps = longest_unchecked(ctx.orchestrator.events, targets, start, end)
        target, (gap, began) = max(gaps.items(), key=lambda item: item[1][0])
        return self.result(gap <= self.max + 1e-9, round(gap, 4), self.max,
                           f"{len(targets)} targets; longest: {target} unchecked {fd(gap)} from {rel(ctx, began)}")


class TermsDisjoint(CheckModel):
    """the leader changed, and no write (health, shard, scaling) carries an older term after a
    newer term's first write; with step_down_first, each deposed leader stepped down (stopped
    acting) before its successor was elected."""

    kind: Literal["terms_disjoint"] = "terms_disjoint"
    step_down_first: bool = False

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, 0)) is not None:
            return failed
        events = ctx.orchestrator.events
        late = term_overlaps(events, ("health", *WRITES))
        problems = [f"{e.member} wrote {e.ev} {e.target or ''} under term {e.term} at {rel(ctx, e.t)} "
                    f"after term {newest}" for e, newest in late]
        # each term's leader: elected in the run, or (elected earlier) named by a fault's record
        leaders = {e.term: (e.member, e.t) for e in events if e.ev == "role" and e.fields.get("leader")}
        for record in orchestrator_faults(ctx, "leader"):
            leaders.setdefault(record.get("term") or 0, (record.get("node"), None))
        terms = sorted(leaders)
        changes = [(old, new) for old, new in zip(terms, terms[1:]) if leaders[new][1] is not None]
        if not changes:
            return self.result(False, None, 0, "no change of leader in this run")
        notes = []
        for old_term, new_term in changes:
            (old, _), (new, elected) = leaders[old_term], leaders[new_term]
            last_old = max((e.t for e in events if written(e) and e.term == old_term and e.member == old),
                           default=None)
            first_new = min((e.t for e in events if written(e) and e.term == new_term), default=None)
            if last_old is not None and first_new is not None and last_old >= first_new:
                problems.append(f"{old} (term {old_term}) wrote at {rel(ctx, last_old)}, after "
                                f"{new} (term {new_term}) did at {rel(ctx, first_new)}")
            stepped = next((e for e in events if e.ev == "role" and not e.fields.get("leader")
                            and e.member == old and e.term == old_term), None)
            lead = elected - stepped.t if stepped else 0.0
            margin = (f"{old} stepped down at {rel(ctx, stepped.t)}, {fd(abs(lead))} "
                      f"{'before' if lead >= 0 else 'after'} that" if stepped else "no step-down recorded")
            notes.append(f"{old} term {old_term} -> {new} term {new_term} elected {rel(ctx, elected)}, {margin}")
            if self.step_down_first and (stepped is None or stepped.t > elected):
                problems.append(f"{old} stepped down " + (f"at {rel(ctx, stepped.t)}" if stepped else "never")
                                + f", after {new} was elected at {rel(ctx, elected)}")
        return self.result(not problems, len(problems), 0, "; ".join(problems or notes))


class HealthChanges(WindowedCheck):
    """at most max health state changes were written for the backend (all backends without
    one) in the window, and at least min_failed_checks of its checks failed there."""

    kind: Literal["health_changes"] = "health_changes"
    backend: NodeName | None = None
    max: int = Field(0, ge=0)
    min_failed_checks: int = Field(0, ge=0)

    def node_refs(self):
        return [("backend", self.backend, "backend")] if self.backend else []

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, self.max)) is not None:
            return failed
        start, end = bounds(self, ctx)
        mine = [e for e in ctx.orchestrator.events if start <= e.t <= end and e.target
                and (self.backend is None or split_target(e.target)[1] == self.backend)]
        checks = [e for e in mine if e.ev == "check"]
        if not checks:
            return self.result(False, None, self.max, "no health check of it in the window")
        failed_checks = sum(not e.fields.get("ok") for e in checks)
        changes = [e for e in mine if e.ev == "health" and e.fields.get("written")]
        detail = (f"{len(checks)} checks, {failed_checks} failed; {len(changes)} change(s) written"
                  + "".join(f"; {rel(ctx, e.t)} {e.target} {'healthy' if e.fields.get('healthy') else 'unhealthy'}"
                            f" ({e.fields.get('reason')})" for e in changes[:5]))
        passed = len(changes) <= self.max and failed_checks >= self.min_failed_checks
        return self.result(passed, len(changes), self.max, detail)


class ScaleDecision(WindowedCheck):
    """the orchestrator leader decided to activate (or drain) a node — this one, if given — in
    the window, within `within` of its start if given (measured: the time it took)."""

    kind: Literal["scale_decision"] = "scale_decision"
    action: Literal["activate", "drain"]
    node: NodeName | None = None
    within: Duration | None = None

    def node_refs(self):
        return [("node", self.node, "lb")] if self.node else []

    def judge(self, ctx: Context) -> CheckResult:
        if (failed := missing(self, ctx, self.within)) is not None:
            return failed
        start, end = bounds(self, ctx)
        found = [e for e in ctx.orchestrator.events if e.ev == "scale" and start <= e.t <= end
                 and e.fields.get("action") == self.action and (self.node is None or e.fields.get("node") == self.node)]
        if not found:
            others = [f"{rel(ctx, e.t)} {e.fields.get('action')} {e.fields.get('node')}"
                      for e in ctx.orchestrator.events if e.ev == "scale"]
            return self.result(False, None, self.within, f"no {self.action} decided in the window"
                               + (f" (decisions: {', '.join(others[:5])})" if others else ""))
        first = found[0]
        took = first.t - start
        detail = f"{first.fields.get('action')} {first.fields.get('node')} at {rel(ctx, first.t)}: {first.fields.get('reason')}"
        return self.result(self.within is None or took <= self.within, round(took, 4), self.within, detail)


class _Rotation(WindowedCheck):
    backend: NodeName
    max: Duration

    needs_http = True

    def node_refs(self):
        return [("backend", self.backend, "backend")]

    def served(self, ctx: Context) -> list[dict]:
        ops = ctx.history.ops("http")
        return [r for r in ops if r.get("outcome") == "ok" and r.get("backend") == self.backend]


class BackendLeaves(_Rotation):
    """in [after, before), the last successful response from the backend (through any LB) was
    sent within max of after (measured: the time until the last LB stopped sending to it)."""

    kind: Literal["backend_leaves"] = "backend_leaves"

    def judge(self, ctx: Context) -> CheckResult:
        at, end = bounds(self, ctx)
        served = [r for r in self.served(ctx) if r["t_send"] < end]
        if not any(r["t_send"] < at for r in served):
            return self.result(False, None, self.max, f"{self.backend} served nothing before +{fd(self.after)}")
        last: dict[str, float] = defaultdict(lambda: at)
        for r in served:
            if r["t_send"] >= at:
                last[r.get("lb") or "?"] = max(last[r.get("lb") or "?"], r["t_send"])
        worst = max(last.values(), default=at) - at
        detail = ", ".join(f"{lb} last sent +{fd(t - at)}" for lb, t in sorted(last.items())) or \
            "no LB sent to it after the fault"
        return self.result(worst <= self.max + 1e-9, round(worst, 4), self.max, detail)


class BackendReturns(_Rotation):
    """after `after`, the backend served a successful response within max (measured: when)."""

    kind: Literal["backend_returns"] = "backend_returns"

    def judge(self, ctx: Context) -> CheckResult:
        at = ctx.t0 + self.after
        first = next((r for r in self.served(ctx) if r["t_send"] >= at), None)
        if first is None:
            return self.result(False, None, self.max, f"{self.backend} served nothing after +{fd(self.after)}")
        took = first["t_send"] - at
        return self.result(took <= self.max + 1e-9, round(took, 4), self.max,
                           f"first response from {self.backend} (through {first.get('lb')}) after {fd(took)}")
