"""Judging a chaos result directory: the recorded files become the checker's inputs (times made
relative to the traffic start), every violation comes with the command that repeats the run and
the window of history around it; a clean run passes every check; bad --faults are refused."""
import json

import pytest

from lblab.cli.chaos import fault_actions
from lblab.lab.errors import LabError
from scenarios.chaos.judge import judge_dir
from scenarios.chaos.recorder import STATUS_FILE, WRITES_FILE

T0 = 1_800_000_000.0


def lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def make_run(tmp_path, *, late_lb2=False, failures=()):
    plan = {"seed": 7, "lbs": ["lb1", "lb2"], "delivery_bound": 3.0,
            "initial": {"mod_revision": 5, "config": {"algorithm": "round_robin"}},
            "options": {"duration": 30.0, "actions": ["kill"], "scale": 2.0, "slack": 0.5, "settle": 2.0}}
    (tmp_path / "chaos-plan.json").write_text(json.dumps(plan))
    (tmp_path / "final.json").write_text(json.dumps({"converged": True, "converge_s": 0.4,
                                                     "daemons": {"lb1/lbserver": "running"}}))
    lines(tmp_path / WRITES_FILE, [{"seq": 0, "changes": {"algorithm": "random"}, "sent": T0 + 4.0, "acked": T0 + 4.1,
                                    "revision": 9}])
    polls = []
    for lb in ("lb1", "lb2"):
        polls.append({"t": T0 + 1.0, "lb": lb, "pid": 10, "version": 5, "algorithm": "round_robin"})
        served = 12.5 if (late_lb2 and lb == "lb2") else 4.3
        polls.append({"t": T0 + served, "lb": lb, "pid": 10, "version": 9, "algorithm": "random"})
        polls.append({"t": T0 + 20.0, "lb": lb, "pid": 10, "version": 9, "algorithm": "random"})
    polls.append({"t": T0 + 10.5, "lb": "lb1", "error": "ConnectionRefusedError: refused"})
    lines(tmp_path / STATUS_FILE, polls)
    ops = [{"type": "http", "client": "client1", "t_send": T0 + t, "latency": 1.0, "outcome": "timeout"}
           for t in failures]
    lines(tmp_path / "history-client1.jsonl", ops)
    windows = [{"start": failures[0], "end": failures[-1], "duration": failures[-1] - failures[0],
                "failures": len(failures), "operations": len(failures), "outcomes": {"timeout": len(failures)}}] \
        if failures else []
    result = {"start": T0, "duration": 30.0, "topology": "reference",
              "route_polls": {"r1 10.0.0.100/32": {"polls": 500, "spans": [[0.0, 30.0]], "changes": [
                  {"t": 0.0, "nexthops": ["10.0.1.1", "10.0.1.2"]}, {"t": 10.2, "nexthops": ["10.0.1.2"]},
                  {"t": 10.3, "nexthops": []}, {"t": 10.4, "error": "OSError: busy"}]}},
              "analysis": {"http": {"total": 1000, "ok": 1000 - len(failures), "failed": len(failures),
                                    "disruptions": windows}, "dns": {"total": 0}},
              "faults": [{"index": 0, "at": 10.0, "action": "kill", "params": {"node": "lb1", "daemon": "lbserver"},
                          "nodes": ["lb1"], "applied_at": 10.0, "healed_at": 14.0, "heal_took": 0.5,
                          "disruption": {"http": 0.3}, "floor_note": "announcer", "status": "healed"}]}
    return result


def test_a_clean_run_passes_every_check(tmp_path):
    verdicts = judge_dir(tmp_path, make_run(tmp_path, failures=(10.05, 10.2)), leftovers={}, leftovers_checked=True)
    assert [c["name"] for c in verdicts["checks"]] == [
        "chaos disruptions", "chaos config_order", "chaos config_known", "chaos config_delivered", "chaos nemesis",
        "chaos recovery", "chaos leftovers"]
    assert all(c["passed"] for c in verdicts["checks"]), verdicts["checks"]
    assert verdicts["violations"] == []
    summary = verdicts["summary"]
    assert summary["seed"] == 7 and summary["faults"] == 1 and summary["acknowledged"] == 1
    assert summary["repeat"] == "lblab chaos --seed 7 --duration 30s --faults kill"


