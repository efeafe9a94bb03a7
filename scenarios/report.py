"""The result of a scenario run: a JSON document (``build_result``, pure) and a human summary
rendered with rich (``render``). ``python -m scenarios report RESULT.json`` re-renders one."""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lblab.durations import format_duration as fd

from .checks import CheckResult, RoutePoll
from .spec import Scenario

RESULT_VERSION = 1
_DURATION_CHECKS = {"longest_disruption", "latency", "dns_answer_leaves"}
_FRACTION_CHECKS = {"success_rate", "traffic_sent", "backend_split", "lb_split"}


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="milliseconds")


POLL_SPAN_GAP = 0.5   # polls further apart than this (s) are reported as separate spans


def compact_polls(polls: Mapping[tuple[str, str], Sequence[RoutePoll]]) -> dict[str, Any]:
    """Route polls as 'router prefix' -> changes only: [{t, nexthops|error}], plus the poll count
    and the spans [from, to] the polls covered (so a plot can tell "unchanged" from "not polled")."""
    out: dict[str, Any] = {}
    for (router, prefix), seq in polls.items():
        changes = []
        spans: list[list[float]] = []
        prev: Any = object()
        for p in seq:
            if spans and p.t - spans[-1][1] <= POLL_SPAN_GAP:
                spans[-1][1] = round(p.t, 4)
            else:
                spans.append([round(p.t, 4), round(p.t, 4)])
            state = tuple(p.nexthops) if p.nexthops is not None else ("error", p.error)
            if state != prev:
                item: dict[str, Any] = {"t": round(p.t, 4)}
                if p.nexthops is not None:
                    item["nexthops"] = list(p.nexthops)
                else:
                    item["error"] = p.error
                changes.append(item)
                prev = state
        out[f"{router} {prefix}"] = {"polls": len(seq), "changes": changes, "spans": spans}
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

