"""A short chaos soak, as a user runs it: `lblab chaos` brings up a lab of its own, injects faults
drawn from every node kind's hazards under steady HTTP and DNS traffic and a stream of config
writes, heals, tears the lab down, and its checker finds no violation: every disruption
explained and bounded by a fault active then, every acknowledged write served by every LB in
order, the lab converged after the final heal, nothing left behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from lblab.lab.teardown import leftovers
from tests.e2e.conftest import RESULTS

LAB = os.environ.get("LBLAB_E2E_CHAOS_LAB", "e2echaos")    # its own lab, beside the session's
SEED = 2024
DURATION = "100s"


def test_short_chaos_soak_finds_no_violation(labs):
    # one lab at a time: beside the session's lab, two cores starve BFD (100 ms x 3) into flaps
    # that no fault explains
    labs.close()
    out = RESULTS / "chaos"
    before = set(out.glob(f"chaos-{SEED}-*")) if out.exists() else set()
    run = subprocess.run([sys.executable, "-m", "lblab.cli", "chaos", "--duration", DURATION, "--seed", str(SEED),
                          "--lab", LAB, "--out", str(out)], capture_output=True, text=True, timeout=900)
    print(run.stdout[-30000:], run.stderr[-5000:])       # shown when the test fails: every violation
    [result_dir] = set(out.glob(f"chaos-{SEED}-*")) - before
    result = json.loads((result_dir / "result.json").read_text())
    chaos = result["chaos"]
    assert chaos["faults"] >= 8 and len(chaos["faults_by_action"]) >= 3, chaos     # a varied nemesis
    assert chaos["acknowledged"] >= 20 and chaos["requests"]["http"]["total"] > 10_000
    assert chaos["leftovers_checked"] and leftovers(LAB) == {}
    assert (result_dir / "report.html").is_file()
    failed = [f"{c['name']}: {c['detail']}" for c in result["checks"] if not c["passed"]]
    assert run.returncode == 0 and result["passed"], failed
