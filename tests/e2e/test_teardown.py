"""Teardown removes exactly what a lab created, also after the runner was SIGKILLed mid-way;
two labs run side by side without touching each other."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lblab.lab.ledger import Ledger, lab_dir
from lblab.lab.teardown import leftovers

# Labs of their own, named after the session lab so two developers' suites never share one.
LAB = os.environ.get("LBLAB_E2E_LAB", "e2eref")[:13] + "-td"
BAD_LAB = LAB[:-3] + "-bad"


def lblab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lblab.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_down_after_runner_killed_mid_bringup():
    assert not leftovers(LAB)
    runner = subprocess.Popen([sys.executable, "-m", "lblab.cli", "up", "--topo", "minimal", "--lab", LAB],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ledger = Ledger(LAB)
    deadline = time.monotonic() + 60
    # kill it once daemons are being started: namespaces, bridges and some processes exist
    while time.monotonic() < deadline:
        if ledger.exists():
            state = json.loads(ledger.path.read_text())
            started = [r for r in state["resources"] if r["kind"] == "process" and r["data"]["pid"] > 0]
            if len(started) >= 3:
                break
        assert runner.poll() is None, "lblab up ended before it could be killed"
        time.sleep(0.02)
    else:
        raise AssertionError("lblab up never started daemons")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    assert leftovers(LAB)  # it did leave things behind
    result = lblab("down", "--lab", LAB)
    assert result.returncode == 0, result.stderr
    time.sleep(0)  # nothing to wait for: down waits for asynchronous link removal itself
    assert leftovers(LAB) == {}
    assert not lab_dir(LAB).exists()


def test_full_lifecycle_side_by_side_leaves_nothing(reference_lab):
    before_ref = leftovers(reference_lab.name)
    result = lblab("up", "--topo", "minimal", "--lab", LAB)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        status = lblab("status", "--lab", LAB, "--json")
        data = json.loads(status.stdout)
        assert data["ecmp"]["r1"]["nexthops"] == ["10.0.1.1", "10.0.1.2"]
        assert data["dns_vip_holders"] == ["dns1"]
    finally:
        result = lblab("down", "--lab", LAB)
    assert result.returncode == 0, result.stderr
    assert leftovers(LAB) == {}
    # the other lab, which uses the same addresses in its own namespaces, is untouched
    assert leftovers(reference_lab.name).keys() == before_ref.keys()
    reference_lab.wait_converged(timeout=30)


def test_errors_are_clear_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nlans: {a: 10.9.0.0/24}\nnodes: {x1: {role: wizard, interfaces: {a: 10.9.0.1}}}\n")
    result = lblab("up", "--topo", str(bad), "--lab", BAD_LAB)
    assert result.returncode == 2
    assert "nodes.x1.role: unknown role 'wizard'" in result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(BAD_LAB) == {}
    result = lblab("down", "--lab", "e2e-nonexistent")
    assert result.returncode == 2 and "no lab named" in result.stderr
    # a lab name is never a path: nothing is written outside the run directory
    before = {p.name for p in Path("/etc").iterdir()}, {p.name for p in Path("/").iterdir()}
    for hostile in ("../../etc", "/tmp/x", "..", "a/../../b"):
        for command in (("up", "--topo", "minimal", "--lab", hostile), ("down", "--lab", hostile)):
            result = lblab(*command)
            assert result.returncode == 2 and "invalid lab name" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
    assert ({p.name for p in Path("/etc").iterdir()}, {p.name for p in Path("/").iterdir()}) == before
