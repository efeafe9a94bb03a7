"""The orchestrator checks judge members' check histories (and the runner's fault entries): each
passes on a history that meets it, fails on one that does not, and fails with nothing to judge.
Also: the runner's copy of each member's history for one run."""
from __future__ import annotations

import json

import pytest

from lbapp.orchestrator.history import Event
from scenarios.checks import Context, judge
from scenarios.history import History, merge
from scenarios.orchhistory import Mark, OrchHistory, collect, copy_since, mark

from tests.unit.test_scenario_checks import BACKENDS, LBS, T0, check, healthy, op

TARGETS = [f"payment/be{i}" for i in (1, 2, 3)]


def ev(t, ev_, member, term, target=None, **fields) -> Event:
    return Event(T0 + t, ev_, member, term, target, fields)


def checks_every(member, targets, start, end, term=5, interval=0.2, ok=True):
    out, t = [], start
    while t < end:
        out += [ev(t, "check", member, term, target, ok=ok, reason="200") for target in targets]
        t += interval
    return out


def failover(kill_at=3.0, elected_after=1.1, acted_after=1.2, old="orch1", new="orch2"):
    """orch1 leads term 5 and checks be1; it dies at kill_at; orch2 wins term 9 and takes be1."""
    events = checks_every(old, TARGETS[:1], 0.0, kill_at)
    events += checks_every(new, TARGETS[1:], 0.0, 10.0)
    events += checks_every(new, TARGETS[:1], kill_at + acted_after + 0.05, 10.0, term=9)
    events += [ev(kill_at + elected_after, "role", new, 9, leader=True),
               ev(kill_at + acted_after, "assignment", new, 9, targets=3, written=True)]
    return sorted(events, key=lambda e: e.t)


def leader_fault(at=3.0, node="orch1", term=5, member="leader", fault="kill"):
    return {"action": "orchestrator", "status": "applied", "at": at, "params": {"member": member, "fault": fault},
            "record": {"node": node, "term": term, "t": T0 + at + 0.01, "inner": {"t": T0 + at}}}


def ctx_for(events=(), faults=(), http=()):
    return Context(history=merge([History(http=list(http))]), t0=T0, duration=10.0, backends=BACKENDS,
                   lbs=LBS, faults=list(faults), orchestrator=OrchHistory(events=list(events)))


def run(spec, events=(), faults=(), http=()):
    return judge(check(spec, traffic=("http",)), ctx_for(events, faults, http))


@pytest.mark.parametrize("spec", [{"leader_takeover": {"max": "2s"}}, {"shard_takeover": {"max": "2s"}},
                                  {"unchecked_gap": {"max": "2s"}}, {"terms_disjoint": {}},
                                  {"health_changes": {"max": 0}},
                                  {"scale_decision": {"action": "activate"}}])
def test_no_orchestrator_history_is_a_failure(spec):
    res = run(spec, events=(), faults=[leader_fault()])
    assert not res.passed and "no orchestrator history" in res.detail


def test_leader_takeover_measures_the_new_leaders_first_act():
    res = run({"leader_takeover": {"max": "2s"}}, failover(), [leader_fault()])
    assert res.passed and res.measured == pytest.approx(1.2, abs=0.01)
    assert "orch2 term 9 elected after 1.1s, acted after 1.2s" in res.detail
    slow = run({"leader_takeover": {"max": "1s"}}, failover(), [leader_fault()])
    assert not slow.passed
    # the fault never hit the leader, or nobody acted under a newer term
    assert "no orchestrator fault on the leader" in run({"leader_takeover": {"max": "2s"}}, failover(),
                                                        [leader_fault(member="follower")]).detail
    stale = [e for e in failover() if e.ev != "assignment"]
    assert "no other member acted" in run({"leader_takeover": {"max": "2s"}}, stale, [leader_fault()]).detail


