"""The benchmark's numbers: each target's rounds, their medians, the ratios against HAProxy, and
the table."""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.wrk import WrkResult

GOAL = {"rps_ratio_min": 0.85, "p99_ratio_max": 1.3}


@dataclass
class Target:
    key: str
    label: str
    port: int
    roots: list[int] = field(default_factory=list)   # PIDs whose CPU time counts
    placement: str = ""
    rounds: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        rounds = self.rounds
        if not rounds:
            return {}

        def med(key: str) -> float | None:
            values = [r[key] for r in rounds if r.get(key) is not None]
            return statistics.median(values) if values else None

        busy = {cpu: statistics.median(r["cpu_busy_percent"][cpu] for r in rounds
                                       if cpu in r.get("cpu_busy_percent", {}))
                for cpu in rounds[0].get("cpu_busy_percent", {})}
        return {"rps": med("rps"), "p50_us": med("p50_us"), "p99_us": med("p99_us"),
                "cpu_percent": med("cpu_percent"), "cpu_us_per_request": med("cpu_us_per_request"),
                "user_us_per_request": med("user_us_per_request"),
                "sys_us_per_request": med("sys_us_per_request"), "cpu_busy_percent": busy,
                "rps_min": min(r["rps"] for r in rounds), "rps_max": max(r["rps"] for r in rounds),
                "errors": sum(r["socket_errors"] + r["non_2xx"] for r in rounds),
                "rounds": len(rounds)}


def round_record(result: WrkResult, cpu: tuple[float, float] | None,
                 busy: dict[str, float] | None = None) -> dict[str, Any]:
    """One measured run: wrk's numbers, the proxy's CPU (total % of one core; user and system
    microseconds per request) and how busy each CPU of the machine was."""
    record = asdict(result)
    keys = ("cpu_seconds", "cpu_percent", "cpu_us_per_request", "user_us_per_request",
            "sys_us_per_request")
    for key in keys:
        record[key] = None
    if cpu is not None and result.duration_s:
        user, system = cpu
        total = user + system
        record["cpu_seconds"] = round(total, 3)
        record["cpu_percent"] = round(100 * total / result.duration_s, 1)
        if result.requests:
            record["cpu_us_per_request"] = round(total * 1e6 / result.requests, 2)
            record["user_us_per_request"] = round(user * 1e6 / result.requests, 2)
            record["sys_us_per_request"] = round(system * 1e6 / result.requests, 2)
    record["cpu_busy_percent"] = busy or {}
    return record


def ratios(summaries: dict[str, dict], reference: str = "haproxy",
           rounds: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """Each lbapp target against the reference: req/s and p99 ratios of the medians; with
    ``rounds``, also the ratios of each round (run next to each other in time)."""
    ref = summaries.get(reference) or {}
    out = {}
    for key, s in summaries.items():
        if not key.startswith("lbapp") or not s or not ref.get("rps"):
            continue
        out[key] = {"rps_ratio": round(s["rps"] / ref["rps"], 3),
                    "p99_ratio": round(s["p99_us"] / ref["p99_us"], 3) if ref.get("p99_us") else None}
        if rounds and rounds.get(key) and rounds.get(reference):
            pairs = list(zip(rounds[key], rounds[reference]))
            out[key]["rps_ratio_per_round"] = [round(a["rps"] / b["rps"], 3) for a, b in pairs]
            out[key]["p99_ratio_per_round"] = [round(a["p99_us"] / b["p99_us"], 3)
                                               for a, b in pairs]
    return out


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def print_table(console, targets: list[Target], summaries: dict[str, dict],
                ratio: dict[str, dict], reference: str = "haproxy") -> None:
    from rich.table import Table

    table = Table(title="proxy benchmark: median of the rounds")
    columns = ("target", "CPU pin", "req/s", "p50", "p99", "proxy CPU", "us/req usr+sys",
               "CPU0/CPU1 busy", "errors", "req/s ratio", "p99 ratio")
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "CPU pin") else "right",
                         no_wrap=True)
    for t in targets:
        s = summaries.get(t.key) or {}
        if not s:
            table.add_row(t.label, t.placement, *["-"] * (len(columns) - 2))
            continue
        r = ratio.get(t.key) or {}
        per_req = ("-" if s["user_us_per_request"] is None else
                   f"{s['user_us_per_request']:.1f}+{s['sys_us_per_request']:.1f}")
        machine = "/".join(f"{b:.0f}" for b in s.get("cpu_busy_percent", {}).values())
        table.add_row(
            t.label, t.placement, f"{s['rps']:,.0f}", fmt_us(s["p50_us"]), fmt_us(s["p99_us"]),
            "-" if s["cpu_percent"] is None else f"{s['cpu_percent']:.0f}%", per_req,
            machine + "%" if machine else "-", str(s["errors"]),
            f"{r['rps_ratio']:.2f}x" if r else "", f"{r['p99_ratio']:.2f}x" if r.get("p99_ratio") else "")
    console.print(table)
    console.print(f"ratios: lbapp / {reference} (req/s: higher is better; p99: lower is better)")
