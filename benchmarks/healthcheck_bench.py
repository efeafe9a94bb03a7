"""Health-check benchmark: how many checks one orchestrator member sustains, at what cost.

    python -m benchmarks.healthcheck_bench [--targets 100] [--interval-ms 200]
        [--timeout-ms 150] [--duration 30] [--warmup 5]

One etcd, one backend app process listening on ``--targets`` ports (each port is one backend
of the LB config, so the targets cost one process), and one orchestrator member (the real
process, ``python -m lbapp.orchestrator``) that leads and checks them all, on 127.0.0.1. After
the warm-up it measures for ``--duration`` seconds:

- checks/s, from the member's check history (one line per check);
- check latency (connect to verdict) p50/p99/max per third of the run, to show whether it grows;
- how late checks start against their schedule (lag p99), from the member's histogram;
- the member's CPU (utime + stime from /proc, % of one core) and RSS, and the backend's CPU.

Writes every number to ``results/bench/healthcheck-<time>.json``. A measurement: it never fails
on the numbers. Other load on the machine shows up in the lag and latency columns.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import save
from lbapp.orchestrator.history import read_history
from tests.integration.harness import Lab, wait_until
from tests.integration.orchharness import BackendPool, lb_config, start_orch

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="hc-bench-") as tmp:
        lab = Lab(Path(tmp))
        try:
            etcd = lab.etcd()
            pool = BackendPool(lab, args.targets)
            etcd.put_config(lb_config(pool.entries()))
            orch = start_orch(lab, "orch1", [etcd.endpoint], lease_ttl_s=2, log_level="info",
                              health_check={"interval_ms": args.interval_ms,
                                            "timeout_ms": args.timeout_ms, "rise": 2,
                                            "fall": 2})
            wait_until(lambda: len(orch.status()["targets"]) == args.targets, 20,
                       "every target assigned")
            time.sleep(args.warmup)
            pid, backend_pid = orch.proc.pid, pool.proc.pid
            cpu0, backend_cpu0, t0 = cpu_seconds(pid), cpu_seconds(backend_pid), time.time()
            time.sleep(args.duration)
            cpu1, backend_cpu1, t1 = cpu_seconds(pid), cpu_seconds(backend_pid), time.time()
            rss = rss_mib(pid)
            lag_p99 = _histogram_quantile(orch, "lbapp_orch_check_lag_seconds", 0.99)
            time.sleep(0.3)  # the history is flushed every 0.1 s
            events, _ = read_history([orch.history])
        finally:
            lab.close()
    checks = [e for e in events if e.ev == "check" and t0 <= e.t <= t1]
    thirds = []
    for i in range(3):
        lo, hi = t0 + i * (t1 - t0) / 3, t0 + (i + 1) * (t1 - t0) / 3
        ms = [e.fields["ms"] for e in checks if lo <= e.t < hi]
        thirds.append({"checks": len(ms), "p50_ms": percentile(ms, 0.5),
                       "p99_ms": percentile(ms, 0.99), "max_ms": max(ms, default=float("nan"))})
    failed = sum(1 for e in checks if not e.fields.get("ok"))
    seconds = t1 - t0
    return {
        "targets": args.targets, "interval_ms": args.interval_ms, "timeout_ms": args.timeout_ms,
        "expected_checks_per_s": args.targets * 1000 / args.interval_ms,
        "seconds": round(seconds, 2), "checks": len(checks),
        "checks_per_s": round(len(checks) / seconds, 1), "failed_checks": failed,
        "latency_by_third": thirds,
        "lag_p99_ms": round(lag_p99 * 1000, 2) if lag_p99 == lag_p99 else None,
        "member_cpu_pct": round(100 * (cpu1 - cpu0) / seconds, 1),
        "member_cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / max(1, len(checks)), 1),
        "member_rss_mib": round(rss, 1),
        "backend_cpu_pct": round(100 * (backend_cpu1 - backend_cpu0) / seconds, 1),
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
    }


def _histogram_quantile(orch, name: str, q: float) -> float:
    from tests.integration.harness import http_get

    text = http_get(orch.metrics_port, "/metrics")[2].decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= q * total)


def report(result: dict) -> str:
    lines = [f"{result['targets']} targets every {result['interval_ms']} ms (timeout "
             f"{result['timeout_ms']} ms): {result['checks_per_s']} checks/s measured over "
             f"{result['seconds']} s (expected {result['expected_checks_per_s']:g}), "
             f"{result['failed_checks']} failed",
             f"member: {result['member_cpu_pct']}% of one core "
             f"({result['member_cpu_us_per_check']} us CPU per check), RSS "
             f"{result['member_rss_mib']} MiB; backend {result['backend_cpu_pct']}% of a core",
             f"check start lag p99: {result['lag_p99_ms']} ms (bucket bound)",
             "latency by third of the run (connect to verdict):"]
    for i, third in enumerate(result["latency_by_third"], 1):
        lines.append(f"  {i}/3: {third['checks']} checks, p50 {third['p50_ms']:.2f} ms, "
                     f"p99 {third['p99_ms']:.2f} ms, max {third['max_ms']:.2f} ms")
    lines.append(f"load average {', '.join(f'{x:.2f}' for x in result['load_average'])} on "
                 f"{result['cpus']} CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.healthcheck_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--interval-ms", type=int, default=200)
    parser.add_argument("--timeout-ms", type=int, default=150)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 2000 or args.timeout_ms > args.interval_ms:
        parser.error("--targets must be 1-2000 and --timeout-ms at most --interval-ms")
    result = run(args)
    print(report(result))
    print(f"-> {save('healthcheck', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
