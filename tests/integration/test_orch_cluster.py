"""The orchestrator cluster against a real 3-member etcd: election, registration, sharding,
failover on SIGKILL and SIGSTOP of the leader, fencing of a resumed leader, member loss."""
from __future__ import annotations

import signal
import time

import pytest

from lbapp import keys
from tests.integration.harness import needs_daemons, wait_until
from tests.integration.orchharness import (FAST_ETCD, BackendPool, assignment, etcd_range,
                                           lb_config, leaders, start_orch, timed)

pytestmark = needs_daemons


@pytest.fixture
def cluster(lab):
    return lab.etcd_cluster(3, *FAST_ETCD)


@pytest.fixture
def orchs(lab, cluster):
    cluster.members[0].put_config(lb_config(BackendPool(lab, 6).entries()))
    return [start_orch(lab, f"orch{i}", cluster.endpoints) for i in (1, 2, 3)]


def current(cluster) -> dict:
    return wait_until(lambda: assignment(cluster.endpoints[0]), 10, "an assignment")


def test_one_leader_every_backend_assigned_once(cluster, orchs):
    wait_until(lambda: len(leaders(orchs)) == 1, 10, "one leader")
    [leader] = leaders(orchs)
    doc = wait_until(lambda: (a := assignment(cluster.endpoints[0])) and len(a["members"]) == 3
                     and a, 10, "an assignment over 3 members")
    assert doc["leader"] == leader.name and doc["term"] == leader.status()["leader_term"]
    assert sorted(doc["targets"]) == [f"payment/be{i}" for i in range(1, 7)]
    assert {t["member"] for t in doc["targets"].values()} <= {"orch1", "orch2", "orch3"}
    members = etcd_range(cluster.endpoints[0], keys.ORCHESTRATOR_MEMBERS_PREFIX, prefix=True)
    assert sorted(members) == [keys.member_key(f"orch{i}") for i in (1, 2, 3)]
    assert all(m["lease"] for m in members.values())  # registrations are leased
    # every member checks exactly its shard
    def shards_checked():
        return all(set(o.status()["targets"]) == {t for t, v in doc["targets"].items()
                                                if v["member"] == o.name} for o in orchs)
    wait_until(shards_checked, 5, "each member checking its shard")
    wait_until(lambda: sum(o.metric("lbapp_orch_checks_per_second") for o in orchs) > 20, 15,
               "checks running (6 backends every 200 ms = 30/s)")


def kill_leader_and_measure(cluster, orchs, sig) -> tuple[object, object, float, float]:
    """Signal the leader; -> (old leader, new leader, seconds until another member leads,
    seconds until the new leader's first write: an assignment of its term)."""
    wait_until(lambda: len(leaders(orchs)) == 1, 10, "one leader")
    [old] = leaders(orchs)
    old_term = current(cluster)["term"]
    old.proc.signal(sig)
    others = [o for o in orchs if o is not old]
    elected = timed(lambda: leaders(others), 10, "a new leader")
    acted = timed(lambda: (assignment(cluster.endpoints[0]) or {}).get("term", 0) > old_term,
                  10, "an assignment of the new term") + elected
    [new] = leaders(others)
    print(f"{signal.Signals(sig).name} of the leader: new leader after {elected:.2f} s, "
          f"its first write after {acted:.2f} s")
    return old, new, elected, acted


def test_leader_sigkill_new_leader_acts_and_shard_moves(cluster, orchs):
    old, new, elected, acted = kill_leader_and_measure(cluster, orchs, signal.SIGKILL)
    assert acted < 1 + 2.0, f"new leader acted {acted:.2f} s after the kill (lease TTL 1 s)"
    doc = wait_until(lambda: (a := assignment(cluster.endpoints[0])) and old.name not in
                     a["members"] and a, 5, "the killed member leaving the assignment")
    assert doc["leader"] == new.name
    assert {t["member"] for t in doc["targets"].values()} <= {o.name for o in orchs if o is not old}
    assert len(doc["targets"]) == 6


def test_leader_sigstop_then_resumed_writes_nothing(cluster, orchs):
    old, new, elected, acted = kill_leader_and_measure(cluster, orchs, signal.SIGSTOP)
    assert acted < 1 + 2.0
    new_term = current(cluster)["term"]
    stopped_at = time.time()
    # while the old leader is stopped, the others see its registration expire
    wait_until(lambda: old.name not in current(cluster)["members"], 5, "old leader dropped")
    old.proc.signal(signal.SIGCONT)
    resumed_at = time.time()
    # it notices on its own clock, starts a new session and comes back as a plain member
    wait_until(lambda: old.name in current(cluster)["members"], 10, "old leader re-registered")
    wait_until(lambda: old.status()["shard"]["term"] == new_term, 5, "old leader following")
    assert not old.is_leader() and new.is_leader()
    assert current(cluster)["term"] == new_term and current(cluster)["leader"] == new.name
    events = [e for e in old.history_events() if e["t"] >= stopped_at]
    stale = [e for e in events if e["term"] < new_term and e["ev"] in ("check", "health",
                                                                       "assignment", "scale")]
    assert stale == [], f"the resumed leader acted under its old term: {stale[:3]}"
    log = old.proc.output()
    assert "lost" in log and "no longer leader" in log
    assert resumed_at > stopped_at


def test_member_loss_reassigns_its_shard_and_nothing_goes_unchecked(cluster, orchs):
    from lbapp.orchestrator.history import longest_unchecked, read_history

    wait_until(lambda: len(leaders(orchs)) == 1, 10, "one leader")
    [leader] = leaders(orchs)
    doc = wait_until(lambda: (a := current(cluster)) and len(a["members"]) == 3 and a, 10,
                     "3 members")
    victim = next(o for o in orchs if o is not leader and any(
        t["member"] == o.name for t in doc["targets"].values()))
    lost = sorted(t for t, v in doc["targets"].items() if v["member"] == victim.name)
    time.sleep(1.0)
    killed_at = time.time()
    victim.proc.signal(signal.SIGKILL)
    moved = timed(lambda: all(current(cluster)["targets"][t]["member"] != victim.name
                              for t in lost), 10, "the lost shard reassigned")
    print(f"member SIGKILL: its {len(lost)} targets reassigned after {moved:.2f} s (TTL 1 s)")
    assert moved < 1 + 2.0
    after = current(cluster)
    # only the lost member's targets moved
    assert all(after["targets"][t]["member"] == v["member"]
               for t, v in doc["targets"].items() if t not in lost)
    time.sleep(1.5)
    survivors = [o for o in orchs if o is not victim]
    for orch in survivors:   # flush: the histories are buffered for 0.5 s
        wait_until(lambda: orch.history_events() and orch.history_events()[-1]["t"]
                   > time.time() - 1, 5, f"{orch.name} history current")
    events, problems = read_history([o.history for o in orchs])
    gaps = longest_unchecked(events, doc["targets"], killed_at - 1.0, time.time() - 0.6)
    worst = max(gaps.values())
    print(f"longest unchecked: {worst[0]:.2f} s ({max(gaps, key=gaps.get)})")
    # the bound: TTL + interval + 1 s
    assert worst[0] < 1 + 0.2 + 1.0, gaps
