"""The result of a scenario run: a JSON document (``build_result``, pure) and a human summary
rendered with rich (``render``). ``python -m scenarios report RESULT.json`` re-renders one."""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lblab.durations import format_duration as fd

from .checks import CheckResult, RoutePoll
from .spec import Scenario

RESULT_VERSION = 1
_DURATION_CHECKS = {"longest_disruption", "latency"}
_FRACTION_CHECKS = {"success_rate", "traffic_sent", "backend_split", "lb_split"}


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="milliseconds")


def compact_polls(polls: Mapping[tuple[str, str], Sequence[RoutePoll]]) -> dict[str, Any]:
    """Route polls as 'router prefix' -> changes only: [{t, nexthops|error}], plus the poll count."""
    out: dict[str, Any] = {}
    for (router, prefix), seq in polls.items():
        changes = []
        prev: Any = object()
        for p in seq:
            state = tuple(p.nexthops) if p.nexthops is not None else ("error", p.error)
            if state != prev:
                item: dict[str, Any] = {"t": round(p.t, 4)}
                if p.nexthops is not None:
                    item["nexthops"] = list(p.nexthops)
                else:
                    item["error"] = p.error
                changes.append(item)
                prev = state
        out[f"{router} {prefix}"] = {"polls": len(seq), "changes": changes}
    return out


def status_of(checks: Sequence[CheckResult], faults: Sequence[Mapping], error: str | None) -> str:
    if error:
        return "error"
    if any(not c.passed for c in checks):
        return "failed"
    if any(f.get("status") in ("skipped", "not_reached") for f in faults):
        return "incomplete"
    return "passed"


def build_result(scenario: Scenario, *, lab: str | None, t0: float | None, analysis: Mapping[str, Any] | None,
                 checks: Sequence[CheckResult], faults: Sequence[Mapping[str, Any]] = (),
                 heal: Mapping[str, Any] | None = None,
                 route_polls: Mapping[tuple[str, str], Sequence[RoutePoll]] | None = None,
                 error: str | None = None, files: Mapping[str, Any] | None = None) -> dict[str, Any]:
    status = status_of(checks, faults, error)
    return {
        "version": RESULT_VERSION,
        "scenario": scenario.name,
        "description": scenario.description.strip(),
        "topology": scenario.topology,
        "lab": lab,
        "start": t0,
        "start_iso": iso(t0),
        "duration": scenario.duration,
        "status": status,
        "passed": status == "passed",
        "error": error,
        "floor": scenario.floor.model_dump() if scenario.floor else None,
        "faults": [dict(f) for f in faults],
        "heal": dict(heal) if heal else None,
        "checks": [c.to_dict() for c in checks],
        "route_polls": compact_polls(route_polls or {}),
        "analysis": dict(analysis) if analysis else None,
        "files": dict(files or {}),
    }


