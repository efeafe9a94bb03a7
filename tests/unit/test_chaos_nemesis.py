"""The nemesis runs the plan in order (a heal before an apply due at the same moment, so the
plan's limits hold), records every fault's phases, and records a failed apply or heal instead
of stopping; an interrupted run heals what it left applied. The config writer records an
acknowledged write with its revision and a failed one with the error."""
import json
import time

from lblab.kinds.base import Hazard
from scenarios.chaos.plan import Candidate, PlannedWrite, Step
from scenarios.chaos.recorder import ConfigWriter, JsonLines, Nemesis, read_lines


def step(index, start, hold, node, action="kill"):
    hazard = Hazard(action, {"node": node, "daemon": "lbserver"}, {"http": 0.3}, "announcer")
    return Step(index, start, hold, Candidate("lb", node, hazard, (node,)))


class FakeLab:
    def __init__(self, fail_apply=(), fail_heal=()):
        self.calls = []
        self.fail_apply, self.fail_heal = set(fail_apply), set(fail_heal)

    def fault(self, action, **params):
        self.calls.append(("apply", params["node"]))
        if params["node"] in self.fail_apply:
            raise RuntimeError(f"{params['node']} is not running")
        return {"id": params["node"], "action": action, "params": params}

    def heal_fault(self, record):
        self.calls.append(("heal", record["id"]))
        if record["id"] in self.fail_heal:
            raise RuntimeError("still dead")
        return [f"restarted lbserver on {record['id']}"]


def run(plan, lab):
    waits = []
    nemesis = Nemesis(lab, plan, t0=1000.0, sleep_until=waits.append, log=lambda _m: None)
    nemesis.run()
    return nemesis, waits


def test_phases_run_in_time_order_heals_first_at_the_same_moment():
    plan = [step(0, 5.0, 3.0, "lb1"), step(1, 8.0, 2.0, "lb2"), step(2, 4.0, 10.0, "lb3")]
    lab = FakeLab()
    nemesis, waits = run(plan, lab)
    assert lab.calls == [("apply", "lb3"), ("apply", "lb1"), ("heal", "lb1"), ("apply", "lb2"), ("heal", "lb2"),
                         ("heal", "lb3")]
    assert waits == [1004.0, 1005.0, 1008.0, 1008.0, 1010.0, 1014.0]
    assert [e["status"] for e in nemesis.entries] == ["healed"] * 3
    entry = next(e for e in nemesis.entries if e["node"] == "lb1")
    assert entry["heal"] == ["restarted lbserver on lb1"]
    assert {"applied_at", "took", "healed_at", "heal_took", "nodes", "disruption", "floor_note"} <= set(entry)
    assert entry["disruption"] == {"http": 0.3} and entry["nodes"] == ["lb1"]


def test_failures_are_recorded_and_the_run_goes_on():
    lab = FakeLab(fail_apply={"lb1"}, fail_heal={"lb2"})
    nemesis, _ = run([step(0, 1.0, 2.0, "lb1"), step(1, 2.0, 2.0, "lb2"), step(2, 5.0, 1.0, "lb3")], lab)
    status = {e["node"]: (e["status"], e.get("detail", "")) for e in nemesis.entries}
    assert status["lb1"] == ("apply_failed", "RuntimeError: lb1 is not running")
    assert status["lb2"] == ("heal_failed", "RuntimeError: still dead")
    assert status["lb3"][0] == "healed"
    assert ("heal", "lb1") not in lab.calls            # nothing to heal where nothing was applied


def test_an_interrupted_run_heals_what_it_left_applied():
    lab = FakeLab()

    def interrupt(when):
        if when >= 1003.0:
            raise KeyboardInterrupt

    nemesis = Nemesis(lab, [step(0, 1.0, 5.0, "lb1"), step(1, 3.0, 1.0, "lb2")], 1000.0, interrupt, lambda _m: None)
    try:
        nemesis.run()
    except KeyboardInterrupt:
        pass
    nemesis.heal_all_left()
    assert lab.calls == [("apply", "lb1"), ("heal", "lb1")]
    assert [e["status"] for e in nemesis.entries] == ["healed"]


def test_the_writer_records_acknowledged_and_failed_writes(tmp_path):
    results = iter([{"revision": 12, "committed_at": 1.5}, RuntimeError("etcd kv/put failed on every member")])

    def write(changes):
        outcome = next(results)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    out = JsonLines(tmp_path / "writes.jsonl")
    writer = ConfigWriter(write, [PlannedWrite(0, 0.0, {"algorithm": "random"}),
                                  PlannedWrite(1, 0.01, {"algorithm": "round_robin"})], time.time(), out)
    writer.start()
    writer.join(10)
    out.close()
    first, second = read_lines(tmp_path / "writes.jsonl")
    assert first["revision"] == 12 and first["changes"] == {"algorithm": "random"} and first["acked"] >= first["sent"]
    assert "revision" not in second and second["error"] == "RuntimeError: etcd kv/put failed on every member"
    (tmp_path / "torn.jsonl").write_text(json.dumps({"seq": 0}) + "\n{\"seq\": 1, \"cha")
    assert read_lines(tmp_path / "torn.jsonl") == [{"seq": 0}]
