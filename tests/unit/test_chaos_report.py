"""A chaos run's report: the faults figure's data (one row per node, each fault from applied to
healed), the chaos section from chaos.json, and
a chaos.json that does not hold verdicts refused naming the file and field."""
import json
import shutil

import pytest

from benchmarks.report_timing import write_synthetic_run
from scenarios.figures import fault_rows
from scenarios.htmlreport import CHAOS_FILE, REPORT_FILE, chaos_verdicts, write_report
from scenarios.resultdir import Result, ResultDirError

SUMMARY = {"seed": 7, "faults": 2, "faults_by_action": {"kill": 1, "node_down": 1}, "acknowledged": 9,
           "config_writes": 10, "violations": 1, "host_cpu_pressure": {"mean": 40.5, "max": 91.0},
           "repeat": "lblab chaos --seed 7 --duration 60s"}
VIOLATION = {"check": "disruptions", "message": "http disruption <b>too long</b>", "from": 10.0, "to": 11.5,
             "history": ["+  10.00s  fault 0 applied: kill node=lb2 daemon=lbserver"]}


def chaos_result(**extra):
    return Result.model_validate({"scenario": "chaos", "duration": 60, "status": "failed", "faults": [
        {"index": 0, "at": 5, "action": "kill", "params": {"node": "lb2", "daemon": "lbserver"}, "node": "lb2",
         "applied_at": 5.1, "healed_at": 9.0, "heal_took": 0.4, "status": "healed"},
        {"index": 1, "at": 20, "action": "node_down", "params": {"node": "dns1"}, "node": "dns1",
         "applied_at": 20.0, "healed_at": 70.0, "status": "healed"},
        {"index": 2, "at": 30, "action": "kill", "params": {"node": "lb2", "daemon": "bird"}, "node": "lb2",
         "applied_at": 30.0, "healed_at": 33.0, "status": "healed"},
        {"index": 3, "at": 40, "action": "node_down", "params": {"node": "lb1"}, "status": "applied",
         "applied_at": 40.0}], **extra})


def test_fault_rows_one_per_node_from_applied_to_healed():
    rows = fault_rows(chaos_result())
    assert list(rows) == ["lb2", "dns1"]                      # in order of their first fault
    assert [(b.start, b.end, b.action) for b in rows["lb2"]] == [(5.1, 9.4, "kill"), (30.0, 33.0, "kill")]
    assert rows["dns1"][0].end == 60                            # cut at the end of the traffic
    assert fault_rows(Result.model_validate({"scenario": "s", "duration": 5, "status": "passed", "faults": [
        {"at": 1, "action": "node_down", "params": {"node": "lb2"}, "applied_at": 1.0}]})) == {}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("run"), duration=4, rate=20)


def test_the_report_shows_the_chaos_verdicts_escaped(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / CHAOS_FILE).write_text(json.dumps({"summary": SUMMARY, "violations": [VIOLATION]}))
    html = write_report(run).read_text()
    assert "Chaos soak" in html and "seed 7" in html and "lblab chaos --seed 7 --duration 60s" in html
    assert "host CPU pressure mean 40.5%, max 91.0%" in html
    assert "http disruption &lt;b&gt;too long&lt;/b&gt;" in html and "<b>too long" not in html
    assert "fault 0 applied: kill node=lb2 daemon=lbserver" in html


@pytest.mark.parametrize("content, field", [
    ("{", "(document)"), ("[]", "(document)"), (json.dumps({"violations": []}), "summary"),
    (json.dumps({"summary": {**SUMMARY, "seed": "x"}}), "summary.seed"),
    (json.dumps({"summary": SUMMARY, "violations": [{**VIOLATION, "history": "no"}]}), "violations.0.history")])
def test_a_chaos_file_without_verdicts_is_refused_and_nothing_written(run_dir, tmp_path, content, field):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / REPORT_FILE).unlink(missing_ok=True)
    (run / CHAOS_FILE).write_text(content)
    with pytest.raises(ResultDirError, match=f"{CHAOS_FILE}: .*{field.replace('(', '.').replace(')', '.')}"):
        write_report(run)
    assert not (run / REPORT_FILE).exists()


def test_no_chaos_file_is_a_scenario_run(tmp_path):
    assert chaos_verdicts(tmp_path) is None
