"""Judge a chaos run from its result directory alone: read the recorded histories into the
checker's terms (times relative to the traffic start), run every check, and turn each violation
into text a person can act on: what broke, the seed that repeats the run, and the window of
history around it (faults applied and healed, config writes, what each LB served, failed
operations per half second)."""
from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenarios.history import load_history

from . import checker as C
from .recorder import HOST_FILE, STATUS_FILE, WRITES_FILE, read_lines

PLAN_FILE = "chaos-plan.json"
FINAL_FILE = "final.json"
CONTEXT = 2.0          # seconds of history shown before and after a violation
MAX_LOOKUPS = 50       # unknown served versions looked up in etcd, at most


def _rel(value: Any, t0: float) -> float | None:
    return None if value is None else round(float(value) - t0, 4)


def fault_spans(result: dict[str, Any]) -> list[C.FaultSpan]:
    spans = []
    for f in result.get("faults") or []:
        if "nodes" not in f:          # a scenario's own timed fault, not the nemesis's
            continue
        start = f.get("applied_at", f.get("at"))
        end = None if f.get("healed_at") is None else f["healed_at"] + (f.get("heal_took") or 0.0)
        spans.append(C.FaultSpan(index=f["index"], label=" ".join([f["action"], *(f"{k}={v}" for k, v in
                                                                                  f["params"].items())]),
                                 nodes=tuple(f["nodes"]), start=start, end=end,
                                 disruption=dict(f.get("disruption") or {}), floor=f.get("floor_note", ""),
                                 while_held=bool(f.get("while_held")), status=f.get("status", "healed")))
    return spans


def writes(out: Path, t0: float) -> list[C.Write]:
    found = []
    for r in read_lines(out / WRITES_FILE):
        found.append(C.Write(seq=r["seq"], sent=_rel(r["sent"], t0), value=(r.get("changes") or {}).get("algorithm"),
                             acked=_rel(r.get("acked"), t0), revision=r.get("revision"), error=r.get("error")))
    return found


def observations(out: Path, t0: float) -> tuple[list[C.Observation], list[dict]]:
    """Successful polls as Observations, and every poll (relative times) for the excerpts."""
    seen, polls = [], []
    for r in read_lines(out / STATUS_FILE):
        r = {**r, "t": _rel(r["t"], t0)}
        polls.append(r)
        if isinstance(r.get("version"), int) and r.get("error") is None:
            seen.append(C.Observation(t=r["t"], lb=r["lb"], pid=r.get("pid") or 0, version=r["version"],
                                      value=r.get("algorithm")))
    return seen, polls


def traffic_windows(result: dict[str, Any]) -> list[C.TrafficWindow]:
    out = []
    for kind in ("http", "dns"):
        for w in ((result.get("analysis") or {}).get(kind) or {}).get("disruptions") or []:
            out.append(C.TrafficWindow(kind, w["start"], w["end"], w["failures"], dict(w.get("outcomes") or {})))
    return out


def _check(name: str, violations: list[C.Violation], ok_detail: str) -> dict[str, Any]:
    return {"name": f"chaos {name}", "passed": not violations, "measured": len(violations), "limit": 0,
            "detail": ok_detail if not violations else violations[0].message
            + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""),
            "scope": "whole run", "index": None}


def judge_dir(out: Path, result: dict[str, Any], resolve: Callable[[int], str | None] | None = None,
              leftovers: dict | None = None, leftovers_checked: bool = False) -> dict[str, Any]:
    plan = json.loads((out / PLAN_FILE).read_text())
    final = json.loads((out / FINAL_FILE).read_text()) if (out / FINAL_FILE).is_file() else {}
    t0 = result["start"]
    run_end = result["duration"]
    spans = fault_spans(result)
    written = writes(out, t0)
    seen, polls = observations(out, t0)
    observed_until = max((o.t for o in seen), default=0.0)
    limits = C.Limits(delivery=plan["delivery_bound"], scale=plan["options"]["scale"],
                      slack=plan["options"]["slack"], settle=plan["options"]["settle"])
    initial = plan.get("initial") or {}
    initial_values = {initial["mod_revision"]: initial["config"].get("algorithm")} if initial else {}
    known = {w.revision for w in written if w.revision is not None} | set(initial_values)
    unknown = sorted({o.version for o in seen} - known)[:MAX_LOOKUPS]
    resolved = {rev: value for rev in unknown if resolve is not None and (value := resolve(rev)) is not None}
    windows = traffic_windows(result)
    found = {
        "disruptions": C.disruptions(windows, spans, limits, run_end),
        "config_order": C.config_order(seen),
        "config_known": C.config_known(seen, written, initial_values, resolved),
        "config_delivered": C.config_delivered(written, seen, plan["lbs"], spans, limits, observed_until),
        "nemesis": C.nemesis(spans, run_end),
        "recovery": C.recovery(final, run_end),
        "leftovers": C.leftovers(leftovers, run_end),
    }
    acked = [w for w in written if w.revision is not None]
    ok_detail = {
        "disruptions": f"{len(windows)} window(s), each within the limit of a fault active then",
        "config_order": f"{len(seen)} polls of {len(plan['lbs'])} LB servers, no version went back",
        "config_known": f"{len({o.version for o in seen})} versions served, each one a write made",
        "config_delivered": f"{len(acked)} acknowledged writes, each served by every LB in time",
        "nemesis": f"{len(spans)} faults applied and healed",
        "recovery": f"converged {final.get('converge_s', '?')}s after the final heal, every daemon running",
        "leftovers": "nothing left after lblab down" if leftovers_checked else "not checked (the lab was kept)",
    }
    checks = [_check(name, v, ok_detail[name]) for name, v in found.items()]
    violations = [v for vs in found.values() for v in vs]
    history = load_history(sorted(out.glob("history-*.jsonl")))
    pressure = [(_rel(r["t"], t0), r["cpu_some_avg10"]) for r in read_lines(out / HOST_FILE)
                if isinstance(r.get("cpu_some_avg10"), (int, float))]
    routes = route_changes(result)
    reported = [{"check": v.check, "message": v.message, "from": v.t_from, "to": v.t_to,
                 "history": excerpt(v.t_from - CONTEXT, v.t_to + CONTEXT, spans, written, polls, history, t0,
                                    pressure, routes)}
                for v in violations]
    summary = {
        "seed": plan["seed"], "duration": run_end,
        "faults": len(spans), "faults_by_action": dict(collections.Counter(f.label.split()[0] for f in spans)),
        "faults_by_status": dict(collections.Counter(f.status for f in spans)),
        "config_writes": len(written), "acknowledged": len(acked),
        "failed_writes": sum(1 for w in written if w.revision is None),
        "requests": {k: {n: ((result.get("analysis") or {}).get(k) or {}).get(n) for n in ("total", "ok", "failed")}
                     for k in ("http", "dns")},
        "violations": len(violations), "leftovers_checked": leftovers_checked,
        "host_cpu_pressure": {"mean": round(sum(p for _, p in pressure) / len(pressure), 1),
                              "max": max(p for _, p in pressure)} if pressure else None,
        "repeat": repeat_command(plan, result),
    }
    return {"checks": checks, "summary": summary, "violations": reported, "resolved": resolved}