def write_result(result: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------- rendering

def _fmt(kind: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        if "expected" in value:
            return f"each of {len(value['expected'])} ≥ {value.get('min', 1)}"
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, bool):
        return str(value)
    if kind in _DURATION_CHECKS or (kind == "route_nexthops" and isinstance(value, float)):
        return fd(value)
    if kind in _FRACTION_CHECKS and isinstance(value, float):
        return f"{value:.2%}" if kind in ("success_rate", "traffic_sent") else f"±{value:.1%}"
    return str(value)


_STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red", "incomplete": "bold yellow"}


def render(result: Mapping[str, Any], console: Console | None = None) -> None:
    con = console or Console()
    status = result.get("status", "?")
    head = Text.assemble((f"{result.get('scenario')} ", "bold"), f"on {result.get('topology')} ",
                         (status.upper(), _STATUS_STYLE.get(status, "bold")))
    con.print(head)
    if result.get("description"):
        con.print(Text(result["description"], style="dim"))
    if result.get("start_iso"):
        con.print(f"start {result['start_iso']}  duration {fd(result.get('duration'))}  lab {result.get('lab')}")
    if result.get("error"):
        con.print(Text(f"error: {result['error']}", style="red"))

    faults = result.get("faults") or []
    if faults:
        t = Table(title="faults", title_justify="left", show_edge=False)
        for col in ("at", "action", "target", "applied", "status"):
            t.add_column(col)
        for f in faults:
            params = f.get("params") or {}
            target = " ".join(f"{k}={v}" for k, v in params.items())
            applied = f"+{f['applied_at']:.3f}s" if f.get("applied_at") is not None else "-"
            if f.get("took") is not None and f["took"] >= 0.05:
                applied += f" (took {fd(f['took'])})"
            st = f.get("status", "?")
            style = {"applied": "green", "skipped": "yellow", "failed": "red"}.get(st, "")
            detail = f" ({f['detail']})" if f.get("detail") and st != "applied" else ""
            t.add_row(fd(f.get("at")), f.get("action", "?"), target, applied, Text(st + detail, style=style))
        con.print(t)
    heal = result.get("heal")
    if heal and heal.get("status") != "ok":
        con.print(Text(f"heal: {heal.get('status')}: {heal.get('detail')}", style="red"))

    checks = result.get("checks") or []
    t = Table(title="checks", title_justify="left", show_edge=False)
    for col in ("", "check", "scope", "measured", "limit"):
        t.add_column(col, no_wrap=True)
    t.add_column("detail", ratio=1)
    for c in checks:
        ok = c.get("passed")
        t.add_row(Text("PASS" if ok else "FAIL", style="green" if ok else "bold red"), c.get("name", "?"),
                  c.get("scope", ""), _fmt(c.get("name", ""), c.get("measured")),
                  _fmt(c.get("name", ""), c.get("limit")), c.get("detail", ""))
    con.print(t)

    an = result.get("analysis") or {}
    floor = result.get("floor") or {}
    t = Table(title="traffic", title_justify="left", show_edge=False)
    for col in ("kind", "sent", "ok", "failed", "success", "p50", "p99", "max", "longest disruption"):
        t.add_column(col, no_wrap=True)
    for kind in ("http", "dns"):
        s = an.get(kind) or {}
        if not s.get("total"):
            continue
        lat = s.get("latency") or {}
        t.add_row(kind, str(s["total"]), str(s["ok"]), str(s["failed"]),
                  f"{s['success_rate']:.3%}" if s.get("success_rate") is not None else "-",
                  fd(lat.get("p50")), fd(lat.get("p99")), fd(lat.get("max")),
                  fd(s.get("longest_disruption", 0.0)))
    con.print(t)
    if floor and (floor.get("disruption") is not None or floor.get("failed_requests") is not None):
        http = an.get("http") or {}
        parts = []
        if floor.get("disruption") is not None:
            # what users saw: the longest disruption of any traffic kind the scenario sent
            measured = {k: (an.get(k) or {}).get("longest_disruption", 0.0) for k in ("http", "dns")
                        if (an.get(k) or {}).get("total")}
            worst = max(measured, key=measured.get) if measured else "http"
            parts.append(f"disruption {fd(floor['disruption'])} (measured {fd(measured.get(worst, 0.0))} "
                         f"on {worst})")
        if floor.get("failed_requests") is not None:
            parts.append(f"failed requests {floor['failed_requests']} (measured {http.get('failed', '-')})")
        note = f" — {floor['note']}" if floor.get("note") else ""
        con.print(f"[bold]floor[/]: " + "; ".join(parts) + note)

    wins = [(kind, w) for kind in ("http", "dns") for w in (an.get(kind) or {}).get("disruptions", [])]
    if wins:
        t = Table(title="disruption windows", title_justify="left", show_edge=False)
        for col in ("kind", "from", "to", "duration", "failed / sent", "outcomes", "clients"):
            t.add_column(col)
        for kind, w in wins[:20]:
            t.add_row(kind, f"+{fd(w['start'])}", f"+{fd(w['end'])}", fd(w["duration"]),
                      f"{w['failures']} / {w['operations']}",
                      ", ".join(f"{k} {v}" for k, v in w.get("outcomes", {}).items()),
                      " ".join(w.get("clients", [])))
        if len(wins) > 20:
            t.add_row("…", "", "", "", f"{len(wins) - 20} more", "", "")
        con.print(t)

    http = an.get("http") or {}
    for key, title in (("per_lb", "per LB"), ("per_backend", "per backend")):
        counts = http.get(key) or {}
        total = sum(counts.values())
        if total:
            con.print(f"[bold]{title}[/]: " + "  ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items()))
    gen = an.get("generators") or {}
    if gen.get("missed"):
        con.print(Text(f"generator missed {gen['missed']} of {gen['scheduled']} scheduled operations "
                       f"(it fell behind; not counted as failures)", style="yellow"))
    if an.get("bad_lines"):
        con.print(Text(f"{an['bad_lines']} unreadable history line(s) skipped", style="yellow"))
