"""Orchestrator failover benchmark: leader SIGKILL / SIGSTOP under two etcd timings.

    python -m benchmarks.orch_failover [--runs 5] [--modes ttl2,ttl1] [--faults kill,stop]

Modes: ``ttl2`` is etcd's default timing (heartbeat 100 ms, election timeout 1 s; the smallest
lease TTL it grants is 2 s) with a 2 s lease; ``ttl1`` is heartbeat 50 ms / election timeout
500 ms with a 1 s lease. Each mode runs a 3-member etcd, 12 health-check targets (one backend
process) and 3 orchestrator members (checks every 200 ms, timeout 150 ms) on 127.0.0.1; each run
signals the current leader and measures, from the signal:

- ``elected``: until etcd's election names another leader (``/v3/election/leader``);
- ``acted``: until the new leader's first write (an assignment of its term) is in etcd;
- ``gap``: the longest time any target went unchecked around the fault (from the members'
  check histories, window [signal - 1 s, signal + acted + 2 s]).

The killed member is started again (the stopped one continued) and the cluster is back to three
members before the next run. Writes every number to ``results/bench/orch-failover-<time>.json``.
"""
from __future__ import annotations

import argparse
import base64
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lbapp import keys
from benchmarks.results import save
from lbapp.orchestrator.history import longest_unchecked, read_history
from tests.integration.harness import Lab, wait_until
from tests.integration.orchharness import (FAST_ETCD, BackendPool, assignment, etcd_call,
                                           lb_config, leaders, start_orch)

MODES = {"ttl2": ((), 2), "ttl1": (FAST_ETCD, 1)}
FAULTS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def election_leader(endpoints: list[str]) -> str | None:
    for endpoint in endpoints:
        try:
            doc = etcd_call(endpoint, "/v3/election/leader",
                            {"name": base64.b64encode(keys.ORCHESTRATOR_ELECTION.encode()).decode()}, 1)
            return base64.b64decode(doc["kv"]["value"]).decode()
        except (OSError, KeyError, ValueError):
            continue
    return None


def settle(cluster, orchs) -> dict:
    def ready():
        doc = assignment(cluster.endpoints[0])
        return doc if doc and len(doc["members"]) == 3 and len(leaders(orchs)) == 1 and all(
            o.status()["shard"] and o.status()["shard"]["term"] == doc["term"]
            for o in orchs) else None
    doc = wait_until(ready, 30, "3 members following one leader")
    time.sleep(1.0)
    return doc


def one_run(cluster, orchs, fault: str, restart) -> dict:
    """One fault; ``orchs`` is updated in place (a killed member is replaced by ``restart``)."""
    doc = settle(cluster, orchs)
    [old] = leaders(orchs)
    t0 = time.monotonic()
    wall0 = time.time()
    old.proc.signal(FAULTS[fault])
    elected = acted = None
    while acted is None and time.monotonic() - t0 < 20:
        now = time.monotonic() - t0
        if elected is None and election_leader(cluster.endpoints) not in (None, old.name):
            elected = now
        current = assignment(cluster.endpoints[0])
        if current and current["term"] > doc["term"]:
            acted = now
            elected = elected if elected is not None else now
        time.sleep(0.01)
    time.sleep(2.5)
    events, _ = read_history(sorted(orchs[0].history.parent.glob("*-checks.jsonl")))
    gaps = longest_unchecked(events, doc["targets"], wall0 - 1.0, wall0 + (acted or 0) + 2.0)
    worst = max(gaps.values()) if gaps else (float("nan"), 0)
    if fault == "kill":
        orchs[orchs.index(old)] = restart(old.name)
    else:
        old.proc.signal(signal.SIGCONT)
    return {"fault": fault, "elected_s": elected, "acted_s": acted, "max_gap_s": worst[0]}


def run_mode(mode: str, runs: int, faults: list[str]) -> list[dict]:
    flags, ttl = MODES[mode]
    results = []
    with tempfile.TemporaryDirectory(prefix="orch-failover-") as tmp:
        lab = Lab(Path(tmp))
        try:
            cluster = lab.etcd_cluster(3, *flags)
            pool = BackendPool(lab, 12)
            cluster.members[0].put_config(lb_config(pool.entries()))
            def restart(name: str, wait: bool = False):
                return start_orch(lab, name, cluster.endpoints, lease_ttl_s=ttl,
                                  log_level="info", wait=wait)

            orchs = [restart(f"orch{i}", wait=True) for i in (1, 2, 3)]
            for run in range(runs):
                for fault in faults:
                    result = one_run(cluster, orchs, fault, restart)
                    result.update(mode=mode, run=run + 1, ttl=ttl)
                    print(f"{mode} {fault} #{run + 1}: elected {result['elected_s']:.2f} s, "
                          f"acted {result['acted_s']:.2f} s, longest unchecked "
                          f"{result['max_gap_s']:.2f} s", flush=True)
                    results.append(result)
        finally:
            lab.close()
    return results


def summary(results: list[dict]) -> str:
    lines = ["mode  fault  runs  elected s (min/median/max)  acted s (min/median/max)  "
             "longest unchecked s (max)"]
    for mode in MODES:
        for fault in FAULTS:
            rows = [r for r in results if r["mode"] == mode and r["fault"] == fault
                    and r["acted_s"] is not None]
            if not rows:
                continue
            def stats(key):
                values = [r[key] for r in rows]
                return f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}"
            lines.append(f"{mode:5} {fault:6} {len(rows):4}  {stats('elected_s'):26} "
                         f"{stats('acted_s'):25} {max(r['max_gap_s'] for r in rows):.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orch_failover",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default="ttl2,ttl1")
    parser.add_argument("--faults", default="kill,stop")
    args = parser.parse_args(argv)
    modes, faults = args.modes.split(","), args.faults.split(",")
    if not set(modes) <= set(MODES) or not set(faults) <= set(FAULTS) or args.runs < 1:
        parser.error(f"--modes from {', '.join(MODES)}, --faults from {', '.join(FAULTS)}")
    results = [r for mode in modes for r in run_mode(mode, args.runs, faults)]
    print(summary(results))
    print(f"-> {save('orch-failover', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