def test_a_violation_carries_its_window_of_history(tmp_path):
    verdicts = judge_dir(tmp_path, make_run(tmp_path, late_lb2=True, failures=(10.1, 10.3, 11.6)))
    failed = {c["name"] for c in verdicts["checks"] if not c["passed"]}
    assert failed == {"chaos disruptions", "chaos config_delivered"}
    late = next(v for v in verdicts["violations"] if v["check"] == "config_delivered")
    assert "lb2 did not serve v9" in late["message"]
    history = "\n".join(late["history"])
    assert "config write 0 (random) acknowledged as v9" in history
    assert "lb2 serves v9 (random), pid 10" not in history      # served too late to be in the window
    long = next(v for v in verdicts["violations"] if v["check"] == "disruptions")
    text = "\n".join(long["history"])
    assert "fault 0 applied: kill node=lb1 daemon=lbserver" in text
    assert "http: 2 failed in +10.0..+10.5s (timeout 2)" in text
    assert "lb1 unreachable: ConnectionRefusedError" in text
    assert "r1 10.0.0.100/32 via 10.0.1.2" in text and "r1 10.0.0.100/32 no route" in text
    assert "r1 10.0.0.100/32 poll failed: OSError: busy" in text
    assert long["history"] == sorted(long["history"], key=lambda line: float(line.split("s", 1)[0].strip("+ ")))


def test_leftovers_and_an_unresolvable_version(tmp_path):
    result = make_run(tmp_path)
    lines(tmp_path / STATUS_FILE, [{"t": T0 + 1.0, "lb": "lb1", "pid": 10, "version": 8, "algorithm": "maglev"}])
    verdicts = judge_dir(tmp_path, result, resolve=lambda rev: {8: "maglev"}.get(rev),
                         leftovers={"netns": ["chaos-lb1"]}, leftovers_checked=True)
    assert verdicts["resolved"] == {8: "maglev"}
    messages = [v["message"] for v in verdicts["violations"]]
    assert any("v8" in m and "etcd held 'maglev'" in m for m in messages)      # no write made it
    assert any(m.startswith("left behind after lblab down: netns: chaos-lb1") for m in messages)


@pytest.mark.parametrize("text, message", [("", "at least one"), (" , ", "at least one"),
                                           ("kill,explode", "unknown fault 'explode'")])
def test_bad_fault_lists_are_refused(text, message):
    with pytest.raises(LabError, match=message):
        fault_actions(text)


def test_fault_lists():
    assert fault_actions(None) is None
    assert fault_actions("kill, node_down") == ["kill", "node_down"]


def test_cpu_pressure_lines():
    from scenarios.chaos.recorder import cpu_pressure

    assert cpu_pressure("some avg10=91.47 avg60=95.37 avg300=91.24 total=4348167372\n"
                        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n") == 91.47
    assert cpu_pressure("") is None and cpu_pressure("some avg60=1") is None and cpu_pressure("some avg10=x") is None


@pytest.mark.parametrize("args, message", [
    (["--duration", "5x"], "--duration: not a duration"), (["--duration", "0s"], "--duration: must be longer than 0"),
    (["--duration=-3s"], "--duration"), (["--faults", "kill,../etc"], "unknown fault '../etc'"),
    (["--concurrency", "0"], "--concurrency: must be at least 1"), (["--lab", "../../etc"], "invalid lab name"),
    (["--lab", "A" * 40], "invalid lab name"), (["--rate", "0"], "--rate: 0 requests/s"),
    (["--rate", "1e9"], "--rate")])
def test_bad_chaos_options_are_refused_before_anything_runs(args, message, capsys, tmp_path):
    from lblab.cli import main

    assert main(["chaos", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_conclude_judges_again_with_leftovers_and_writes_the_result_and_report(tmp_path):
    from scenarios.chaos.run import conclude

    result = make_run(tmp_path, failures=(10.05, 10.2))
    result.update(scenario="chaos", status="passed", passed=True, error=None, lab="chaos", start_iso=None, files={},
                  checks=[{"name": "traffic_sent", "passed": True, "measured": 1.0, "limit": 0.95, "detail": "",
                           "index": 0, "scope": ""}])
    first = conclude(None, tmp_path, result)
    assert first["status"] == "passed" and first["chaos"]["violations"] == 0
    assert (tmp_path / "chaos.json").is_file() and (tmp_path / "report.html").is_file()
    again = conclude(None, tmp_path, first, leftovers={"processes": [4242]}, leftovers_checked=True)
    assert again["status"] == "failed" and not again["passed"]
    assert [c["name"] for c in again["checks"]].count("chaos leftovers") == 1      # replaced, not added
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["chaos"]["leftovers_checked"]
    assert "left behind after lblab down: processes: 4242" in (tmp_path / "report.html").read_text()