def test_shard_takeover_and_unchecked_gap():
    res = run({"shard_takeover": {"max": "2s"}}, failover(), [leader_fault()])
    assert res.passed and res.measured == pytest.approx(1.25, abs=0.05) and "payment/be1 orch1 -> orch2" in res.detail
    gap = run({"unchecked_gap": {"max": "2s"}}, failover())
    assert gap.passed and gap.measured == pytest.approx(1.25 + 0.2, abs=0.1) and "payment/be1" in gap.detail
    assert not run({"unchecked_gap": {"max": "1s"}}, failover()).passed
    # be1 never picked up again: its gap runs to the end of the window
    lost = [e for e in failover() if not (e.target == "payment/be1" and e.member == "orch2")]
    assert run({"unchecked_gap": {"max": "2s"}}, lost).measured == pytest.approx(7.0, abs=0.25)
    assert "never checked by another member" in run({"shard_takeover": {"max": "2s"}}, lost,
                                                    [leader_fault()]).detail
    # a follower that checked nothing had no shard to take over: nothing to judge
    idle = run({"shard_takeover": {"max": "2s"}}, failover(), [leader_fault(node="orch3", member="follower")])
    assert not idle.passed and "checked nothing" in idle.detail


def test_terms_disjoint_finds_a_late_write_and_a_late_step_down():
    base = failover()
    ok = run({"terms_disjoint": {}}, base, [leader_fault()])
    assert ok.passed and "orch1 term 5 -> orch2 term 9" in ok.detail
    # the resumed old leader writes under its old term after the new term's first write
    late = base + [ev(5.0, "health", "orch1", 5, "payment/be1", healthy=False, written=True)]
    res = run({"terms_disjoint": {}}, sorted(late, key=lambda e: e.t), [leader_fault()])
    assert not res.passed and "orch1 wrote health payment/be1 under term 5" in res.detail
    # a fenced (refused) write is not a write
    refused = base + [ev(5.0, "health", "orch1", 5, "payment/be1", healthy=False, written=False)]
    assert run({"terms_disjoint": {}}, sorted(refused, key=lambda e: e.t), [leader_fault()]).passed
    # step_down_first: the deposed leader must step down before the new one is elected
    stepped_late = sorted(base + [ev(6.0, "role", "orch1", 5, leader=False)], key=lambda e: e.t)
    assert run({"terms_disjoint": {}}, stepped_late, [leader_fault()]).passed
    res = run({"terms_disjoint": {"step_down_first": True}}, stepped_late, [leader_fault()])
    assert not res.passed and "after orch2 was elected" in res.detail
    stepped_early = sorted(base + [ev(3.9, "role", "orch1", 5, leader=False)], key=lambda e: e.t)
    res = run({"terms_disjoint": {"step_down_first": True}}, stepped_early, [leader_fault()])
    assert res.passed and "200ms before that" in res.detail
    assert "no change of leader" in run({"terms_disjoint": {}}, checks_every("orch1", TARGETS, 0, 10)).detail


def test_health_changes_counts_writes_and_needs_failed_checks():
    flapping = [ev(2 + i * 0.2, "check", "orch2", 5, "payment/be1", ok=i % 2 == 0) for i in range(25)]
    spec = {"health_changes": {"backend": "be1", "after": "2s", "before": "7s", "max": 0, "min_failed_checks": 5}}
    res = run(spec, flapping)
    assert res.passed and "25 checks, 12 failed; 0 change(s)" in res.detail
    changed = flapping + [ev(3.0, "health", "orch2", 5, "payment/be1", healthy=False, reason="status 503",
                             written=True)]
    assert not run(spec, sorted(changed, key=lambda e: e.t)).passed
    # the flap never happened (every check passed): the check proves nothing and fails
    assert not run(spec, [ev(2 + i * 0.2, "check", "orch2", 5, "payment/be1", ok=True) for i in range(25)]).passed
    assert "no health check of it" in run(spec, checks_every("orch2", ["payment/be2"], 0, 10)).detail


