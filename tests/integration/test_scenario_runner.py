"""The runner's orchestration (fault timing and order, readiness, heal-on-failure, result file)
with a stand-in lab: the real traffic generator runs as a local process against a loopback HTTP
stub whose behaviour the stand-in's faults switch (no namespaces, no root)."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scenarios.labapi import FaultSkipped, Lab
from scenarios.runner import RunOptions, run_scenario
from scenarios.spec import ScenarioError, parse_scenario

from tests.unit.test_scenario_spec import REFERENCE
from .stubnet import StubHttp

ROOT = Path(__file__).resolve().parents[2]
FAST = RunOptions(ready_timeout=10.0, poll_interval=0.05, exit_grace=2.0)


class StandInLab:
    """Implements the Lab protocol on the local machine; faults change the stub's behaviour."""

    name = "standin"
    topology = "reference"
    dns_vip = "127.0.0.1"
    python = sys.executable

    def __init__(self, http: StubHttp, fail_on: str | None = None, interrupt_on: str | None = None,
                 generator_argv=None):
        self.http = http
        self.calls: list[tuple[float, str, dict]] = []
        self.heals: list[float] = []
        self.down: set[str] = set()
        self.fail_on, self.interrupt_on = fail_on, interrupt_on
        self.generator_argv = generator_argv
        self.procs: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    lans = REFERENCE.lans

    def node_names(self, role=None):
        return REFERENCE.node_names(role)

    def fault_targets(self, node):
        return REFERENCE.fault_targets(node)

    def popen(self, node, argv, stdout_path):
        argv = self.generator_argv or argv
        with open(stdout_path, "w") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.procs.append(p)
        return p

    def run(self, node, argv, timeout):
        return subprocess.run(argv, timeout=timeout, capture_output=True)

    def fault(self, action, **params):
        self.calls.append((time.time(), action, params))
        if action == self.fail_on:
            raise RuntimeError(f"cannot {action}")
        if action == self.interrupt_on:
            raise KeyboardInterrupt
        if action == "delay":
            raise FaultSkipped("kernel has no netem")
        if action == "node_down":
            with self.lock:
                self.down.add(params["node"])
            self.http.mode = "hang"
        elif action == "node_up":
            with self.lock:
                self.down.discard(params["node"])
            self.http.mode = "ok"
        return {"did": action, **params}

    def heal_all(self):
        self.heals.append(time.time())
        with self.lock:
            self.down.clear()
        self.http.mode = "ok"
        return {"healed": True}

    def route_nexthops(self, router, prefix):
        with self.lock:
            return [f"10.2.0.{i}" for i in (1, 2, 3) if f"lb{i}" not in self.down]

    def orchestrator_histories(self):
        return {}


@pytest.fixture
def http():
    s = StubHttp()
    yield s
    s.close()


