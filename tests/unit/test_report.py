import io
import json

from rich.console import Console

from scenarios import analysis as A
from scenarios.checks import CheckResult, Context, RoutePoll, judge_all
from scenarios.cli import main as cli_main
from scenarios.history import History, HistoryWriter, merge
from scenarios.report import build_result, compact_polls, render, status_of, write_result
from scenarios.spec import parse_scenario

T0 = 1_700_000_000.0


def sc(**over):
    doc = {"name": "demo", "description": "An LB node dies.\n", "topology": "reference", "duration": "4s",
           "floor": {"disruption": "300ms", "note": "BFD 100 ms x 3"},
           "traffic": [{"kind": "http", "clients": ["client1"], "url": "http://lb.payment.example/", "rate": 50},
                       {"kind": "dns", "clients": ["client1"], "name": "lb.payment.example", "rate": 5}],
           "faults": [{"at": "1s", "action": "node_down", "node": "lb2"}],
           "checks": [{"failed_requests": {"max": 0}}, {"longest_disruption": {"max": "1s"}},
                      {"success_rate": {"min": "90%"}}, {"latency": {"max": "50ms"}}]}
    doc.update(over)
    return parse_scenario(doc)


def history():
    http = []
    for i in range(200):
        t = i / 50
        failed = 1.0 <= t < 1.4 and i % 3 == 1
        http.append({"type": "http", "client": "client1", "t_send": T0 + t, "latency": 0.3 if failed else 0.002,
                     "outcome": "timeout" if failed else "ok",
                     **({} if failed else {"lb": ["lb1", "lb2", "lb3"][i % 3], "backend": f"be{i % 6 + 1}"})})
    dns = [{"type": "dns", "client": "client1", "t_send": T0 + i / 5, "latency": 0.001, "outcome": "ok",
            "answers": ["10.0.0.100"]} for i in range(20)]
    end = [{"type": "end", "client": "client1", "streams": [{"scheduled": 220, "sent": 220, "missed": 0}]}]
    return merge([History(http=http, dns=dns, end=end)])


def result_for(s, h, **kw):
    ctx = Context(history=h, t0=T0, duration=s.duration, gap=0.25)
    return build_result(s, lab="lab1", t0=T0, analysis=A.analyze(h, T0, s.duration), checks=judge_all(s, ctx),
                        faults=[{"index": 0, "at": 1.0, "action": "node_down", "params": {"node": "lb2"},
                                 "status": "applied", "applied_at": 1.004}],
                        heal={"status": "ok", "at": 4.5}, **kw)


def test_result_shape_and_json():
    s = sc()
    r = result_for(s, history(), route_polls={("r1", "10.0.0.100/32"): [RoutePoll(0.9, ["a", "b", "c"]), RoutePoll(1.0, ["a", "b", "c"]),
                                                                       RoutePoll(1.3, ["a", "c"])]})
    assert set(r) == {"version", "scenario", "description", "topology", "lab", "start", "start_iso", "duration", "status",
                      "passed", "error", "floor", "faults", "heal", "checks", "route_polls", "analysis", "files"}
    assert r["scenario"] == "demo" and r["topology"] == "reference" and r["lab"] == "lab1"
    assert r["start_iso"].startswith("2023-11-14T22:13:20")
    assert r["floor"] == {"disruption": 0.3, "failed_requests": None, "note": "BFD 100 ms x 3"}
    assert [c["name"] for c in r["checks"]] == ["failed_requests", "longest_disruption", "success_rate", "latency"]
    assert [c["passed"] for c in r["checks"]] == [False, True, True, True]
    assert r["status"] == "failed" and r["passed"] is False
    assert r["route_polls"]["r1 10.0.0.100/32"] == {"polls": 3, "changes": [{"t": 0.9, "nexthops": ["a", "b", "c"]},
                                                                            {"t": 1.3, "nexthops": ["a", "c"]}],
                                                     "spans": [[0.9, 1.3]]}
    json.loads(json.dumps(r))


