"""The chaos soak's schedule: drawn only from the hazards the node kinds declare, deterministic
under a seed, and never more at once than the design tolerates (concurrency, each role's
budget, one fault per node); config writes switch the algorithm every time."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lblab.faults import parse_fault
from lblab.lab.instance import Lab
from lblab.lab.ledger import Ledger
from lblab.topology.load import load_topology
from scenarios.chaos.plan import (WRITE_ALGORITHMS, Timing, allowed, candidates, nemesis_plan,
                                  write_plan)

REFERENCE = Lab("ref", load_topology("reference"), Ledger("ref"))
MINIMAL = Lab("min", load_topology("minimal"), Ledger("min"))


def pool(lab=REFERENCE, actions=None):
    return candidates(lab.hazards(), lab.fault_nodes, actions)


def test_every_hazard_is_a_valid_fault_on_a_node_that_runs_what_it_targets():
    hazards = REFERENCE.hazards()
    assert hazards
    for role, node, hazard in hazards:
        fault = parse_fault(hazard.action, hazard.params, seconds=True)     # raises on bad parameters
        assert all(n in REFERENCE.topo.nodes or n in REFERENCE.lans for _, n, _ in fault.node_refs())
        if "daemon" in hazard.params:
            assert hazard.params["daemon"] in REFERENCE.fault_targets(hazard.params["node"]), hazard
        assert REFERENCE.topo.nodes[node].role == role
        assert all(kind in ("http", "dns") and floor >= 0 for kind, floor in hazard.disruption.items())


def test_what_the_reference_design_tolerates():
    by_role = {}
    for role, node, hazard in REFERENCE.hazards():
        by_role.setdefault(role, set()).add(hazard.label())
    assert "client" not in by_role and "router" not in by_role    # observers, and the single router
    assert by_role["lb"] >= {"kill node=lb1 daemon=lbserver", "node_down node=lb2", "link_down node=lb3 peer=edge"}
    assert not {h for h in by_role["lb"] if "lb4" in h}   # the standby: its agent keeps it stopped
    assert "node_down node=dns1" in by_role["dns"]
    assert {"kill node=dns1 daemon=coredns", "stop node=dns2 daemon=coredns"} <= by_role["dns"]  # the DNS watch
    assert by_role["backend"] == {f"kill node=be{i} daemon=backend" for i in range(1, 7)}
    assert REFERENCE.fault_budgets() == {"client": 0, "dns": 1, "router": 0, "lb": 1, "backend": 2, "etcd": 1,
                                         "redis": 1, "prometheus": 1, "orchestrator": 1, "console": 1}
    floors = {h.label(): h.disruption for _, _, h in REFERENCE.hazards()}
    assert floors["node_down node=lb2"] == {"http": 0.3}                      # BFD 100 ms x 3
    assert floors["kill node=lb1 daemon=lbserver"] == {"http": 0.55}          # 3 probes 100 ms apart + 250 ms
    assert floors["node_down node=dns1"] == {"dns": 0.4, "http": 1.4}         # VRRPv3 0.1 s adverts (+ lookup)
    assert floors["stop node=dns1 daemon=coredns"] == {"dns": 0.35, "http": 1.35}   # watch 3 x 50 ms + 100 ms
    assert floors["kill node=etcd2 daemon=etcd"] == {}                        # users see nothing
    assert floors["stop node=orch2 daemon=orchestrator"] == {}                # the others take over


def test_a_vrrp_pair_loses_at_most_its_master_to_the_soak():
    vip = Lab("vip", load_topology("vip"), Ledger("vip"))
    floors = {h.label(): h.disruption for role, _, h in vip.hazards() if role == "lb"}
    for master, backup in (("lb1", "lb2"), ("lb3", "lb4")):
        assert f"node_down node={master}" in floors and f"link_down node={master} peer=edge" in floors
        assert not {label for label in floors if label.startswith(("kill", "stop", "node_down", "link_down", "loss"))
                    and f"node={backup}" in label}     # both of a pair at once would lose the VIP
    assert floors["node_down node=lb1"] == {"http": 0.4}                  # VRRPv3: 3 adverts of 0.1 s + skew
    assert floors["kill node=lb1 daemon=lbserver"] == {"http": 0.65}      # 3 probes 100 ms apart + 250 ms + an advert
    for step in nemesis_plan(pool(vip), vip.fault_budgets(), 600, seed=5):
        assert step.candidate.node not in ("lb2", "lb4") or step.candidate.hazard.action == "partition"


def test_a_single_member_or_single_dns_lab_tolerates_none_of_their_loss():
    budgets = MINIMAL.fault_budgets()
    assert budgets["etcd"] == 0 and budgets["dns"] == 0
    roles = {c.role for step in nemesis_plan(pool(MINIMAL), budgets, 120, seed=3) for c in [step.candidate]}
    assert not roles & {"etcd", "dns"}


def test_a_partition_occupies_every_node_it_names():
    lb_cut = next(c for c in pool() if c.hazard.action == "partition" and c.node == "lb1")
    assert set(lb_cut.nodes) == {"lb1", "etcd1", "etcd2", "etcd3", "redis"}
    link = next(c for c in pool() if c.hazard.action == "link_down")
    assert link.nodes == (link.node,)                   # a LAN peer is not a node


def test_same_seed_same_schedule_other_seed_another():
    first = nemesis_plan(pool(), REFERENCE.fault_budgets(), 600, seed=42)
    again = nemesis_plan(pool(), REFERENCE.fault_budgets(), 600, seed=42)
    other = nemesis_plan(pool(), REFERENCE.fault_budgets(), 600, seed=43)
    assert first == again and len(first) > 50
    assert [(s.start, s.candidate.label) for s in first] != [(s.start, s.candidate.label) for s in other]
    assert write_plan(600, 42) == write_plan(600, 42) != write_plan(600, 43)


def active_at(steps, t):
    return [s for s in steps if s.start <= t < s.end]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), duration=st.floats(20, 900), concurrency=st.integers(1, 4))
def test_the_schedule_never_holds_more_than_the_design_tolerates(seed, duration, concurrency):
    timing = Timing(concurrency=concurrency)
    budgets = REFERENCE.fault_budgets()
    steps = nemesis_plan(pool(), budgets, duration, seed, timing)
    for step in steps:
        assert timing.warmup <= step.start and step.end <= duration - timing.quiet_end + 1e-6
        assert timing.hold[0] - 1e-6 <= step.hold <= timing.hold[1] + 1e-6 or step.end >= duration - timing.quiet_end - 1e-3
        # at the moment it is injected (and so for its whole hold, as nothing else starts then
        # unless it too is allowed), the active set obeys every limit
        others = [s for s in active_at(steps, step.start) if s is not step]
        assert allowed(step.candidate, others, budgets, concurrency)
    for t in sorted({s.start for s in steps}):
        active = active_at(steps, t)
        assert len(active) <= concurrency
        nodes = [n for s in active for n in s.candidate.nodes]
        assert len(nodes) == len(set(nodes)), "two faults on one node"
        for role, budget in budgets.items():
            assert sum(s.candidate.role == role for s in active) <= budget


def test_faults_option_keeps_only_those_actions():
    steps = nemesis_plan(pool(actions=["kill", "node_down"]), REFERENCE.fault_budgets(), 300, seed=1)
    assert steps and {s.candidate.hazard.action for s in steps} <= {"kill", "node_down"}
    assert nemesis_plan(pool(actions=["delay"]), REFERENCE.fault_budgets(), 300, seed=1) == []


def test_too_short_a_run_draws_nothing():
    assert nemesis_plan(pool(), REFERENCE.fault_budgets(), 12, seed=1) == []


def test_writes_switch_the_algorithm_each_time_and_stop_before_the_end():
    timing = Timing()
    writes = write_plan(120, seed=9, timing=timing)
    assert len(writes) > 20
    assert all(w.changes["algorithm"] in WRITE_ALGORITHMS for w in writes)
    assert all(a.changes != b.changes for a, b in zip(writes, writes[1:]))
    assert writes[-1].at <= 120 - timing.quiet_end / 2
    assert [w.seq for w in writes] == list(range(len(writes)))


@pytest.mark.parametrize("timing, field", [
    (Timing(gap=(0, 1)), "gap"), (Timing(hold=(5, 2)), "hold"), (Timing(write_every=(-1, 2)), "write_every"),
    (Timing(concurrency=0), "concurrency"), (Timing(warmup=-1), "warmup/quiet_end")])
def test_impossible_timings_are_named(timing, field):
    assert [name for name, _ in timing.problems()] == [field]


def test_the_engine_lab_is_what_the_chaos_soak_drives():
    from scenarios.labapi import ChaosLab

    assert isinstance(REFERENCE, ChaosLab)
