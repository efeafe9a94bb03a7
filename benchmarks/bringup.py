"""How long a lab takes to come up (to converged) and to go away, and what each node kind's
daemons weigh, measured with `lblab up` / `lblab down` as a user runs them. With
--baseline-tree, rounds alternate between that source tree and this one, so both see the same
machine load (a shared 2-core box is noisy: compare the ranges, not one run).

    python -m benchmarks.bringup [--topo reference] [--rounds 3] [--baseline-tree DIR] [--memory]

Prints per tree: converged (as `lblab up` reports it), `lblab up` wall time, `lblab down` wall
time (min / median / max), and with --memory the RSS and PSS per daemon of each node kind
(PSS splits pages shared between processes, e.g. daemons forked from one preloaded interpreter).
A measurement: it never fails on the numbers. Results go to results/bench/bringup-TIME.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from lblab.lab.ledger import Ledger
from lblab.paths import RESULTS_DIR

HERE = Path(__file__).resolve().parents[1]
CONVERGED = re.compile(r"converged in ([0-9.]+)s")


def lblab(tree: Path, *args: str, timeout: float = 600) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lblab.cli", *args], cwd=tree, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(tree)})
    return time.monotonic() - started, done


def memory(lab: str) -> dict[str, dict[str, float]]:
    """'role/daemon' -> count and mean RSS and PSS (MiB) of its processes (main and children)."""
    ledger = Ledger(lab).load()
    topology = __import__("yaml").safe_load((ledger.dir / "topology.yaml").read_text())
    per: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "rss_mib": 0.0, "pss_mib": 0.0})
    for record in ledger.resources("process"):
        node = record.data.get("node")
        if not node or record.data.get("pid", -1) < 0:
            continue
        key = f"{topology['nodes'][node]['role']}/{record.data['daemon']}"
        per[key]["count"] += 1
        pids = [record.data["pid"]]
        try:
            pids += [int(p) for p in Path(f"/proc/{pids[0]}/task/{pids[0]}/children").read_text().split()]
        except OSError:
            pass
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    field, _, value = line.partition(":")
                    if field in ("Rss", "Pss"):
                        per[key][f"{field.lower()}_mib"] += int(value.split()[0]) / 1024
            except OSError:
                continue
    return {k: {"count": v["count"], "rss_mib": round(v["rss_mib"] / v["count"], 1),
                "pss_mib": round(v["pss_mib"] / v["count"], 1)} for k, v in sorted(per.items())}


def one_round(tree: Path, topo: str, lab: str, with_memory: bool) -> dict:
    up_s, up = lblab(tree, "up", "--topo", topo, "--lab", lab, "--timeout", "120")
    found = CONVERGED.findall(up.stdout)
    out = {"tree": str(tree), "up_s": round(up_s, 2), "converged_s": float(found[-1]) if found else None,
           "up_ok": up.returncode == 0}
    if not out["up_ok"]:
        out["error"] = (up.stderr or up.stdout)[-2000:]
    if with_memory and out["up_ok"]:
        out["memory"] = memory(lab)
    down_s, down = lblab(tree, "down", "--lab", lab)
    out.update(down_s=round(down_s, 2), down_ok=down.returncode == 0)
    return out


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bringup", description=__doc__.splitlines()[0])
    parser.add_argument("--topo", default="reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="another source tree to alternate with (before/after)")
    parser.add_argument("--lab", default="bubench", help="lab name used for every round")
    parser.add_argument("--memory", action="store_true", help="also measure RSS/PSS per node kind (this tree)")
    args = parser.parse_args(argv)
    trees = ([args.baseline_tree.resolve()] if args.baseline_tree else []) + [HERE]
    rounds = []
    for i in range(args.rounds):
        for tree in trees:
            result = one_round(tree, args.topo, args.lab, args.memory and tree == HERE)
            rounds.append(result)
            print(f"round {i + 1} {tree}: converged {result['converged_s']}s, up {result['up_s']}s, "
                  f"down {result['down_s']}s" + ("" if result["up_ok"] else f" FAILED: {result.get('error')}"),
                  flush=True)
    print(f"\n{args.topo}: min / median / max over {args.rounds} round(s)")
    for tree in trees:
        mine = [r for r in rounds if r["tree"] == str(tree)]
        print(f"  {tree}: converged {spread([r['converged_s'] for r in mine])} s; lblab up "
              f"{spread([r['up_s'] for r in mine])} s; lblab down {spread([r['down_s'] for r in mine])} s")
    last = next((r["memory"] for r in reversed(rounds) if r.get("memory")), None)
    if last:
        print("\nmemory per daemon (MiB, mean of its processes): kind/daemon  count  RSS  PSS")
        for key, m in last.items():
            print(f"  {key:24s} {m['count']:4d}  {m['rss_mib']:7.1f}  {m['pss_mib']:6.1f}")
    out = RESULTS_DIR / "bench" / f"bringup-{args.topo}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"topo": args.topo, "rounds": rounds}, indent=1) + "\n")
    print(f"\nall rounds: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
