"""The chaos checker's verdicts on synthetic histories: each invariant passes on a history that
keeps it and fails, naming what and when, on one that breaks it."""
import pytest

from scenarios.chaos import checker as C

LIMITS = C.Limits(delivery=3.0, scale=2.0, slack=0.5, lead=0.25, settle=2.0)
LB_KILL = C.FaultSpan(0, "kill node=lb2 daemon=lbserver", ("lb2",), 10.0, 16.0, {"http": 0.3}, "announcer")
LOSS = C.FaultSpan(1, "loss node=lb3 percent=1", ("lb3",), 30.0, 40.0, {"http": 0.0}, "loss", while_held=True)
ETCD = C.FaultSpan(2, "kill node=etcd1 daemon=etcd", ("etcd1",), 50.0, 55.0)


def window(start, end, kind="http", failures=5):
    return C.TrafficWindow(kind, start, end, failures, {"timeout": failures})


# ------------------------------------------------------------------------------- disruptions
@pytest.mark.parametrize("w", [
    window(10.05, 10.3),            # while the LB's VIP is withdrawn
    window(9.8, 10.9),              # a little before the recorded start; 1.1 s = 0.3 x 2 + 0.5
    window(17.5, 17.6),             # while it settles after the heal
    window(31.0, 39.5), window(33.0, 41.9),    # loss: any length while held (and settling)
])
def test_windows_explained_by_an_active_fault(w):
    assert C.disruptions([w], [LB_KILL, LOSS, ETCD], LIMITS, run_end=60) == []


def test_a_window_longer_than_the_faults_limit_fails_naming_the_fault():
    [v] = C.disruptions([window(10.1, 11.5)], [LB_KILL], LIMITS, run_end=60)
    assert v.check == "disruptions" and (v.t_from, v.t_to) == (10.1, 11.5)
    assert "longer than its faults allow (1.10s)" in v.message and "kill node=lb2 daemon=lbserver" in v.message


@pytest.mark.parametrize("w, faults", [
    (window(3.0, 3.2), [LB_KILL]),                   # before any fault
    (window(18.5, 18.6), [LB_KILL]),                 # after it settled
    (window(51.0, 51.0, failures=1), [ETCD]),        # a fault users must not see at all
    (window(12.0, 12.1, kind="dns"), [LB_KILL]),     # a kind of traffic the fault does not disrupt
    (window(35.0, 42.5), [LOSS]),                    # loss failures going on after the loss was healed
])
def test_unexplained_windows_fail(w, faults):
    [v] = C.disruptions([w], faults, LIMITS, run_end=60)
    assert "explained by no fault" in v.message or "longer than" in v.message


def test_a_skipped_fault_explains_nothing_and_an_unhealed_one_lasts_to_the_end():
    skipped = C.FaultSpan(3, "delay node=lb1", ("lb1",), 10.0, 12.0, {"http": 1.0}, status="skipped")
    assert C.disruptions([window(10.5, 10.6)], [skipped], LIMITS, 60)
    open_ended = C.FaultSpan(4, "loss node=lb1", ("lb1",), 50.0, None, {"http": 0.0}, while_held=True)
    assert C.disruptions([window(55.0, 59.0)], [open_ended], LIMITS, run_end=60) == []


# ------------------------------------------------------------------------------------ config
def obs(t, lb, version, value="round_robin", pid=100):
    return C.Observation(t, lb, pid, version, value)


def test_versions_that_go_back_fail_also_across_a_restart():
    history = [obs(1, "lb1", 5), obs(2, "lb1", 7), obs(3, "lb1", 7), obs(4, "lb2", 5), obs(5, "lb2", 7),
               obs(6, "lb1", 6, pid=200)]
    [v] = C.config_order(history)
    assert "lb1 served v6 at +6.00s (pid 200) after v7 at +3.00s (pid 100): reverted" in v.message
    assert C.config_order(history[:5]) == []


WRITES = [C.Write(0, 1.0, "least_connections", acked=1.1, revision=7),
          C.Write(1, 3.0, "random", acked=3.2, revision=9),
          C.Write(2, 5.0, "round_robin", error="timed out")]     # may or may not have been applied


def test_served_versions_must_be_ones_a_write_made_with_its_value():
    initial = {5: "round_robin"}
    good = [obs(0.5, "lb1", 5), obs(1.3, "lb1", 7, "least_connections"), obs(3.3, "lb1", 9, "random")]
    assert C.config_known(good, WRITES, initial, resolved={}) == []
    # v8: the write that timed out on one member and was retried on another; etcd holds its value
    assert C.config_known([obs(6, "lb1", 8)], WRITES, initial, resolved={8: "round_robin"}) == []
    [phantom] = C.config_known([obs(6, "lb1", 12)], WRITES, initial, resolved={})
    assert "v12" in phantom.message and "no write made" in phantom.message
    [foreign] = C.config_known([obs(6, "lb1", 8)], WRITES, initial, resolved={8: "maglev"})
    assert "etcd held 'maglev'" in foreign.message
    [wrong] = C.config_known([obs(4, "lb2", 9, "least_connections")], WRITES, initial, resolved={})
    assert "served v9 as 'least_connections'" in wrong.message and "holds 'random'" in wrong.message