def format_value(kind: str, value: Any) -> str:
    """A check's measured value or limit as text (durations, percentages, per-name counts)."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        if isinstance(value.get("expected"), list):
            return f"each of {len(value['expected'])} ≥ {value.get('min', 1)}"
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if kind in _DURATION_CHECKS or (kind == "route_nexthops" and isinstance(value, float)):
        return fd(value)
    if kind in _FRACTION_CHECKS and isinstance(value, float):
        return f"{value:.2%}" if kind in ("success_rate", "traffic_sent") else f"±{value:.1%}"
    return str(value)


def floor_text(result: Mapping[str, Any]) -> str:
    """'disruption 300ms (measured 209ms on http) — BFD 100 ms x 3', or '' without a floor."""
    an = result.get("analysis") or {}
    floor = result.get("floor") or {}
    parts = []
    if floor.get("disruption") is not None:
        # what users saw: the longest disruption of any traffic kind the scenario sent
        measured = {k: (an.get(k) or {}).get("longest_disruption", 0.0) for k in ("http", "dns")
                    if (an.get(k) or {}).get("total")}
        worst = max(measured, key=measured.get) if measured else "http"
        parts.append(f"disruption {fd(floor['disruption'])} (measured {fd(measured.get(worst, 0.0))} on {worst})")
    if floor.get("failed_requests") is not None:
        parts.append(f"failed requests {floor['failed_requests']} "
                     f"(measured {(an.get('http') or {}).get('failed', '-')})")
    if not parts:
        return ""
    return "; ".join(parts) + (f" — {floor['note']}" if floor.get("note") else "")


# Table rows as text, shared by the terminal summary (render) and the HTML report
# (scenarios.htmlreport): column name -> cell.

FAULT_COLUMNS = ("at", "action", "target", "applied", "status")
CHECK_COLUMNS = ("check", "scope", "measured", "limit", "detail")
TRAFFIC_COLUMNS = ("kind", "sent", "ok", "failed", "success", "p50", "p99", "max", "longest disruption")
WINDOW_COLUMNS = ("kind", "from", "to", "duration", "failed / sent", "outcomes", "clients")
MAX_WINDOW_ROWS = 20


def fault_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for f in result.get("faults") or []:
        params = f.get("params") or {}
        applied = f"+{f['applied_at']:.3f}s" if f.get("applied_at") is not None else "-"
        if f.get("took") is not None and f["took"] >= 0.05:
            applied += f" (took {fd(f['took'])})"
        st = f.get("status", "?")
        detail = f" ({f['detail']})" if f.get("detail") and st != "applied" else ""
        rows.append({"at": fd(f.get("at")), "action": f.get("action", "?"),
                     "target": " ".join(f"{k}={v}" for k, v in params.items()), "applied": applied,
                     "status": st + detail, "state": st})
    return rows


def check_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"passed": bool(c.get("passed")), "check": c.get("name", "?"), "scope": c.get("scope", ""),
             "measured": format_value(c.get("name", ""), c.get("measured")),
             "limit": format_value(c.get("name", ""), c.get("limit")), "detail": c.get("detail", "")}
            for c in result.get("checks") or []]


def traffic_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    an = result.get("analysis") or {}
    rows = []
    for kind in ("http", "dns"):
        s = an.get(kind) or {}
        if not s.get("total"):
            continue
        lat = s.get("latency") or {}
        rows.append({"kind": kind, "sent": str(s["total"]), "ok": str(s["ok"]), "failed": str(s["failed"]),
                     "success": f"{s['success_rate']:.3%}" if s.get("success_rate") is not None else "-",
                     "p50": fd(lat.get("p50")), "p99": fd(lat.get("p99")), "max": fd(lat.get("max")),
                     "longest disruption": fd(s.get("longest_disruption", 0.0))})
    return rows


def window_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    an = result.get("analysis") or {}
    wins = [(kind, w) for kind in ("http", "dns") for w in (an.get(kind) or {}).get("disruptions", [])]
    rows = [{"kind": kind, "from": f"+{fd(w['start'])}", "to": f"+{fd(w['end'])}", "duration": fd(w["duration"]),
             "failed / sent": f"{w['failures']} / {w['operations']}",
             "outcomes": ", ".join(f"{k} {v}" for k, v in w.get("outcomes", {}).items()),
             "clients": " ".join(w.get("clients", []))} for kind, w in wins[:MAX_WINDOW_ROWS]]
    if len(wins) > MAX_WINDOW_ROWS:
        rows.append({c: "" for c in WINDOW_COLUMNS} | {"kind": "…",
                                                        "failed / sent": f"{len(wins) - MAX_WINDOW_ROWS} more"})
    return rows


def split_lines(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """('per LB', 'lb1 2238 (47%)  lb2 341 (7%) ...') for who served the successful requests."""
    http = (result.get("analysis") or {}).get("http") or {}
    out = []
    for key, title in (("per_lb", "per LB"), ("per_backend", "per backend")):
        counts = http.get(key) or {}
        total = sum(counts.values())
        if total:
            out.append((title, "  ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items())))
    return out


def warnings(result: Mapping[str, Any]) -> list[str]:
    an = result.get("analysis") or {}
    gen = an.get("generators") or {}
    out = []
    if gen.get("missed"):
        out.append(f"generator missed {gen['missed']} of {gen['scheduled']} scheduled operations "
                   f"(it fell behind; not counted as failures)")
    if an.get("bad_lines"):
        out.append(f"{an['bad_lines']} unreadable history line(s) skipped")
    return out


_STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red", "incomplete": "bold yellow"}
_FAULT_STYLE = {"applied": "green", "skipped": "yellow", "failed": "red"}


def _table(title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], **column_options) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False)
    for col in columns:
        t.add_column(col, **column_options)
    for row in rows:
        t.add_row(*(row[c] for c in columns))
    return t


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

    faults = [r | {"status": Text(r["status"], style=_FAULT_STYLE.get(r["state"], ""))} for r in fault_rows(result)]
    if faults:
        con.print(_table("faults", FAULT_COLUMNS, faults))
    heal = result.get("heal")
    if heal and heal.get("status") != "ok":
        con.print(Text(f"heal: {heal.get('status')}: {heal.get('detail')}", style="red"))

    t = Table(title="checks", title_justify="left", show_edge=False)
    t.add_column("", no_wrap=True)
    for col in CHECK_COLUMNS[:-1]:
        t.add_column(col, no_wrap=True)
    t.add_column("detail", ratio=1)
    for c in check_rows(result):
        t.add_row(Text("PASS" if c["passed"] else "FAIL", style="green" if c["passed"] else "bold red"),
                  *(c[col] for col in CHECK_COLUMNS))
    con.print(t)

    con.print(_table("traffic", TRAFFIC_COLUMNS, traffic_rows(result), no_wrap=True))
    floor_line = floor_text(result)
    if floor_line:
        con.print("[bold]floor[/]: " + escape(floor_line), highlight=False)
    wins = window_rows(result)
    if wins:
        con.print(_table("disruption windows", WINDOW_COLUMNS, wins))
    for title, line in split_lines(result):
        con.print(f"[bold]{title}[/]: " + escape(line), highlight=False)
    for line in warnings(result):
        con.print(Text(line, style="yellow"))