def scenario(port, faults, checks=None, duration="2.5s"):
    return parse_scenario({
        "name": "standin", "topology": "reference", "duration": duration,
        "traffic": [{"kind": "http", "clients": ["client1", "client2"], "url": f"http://127.0.0.1:{port}/",
                     "rate": 40, "timeout": "300ms"}],
        "faults": faults,
        "checks": checks or [
            {"failed_requests": {"max": 0}},
            {"failed_requests": {"max": 0, "before": "600ms"}},   # not in flight at 1s
            {"longest_disruption": {"max": "1s"}},
            {"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 3, "before": "1s"}},
            {"route_nexthops": {"router": "r1", "prefix": "10.0.0.100/32", "count": 2, "after": "1s",
                                "within": "300ms"}},
            {"traffic_sent": {"min_fraction": 0.9}},
        ]})


DOWN_UP = [{"at": "1.6s", "action": "node_up", "node": "lb2"},
           {"at": "1s", "action": "node_down", "node": "lb2"}]


def test_faults_in_order_at_their_times_then_heal(http, tmp_path):
    lab = StandInLab(http)
    assert isinstance(lab, Lab)
    result = run_scenario(lab, scenario(http.port, DOWN_UP), tmp_path, options=FAST)
    t0 = result["start"]
    # applied in time order (not file order), each close to its time after t0
    assert [c[1] for c in lab.calls] == ["node_down", "node_up"]
    assert lab.calls[0][0] - t0 == pytest.approx(1.0, abs=0.15)
    assert lab.calls[1][0] - t0 == pytest.approx(1.6, abs=0.15)
    assert len(lab.heals) == 1 and lab.heals[0] > lab.calls[1][0]
    assert all(p.poll() is not None for p in lab.procs)
    faults = result["faults"]
    assert [(f["index"], f["action"], f["status"]) for f in faults] == [(1, "node_down", "applied"), (0, "node_up", "applied")]
    assert faults[0]["applied_at"] == pytest.approx(1.0, abs=0.15)
    assert faults[0]["record"] == {"did": "node_down", "node": "lb2"}
    assert result["heal"]["status"] == "ok"

    checks = {(c["index"]): c for c in result["checks"]}
    assert checks[0]["passed"] is False and checks[0]["measured"] > 0    # requests hung while "down"
    assert checks[1]["passed"] is True                                   # nothing failed before it
    assert checks[2]["passed"] is True
    assert 0.3 <= checks[2]["measured"] <= 0.8
    assert checks[3]["passed"] is True and checks[4]["passed"] is True, checks
    assert checks[4]["measured"] < 0.2
    assert checks[5]["passed"] is True
    assert result["status"] == "failed" and result["passed"] is False and result["error"] is None

    a = result["analysis"]
    assert a["http"]["total"] == pytest.approx(2 * 40 * 2.5, abs=4)
    w = a["http"]["disruptions"][0]
    assert w["start"] == pytest.approx(1.0, abs=0.15) and w["end"] == pytest.approx(1.6, abs=0.15)
    assert a["http"]["per_lb"] and set(a["clients"]) == {"client1", "client2"}
    assert result["route_polls"]["r1 10.0.0.100/32"]["changes"][1]["nexthops"] == ["10.2.0.1", "10.2.0.3"]

    # routes are polled for the whole run (the report plots them), not only in the checks' windows
    spans = result["route_polls"]["r1 10.0.0.100/32"]["spans"]
    assert spans[0][0] <= 0.1 and spans[-1][1] >= 2.4

    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["checks"] == result["checks"]
    assert (tmp_path / "history-client1.jsonl").exists() and (tmp_path / "scenario.json").exists()
    assert on_disk["files"]["report"] == str(tmp_path / "report.html") and (tmp_path / "report.html").exists()
    assert {p.name for p in tmp_path.glob("*.png")} >= {"timeline-http.png", "latency.png", "share-lb.png",
                                                        "routes.png"}


def test_a_report_that_cannot_be_drawn_does_not_fail_the_run(http, tmp_path, monkeypatch):
    import scenarios.htmlreport

    def broken(result_dir):
        raise RuntimeError("no fonts today")
    monkeypatch.setattr(scenarios.htmlreport, "write_report", broken)
    sc = scenario(http.port, [], checks=[{"failed_requests": {"max": 0}}], duration="1.2s")
    result = run_scenario(StandInLab(http), sc, tmp_path, options=FAST)
    assert result["status"] == "passed" and result["error"] is None
    assert result["files"]["report_error"] == "RuntimeError: no fonts today"
    assert json.loads((tmp_path / "result.json").read_text())["files"]["report_error"] == "RuntimeError: no fonts today"
    assert not (tmp_path / "report.html").exists()


def test_failed_fault_aborts_heals_and_stops_generators(http, tmp_path):
    lab = StandInLab(http, fail_on="node_down")
    result = run_scenario(lab, scenario(http.port, DOWN_UP, duration="8s"), tmp_path, options=FAST)
    # healed well before the 8 s of traffic from t0 would have ended (the report is drawn after)
    assert lab.heals[0] - result["start"] < 6
    assert result["status"] == "error" and "fault 1 (node_down) failed: RuntimeError: cannot node_down" in result["error"]
    assert [(f["action"], f["status"]) for f in result["faults"]] == [("node_down", "failed"), ("node_up", "not_reached")]
    assert len(lab.heals) == 1
    assert all(p.poll() is not None for p in lab.procs)
    assert result["analysis"]["http"]["total"] > 0          # what was recorded is still judged


def test_interrupt_still_heals(http, tmp_path):
    lab = StandInLab(http, interrupt_on="node_down")
    with pytest.raises(KeyboardInterrupt):
        run_scenario(lab, scenario(http.port, DOWN_UP, duration="8s"), tmp_path, options=FAST)
    assert len(lab.heals) == 1
    assert all(p.poll() is not None for p in lab.procs)


def test_skipped_fault_makes_run_incomplete(http, tmp_path):
    lab = StandInLab(http)
    sc = scenario(http.port, [{"at": "500ms", "action": "delay", "node": "lb1", "delay": "50ms"}],
                  checks=[{"failed_requests": {"max": 0}}], duration="1.5s")
    result = run_scenario(lab, sc, tmp_path, options=FAST)
    assert result["faults"][0]["status"] == "skipped" and result["faults"][0]["detail"] == "kernel has no netem"
    assert result["status"] == "incomplete" and result["passed"] is False
    assert result["checks"][0]["passed"] is True


def test_generator_that_never_sends_aborts_before_faults(http, tmp_path):
    lab = StandInLab(http, generator_argv=[sys.executable, "-c", "print('boom')"])
    result = run_scenario(lab, scenario(http.port, DOWN_UP), tmp_path, options=FAST)
    assert result["status"] == "error"
    assert "exited with 0 before being ready" in result["error"] and "boom" in result["error"]
    assert lab.calls == []
    assert [f["status"] for f in result["faults"]] == ["not_reached", "not_reached"]
    assert len(lab.heals) == 1


def test_scenario_not_fitting_the_lab_starts_nothing(http, tmp_path):
    lab = StandInLab(http)
    sc = scenario(http.port, [{"at": "1s", "action": "kill", "node": "be9", "daemon": "backend"}])
    with pytest.raises(ScenarioError, match=r"faults\[0\].node: unknown node 'be9'"):
        run_scenario(lab, sc, tmp_path / "out", options=FAST)
    assert lab.procs == [] and lab.calls == [] and lab.heals == []
    assert not (tmp_path / "out").exists()


def test_live_lines(http, tmp_path):
    lines = []
    lab = StandInLab(http)
    sc = scenario(http.port, [], checks=[{"failed_requests": {"max": 0}}], duration="2.2s")
    opts = RunOptions(ready_timeout=10.0, live=lines.append)
    result = run_scenario(lab, sc, tmp_path, options=opts)
    assert result["status"] == "passed"
    assert re.match(r"all \+1s http ok \d+ fail 0 \| lb1 \d+ lb2 \d+ lb3 \d+$", lines[0]), lines
    assert len(lines) >= 2


def test_during_hook_runs_with_the_traffic_and_extra_routes_are_polled(http, tmp_path):
    """What the chaos soak uses: ``during`` runs once every generator sends (its fault entries
    reach the result), and ``routes`` are polled for the whole run without a route check."""
    lab = StandInLab(http)
    seen = {}

    def during(run):
        seen["sending"] = all(p.poll() is None for p in run.procs.values())
        seen["at"] = time.time() - run.t0
        run.faults.append({"index": 0, "at": 0.5, "action": "kill", "params": {"node": "lb2"}, "status": "healed",
                           "applied_at": 0.5, "healed_at": 1.0})

    result = run_scenario(lab, scenario(http.port, [], checks=[{"traffic_sent": {"min_fraction": 0.9}}]), tmp_path,
                          options=RunOptions(ready_timeout=10.0, poll_interval=0.05, exit_grace=2.0, during=during,
                                             routes=(("r1", "10.0.0.100/32"),)))
    assert seen["sending"] and 0 <= seen["at"] < 1.0
    assert [f["action"] for f in result["faults"]] == ["kill"]
    track = result["route_polls"]["r1 10.0.0.100/32"]
    assert track["polls"] > 10 and track["changes"][0]["nexthops"] == ["10.2.0.1", "10.2.0.2", "10.2.0.3"]