def repeat_command(plan: dict[str, Any], result: dict[str, Any]) -> str:
    opts = plan["options"]
    words = ["lblab chaos", f"--seed {plan['seed']}", f"--duration {opts['duration']:g}s"]
    if opts.get("actions"):
        words.append("--faults " + ",".join(opts["actions"]))
    if result.get("topology") and result["topology"] != "reference":
        words.append(f"--topo {result['topology']}")
    return " ".join(words)


def route_changes(result: dict[str, Any]) -> list[tuple[float, str]]:
    """(t, 'r1 10.0.0.100/32 via a, b') for every change the runner's route polls saw."""
    out = []
    for route, track in (result.get("route_polls") or {}).items():
        for change in track.get("changes") or []:
            hops = change.get("nexthops")
            what = f"via {', '.join(hops)}" if hops else ("no route" if hops is not None else
                                                           f"poll failed: {change.get('error')}")
            out.append((change["t"], f"{route} {what}"))
    return out


def excerpt(t_from: float, t_to: float, spans: list[C.FaultSpan], written: list[C.Write], polls: list[dict],
            history, t0: float, pressure: list[tuple[float, float]] = (),
            routes: list[tuple[float, str]] = (), bucket: float = 0.5) -> list[str]:
    """What happened in [t_from, t_to], one line per event, in time order."""
    lines: list[tuple[float, str]] = [(t, text) for t, text in routes if t_from <= t <= t_to]
    inside = [p for t, p in pressure if t_from <= t <= t_to]
    if inside:
        lines.append((t_from, f"host CPU pressure {min(inside):.0f}-{max(inside):.0f}% (share of time a runnable "
                              "task waited for a CPU, 10 s average)"))
    for f in spans:
        if t_from <= f.start <= t_to:
            lines.append((f.start, f"fault {f.index} applied: {f.label}"))
        if f.end is not None and t_from <= f.end <= t_to:
            lines.append((f.end, f"fault {f.index} healed: {f.label}"))
        if f.start < t_from and (f.end is None or f.end > t_to):
            lines.append((t_from, f"fault {f.index} active throughout: {f.label}"))
    for w in written:
        if t_from <= w.sent <= t_to:
            what = f"acknowledged as v{w.revision}" if w.revision is not None else f"failed ({w.error})"
            lines.append((w.sent, f"config write {w.seq} ({w.value}) {what}"))
    last: dict[str, Any] = {}
    for p in sorted(polls, key=lambda p: p["t"]):
        state = p.get("error") or (p.get("pid"), p.get("version"), p.get("algorithm"))
        if last.get(p["lb"]) != state:
            last[p["lb"]] = state
            if t_from <= p["t"] <= t_to:
                text = f"unreachable: {p['error']}" if p.get("error") else \
                    f"serves v{p.get('version')} ({p.get('algorithm')}), pid {p.get('pid')}"
                lines.append((p["t"], f"{p['lb']} {text}"))
    for kind in ("http", "dns"):
        buckets: dict[int, collections.Counter] = {}
        for op in history.ops(kind):
            t = op["t_send"] - t0
            if t_from <= t <= t_to and op.get("outcome") not in ("ok", "cancelled"):
                buckets.setdefault(int(t // bucket), collections.Counter())[op["outcome"]] += 1
        for k, counts in sorted(buckets.items()):
            lines.append((k * bucket, f"{kind}: {sum(counts.values())} failed in +{k * bucket:.1f}..+{(k + 1) * bucket:.1f}s "
                                      f"({', '.join(f'{o} {n}' for o, n in counts.most_common())})"))
    return [f"+{t:7.2f}s  {text}" for t, text in sorted(lines, key=lambda x: x[0])]