def test_scale_decision_times_the_decision():
    events = [ev(7.2, "scale", "orch1", 5, node="lb4", action="activate", reason="131 rps/node > 130"),
              ev(9.0, "scale", "orch1", 5, node="lb1", action="drain", reason="low")]
    res = run({"scale_decision": {"action": "activate", "node": "lb4", "after": "3s", "within": "5s"}}, events)
    assert res.passed and res.measured == pytest.approx(4.2, abs=0.01) and "131 rps/node" in res.detail
    assert not run({"scale_decision": {"action": "activate", "after": "3s", "within": "4s"}}, events).passed
    res = run({"scale_decision": {"action": "drain", "node": "lb4"}}, events)
    assert not res.passed and "decisions: +7.2s activate lb4" in res.detail


def test_backend_leaves_and_returns_from_who_served():
    ops = healthy()          # be1 serves every third group of requests, through every LB
    gone = [r for r in ops if not (r.get("backend") == "be1" and 3.4 <= r["t_send"] - T0 < 7.3)]
    res = run({"backend_leaves": {"backend": "be1", "after": "3s", "before": "7s", "max": "1s"}}, http=gone)
    assert res.passed and res.measured == pytest.approx(0.4, abs=0.1) and "lb1 last sent" in res.detail
    assert not run({"backend_leaves": {"backend": "be1", "after": "3s", "before": "7s", "max": "200ms"}},
                   http=gone).passed
    back = run({"backend_returns": {"backend": "be1", "after": "7s", "max": "1s"}}, http=gone)
    first = min(r["t_send"] for r in gone if r.get("backend") == "be1" and r["t_send"] >= T0 + 7)
    assert back.passed and back.measured == pytest.approx(first - T0 - 7, abs=0.001)
    never = [r for r in ops if r.get("backend") != "be1"]
    assert "served nothing before" in run({"backend_leaves": {"backend": "be1", "after": "3s", "max": "1s"}},
                                          http=never).detail
    assert "served nothing after" in run({"backend_returns": {"backend": "be1", "after": "7s", "max": "1s"}},
                                         http=never).detail
    assert op(0)["outcome"] == "ok"


# ------------------------------------------------------------------------------ one run's history

def line(t, member="orch1"):
    return json.dumps({"t": t, "ev": "check", "member": member, "term": 1, "target": "payment/be1",
                       "ok": True}) + "\n"


def test_the_run_gets_what_each_member_appended_during_it(tmp_path):
    one, two = tmp_path / "orch1.jsonl", tmp_path / "orch2.jsonl"
    one.write_text(line(1.0) + line(2.0))
    marks = mark({"orch1": str(one), "orch2": str(two)})     # orch2 has written nothing yet
    assert [m.offset for m in marks] == [one.stat().st_size, 0]
    with open(one, "a") as f:
        f.write(line(3.0) + line(4.0) + '{"t": 5, "ev": "che')   # killed mid-line
    two.write_text(line(3.5, "orch2"))
    out = tmp_path / "out"
    out.mkdir()
    found = collect(marks, out)
    assert [e.t for e in found.events] == [3.0, 3.5, 4.0]
    assert len(found.problems) == 1 and "orch1.jsonl:3: skipped" in found.problems[0]
    assert set(found.files) == {"orch1", "orch2"} and (out / "orchestrator-orch1.jsonl").is_file()


def test_a_mark_inside_a_line_or_past_a_replaced_file(tmp_path):
    path, dest = tmp_path / "h.jsonl", tmp_path / "copy.jsonl"
    path.write_text(line(1.0) + line(2.0))
    copy_since(Mark("orch1", path, 5), dest)                  # inside the first line: skip it
    assert dest.read_text() == line(2.0)
    copy_since(Mark("orch1", path, 10_000), dest)             # the file was replaced by a shorter one
    assert dest.read_text() == line(1.0) + line(2.0)
    copy_since(Mark("orch1", tmp_path / "gone.jsonl", 0), dest)
    assert dest.read_text() == ""
