"""Config push latency: a console write until every LB server serves it.

    python -m benchmarks.push_latency [--writes 100] [--lbs 3] [--wrk-connections 0]

A 3-member etcd (the lab's timing: heartbeat 50 ms, election 500 ms), Redis, two backends,
``--lbs`` LB servers and the console on 127.0.0.1. Each write changes be1's weight through the
console's API (If-Match on the version it read), then waits until every LB server's
``/-/status`` shows that version; the latency of one LB is its ``applied_at`` minus the
console's ``committed_at`` (one clock), so how often the benchmark polls does not count.
``--wrk-connections N`` keeps wrk (N connections, keep-alive) sending to the LB servers
meanwhile: a saturated box, the worst case. Writes every number to
``results/bench/push-latency-<time>.json``.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import save
from tests.integration.harness import Lab, base_config, wait_until
from tests.integration.orchharness import FAST_ETCD

LB = "/api/lbs/payment"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(writes: int, lb_count: int, wrk_connections: int, tmp: Path) -> dict:
    lab = Lab(tmp)
    wrk = None
    try:
        etcd = lab.etcd_cluster(3, *FAST_ETCD)
        redis = lab.redis()
        backends = [lab.backend("be1"), lab.backend("be2")]
        etcd.members[0].put_config(base_config(backends))
        endpoints = etcd.endpoints
        lbs = [lab.lb(etcd.members[0], redis, name=f"lb{i + 1}", etcd_endpoints=endpoints)
               for i in range(lb_count)]
        console = lab.console(endpoints, redis,
                              {"payment": {lb.name: f"http://127.0.0.1:{lb.admin_port}" for lb in lbs}})
        if wrk_connections:
            wrk = subprocess.Popen(["wrk", "-t1", f"-c{wrk_connections}", f"-d{writes + 60}s",
                                    f"http://127.0.0.1:{lbs[0].port}/"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        latencies: list[float] = []
        slowest: list[float] = []
        for i in range(writes):
            status, _, doc = console.call("GET", LB)
            status, _, answer = console.call("PUT", f"{LB}/weights", {"be1": 1 + i % 5},
                                             version=doc["version"])
            if status != 200:
                raise RuntimeError(f"write {i}: HTTP {status}: {answer}")
            version, committed = answer["version"], answer["committed_at"]
            applied = {}
            for lb in lbs:
                config = wait_until(lambda lb=lb: (c := lb.status().get("config")) and
                                    c["version"] >= version and c, 10, f"{lb.name} serving v{version}")
                applied[lb.name] = config["applied_at"] - committed
            latencies += applied.values()
            slowest.append(max(applied.values()))
        ms = [v * 1000 for v in latencies]
        worst = [v * 1000 for v in slowest]
        return {"writes": writes, "lbs": lb_count, "wrk_connections": wrk_connections,
                "per_lb_ms": {"p50": statistics.median(ms), "p90": percentile(ms, 0.9),
                              "p99": percentile(ms, 0.99), "max": max(ms)},
                "every_lb_ms": {"p50": statistics.median(worst), "p90": percentile(worst, 0.9),
                                "p99": percentile(worst, 0.99), "max": max(worst)},
                "samples_ms": [round(v, 2) for v in ms]}
    finally:
        if wrk is not None:
            wrk.kill()
            wrk.wait()
        lab.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--lbs", type=int, default=3)
    parser.add_argument("--wrk-connections", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="push-latency-") as tmp:
        result = run(args.writes, args.lbs, args.wrk_connections, Path(tmp))
    path = save("push-latency", result)
    for scope in ("per_lb_ms", "every_lb_ms"):
        print(f"{scope}: " + ", ".join(f"{k} {v:.1f}" for k, v in result[scope].items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