def test_every_acknowledged_write_is_served_by_every_lb_in_time():
    history = [obs(0.5, lb, 5) for lb in ("lb1", "lb2")] + \
        [obs(1.2, "lb1", 7), obs(1.3, "lb2", 7), obs(3.3, "lb1", 9), obs(3.4, "lb2", 9), obs(8.0, "lb1", 9),
         obs(8.0, "lb2", 9)]
    assert C.config_delivered(WRITES, history, ["lb1", "lb2"], [], LIMITS, observed_until=8.0) == []


def test_a_late_write_fails_with_what_the_lb_served_meanwhile():
    history = [obs(0.5, "lb1", 5), obs(1.2, "lb1", 7), obs(3.3, "lb1", 7), obs(7.5, "lb1", 9), obs(9, "lb1", 9)]
    [late] = C.config_delivered(WRITES, history, ["lb1"], [], LIMITS, observed_until=9.0)
    assert "lb1 did not serve v9 (write 1, acknowledged +3.20s) by +6.20s: it served v7 at +3.30s" in late.message
    assert "first at +7.50s" in late.message


def test_a_fault_on_the_lb_moves_its_deadline_to_after_the_heal():
    cut = C.FaultSpan(5, "partition groups=[[lb1], [etcd1]]", ("lb1", "etcd1"), 2.0, 12.0)
    history = [obs(0.5, "lb1", 5), obs(1.2, "lb1", 7), obs(13.0, "lb1", 9)]
    assert C.config_delivered(WRITES, history, ["lb1"], [cut], LIMITS, observed_until=13.0) == []
    [late] = C.config_delivered(WRITES, history[:2] + [obs(15.5, "lb1", 9)], ["lb1"], [cut], LIMITS, 15.5)
    assert "by +15.00s" in late.message
    # a fault on another node moves nothing
    other = C.FaultSpan(6, "kill node=lb2", ("lb2",), 2.0, 12.0)
    assert C.config_delivered(WRITES, history, ["lb1"], [other], LIMITS, observed_until=13.0)


def test_no_acknowledged_write_is_nothing_to_judge_and_fails():
    failed = [C.Write(0, 1.0, "random", error="ConsoleApiError: no console"), C.Write(1, 2.0, "random", error="x")]
    [v] = C.config_delivered(failed, [obs(1, "lb1", 5)], ["lb1"], [], LIMITS, observed_until=5.0)
    assert "none of 2 config writes was acknowledged" in v.message and "no console" in v.message


def test_a_write_never_served_is_lost_at_the_end():
    history = [obs(0.5, "lb1", 5), obs(1.2, "lb1", 7), obs(4.0, "lb1", 7)]
    found = C.config_delivered(WRITES, history, ["lb1"], [], LIMITS, observed_until=4.0)   # deadline not reached
    assert [v.message for v in found] == ["lb1 ends serving v7, not the last acknowledged write v9 (lost)"]
    [never] = C.config_delivered(WRITES, [], ["lb3"], [], LIMITS, observed_until=10.0)[-1:]
    assert "lb3 ends serving nothing" in never.message


# --------------------------------------------------------------------------- run-level checks
def test_nemesis_recovery_and_leftovers():
    failed = C.FaultSpan(7, "node_down node=lb1", ("lb1",), 5.0, None, status="apply_failed")
    open_ = C.FaultSpan(8, "kill node=be1 daemon=backend", ("be1",), 6.0, None, status="applied")
    assert [v.message for v in C.nemesis([LB_KILL, failed, open_], 60)] == [
        "fault 7 (node_down node=lb1): apply failed", "fault 8 (kill node=be1 daemon=backend) was never healed"]
    assert C.recovery({"converged": True, "daemons": {"lb1/bird": "running"}}, 60) == []
    # a standby LB's server, held stopped by its agent, is where it should be
    assert C.recovery({"converged": True, "daemons": {"lb4/lbserver": "held", "lb1/bird": "running"}}, 60) == []
    found = C.recovery({"converged": False, "detail": "ecmp r1: 2 nexthops", "daemons": {"lb1/bird": "dead"}}, 60)
    assert [v.message for v in found] == ["not running after the final heal: lb1/bird",
                                          "the lab did not converge after the final heal: ecmp r1: 2 nexthops"]
    assert C.leftovers({}, 60) == [] and C.leftovers(None, 60) == []
    [left] = C.leftovers({"netns": ["chaos-lb1"], "processes": [123]}, 60)
    assert left.message == "left behind after lblab down: netns: chaos-lb1; processes: 123"