def test_status_rules():
    ok = CheckResult("x", True, 0, 0)
    bad = CheckResult("x", False, 1, 0)
    assert status_of([ok], [{"status": "applied"}], None) == "passed"
    assert status_of([ok, bad], [], None) == "failed"
    assert status_of([ok], [{"status": "skipped"}], None) == "incomplete"
    assert status_of([ok], [], "boom") == "error"


def test_compact_polls_keeps_changes_and_errors():
    out = compact_polls({("r1", "p"): [RoutePoll(0, ["a"]), RoutePoll(0.1, None, "x"), RoutePoll(0.2, None, "x"),
                                       RoutePoll(0.3, ["a"])]})
    assert out["r1 p"]["changes"] == [{"t": 0, "nexthops": ["a"]}, {"t": 0.1, "error": "x"}, {"t": 0.3, "nexthops": ["a"]}]
    assert out["r1 p"]["spans"] == [[0, 0.3]] and out["r1 p"]["polls"] == 4


def test_compact_polls_spans_break_where_polling_paused():
    polls = [RoutePoll(t, ["a"]) for t in (0.0, 0.05, 0.1, 2.0, 2.05, 2.6)]
    assert compact_polls({("r1", "p"): polls})["r1 p"]["spans"] == [[0.0, 0.1], [2.0, 2.05], [2.6, 2.6]]


def rendered(result, width=160):
    con = Console(width=width, record=True, color_system=None, file=io.StringIO())
    render(result, con)
    return con.export_text()


def test_render_human_summary():
    text = rendered(result_for(sc(), history()))
    assert "demo on reference FAILED" in text
    assert "node_down" in text and "node=lb2" in text and "+1.004s" in text
    for name in ("failed_requests", "longest_disruption", "success_rate", "latency"):
        assert name in text
    assert "FAIL" in text and "PASS" in text
    assert "disruption windows" in text and "timeout" in text
    assert "floor: disruption 300ms (measured 300ms on http) — BFD 100 ms x 3" in text
    assert "per LB:" in text and "lb1" in text and "per backend:" in text


def test_render_narrow_terminal_keeps_verdicts():
    text = rendered(result_for(sc(), history()), width=80)
    assert "PASS" in text and "FAIL" in text and "failed_requests" in text


def test_render_error_and_skipped_fault():
    r = result_for(sc(), history(), error="generator(s) on client1 sent nothing")
    r["faults"][0].update(status="skipped", detail="kernel has no netem")
    text = rendered(r)
    assert "ERROR" in text and "error: generator(s) on client1 sent nothing" in text
    assert "skipped (kernel has no netem)" in text


def test_write_result_and_cli_report(tmp_path, capsys):
    r = result_for(sc(checks=[{"success_rate": {"min": "90%"}}]), history())
    p = write_result(r, tmp_path / "result.json")
    assert json.loads(p.read_text())["status"] == "passed"
    assert cli_main(["report", str(p)]) == 0
    assert "demo on reference PASSED" in capsys.readouterr().out
    r["passed"] = False
    write_result(r, p)
    assert cli_main(["report", str(p)]) == 1


def test_cli_analyze_and_validate(tmp_path, capsys):
    hist = tmp_path / "h.jsonl"
    w = HistoryWriter(hist)
    h = history()
    for rec in h.http + h.dns + h.end:
        w.write(rec)
    w.close()
    spec = tmp_path / "demo.yaml"
    spec.write_text("""
name: demo
topology: reference
duration: 4s
traffic:
  - {kind: http, clients: [client1], url: "http://lb.payment.example/", rate: 50}
checks:
  - success_rate: {min: 90%}
""")
    assert cli_main(["analyze", str(spec), str(hist), "--t0", str(T0), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checks"][0]["measured"] == 0.97
    assert cli_main(["validate", str(spec)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\n")
    assert cli_main(["validate", str(bad)]) == 1
    assert "bad.yaml: topology: required field missing" in capsys.readouterr().err
