import pytest
from pydantic import ValidationError

from lbapp.orchestrator.autoscale import NodeLoad, ScalePolicy, decide

POLICY = ScalePolicy(min_active=2, max_active=4, scale_up_rps=300, scale_down_rps=100,
                     scale_up_cpu=0.7, scale_down_cpu=0.3, cooldown_s=20)
ACTIVE = ["lb1", "lb2", "lb3"]


def loads(rps, cpu=0.1, conns=None, nodes=ACTIVE):
    return {n: NodeLoad(rps=rps, cpu=cpu, connections=(conns or {}).get(n, 5)) for n in nodes}


def test_scale_up_on_rps_picks_first_standby():
    d = decide(POLICY, ACTIVE, ["lb5", "lb4"], loads(400), now=100, last_change=None)
    assert (d.action, d.node) == ("activate", "lb4")
    assert d.inputs["rps_per_node"] == 400 and d.inputs["active"] == 3
    assert "400 rps/node > 300" in d.reason


def test_scale_up_on_cpu():
    d = decide(POLICY, ACTIVE, ["lb4"], loads(50, cpu=0.9), now=100, last_change=None)
    assert d.action == "activate" and "cpu" in d.reason


def test_cooldown_holds():
    d = decide(POLICY, ACTIVE, ["lb4"], loads(400), now=100, last_change=90)
    assert d.action == "hold" and "cooldown" in d.reason
    assert decide(POLICY, ACTIVE, ["lb4"], loads(400), now=111, last_change=90).action == "activate"


def test_scale_down_when_projected_load_is_low_drains_fewest_connections():
    d = decide(POLICY, ACTIVE, [], loads(50, conns={"lb1": 3, "lb2": 1, "lb3": 9}),
               now=100, last_change=None)
    assert (d.action, d.node) == ("drain", "lb2")
    assert d.inputs["rps_per_node_after"] == 75


def test_hysteresis_no_drain_when_remaining_nodes_would_be_busy():
    # 90 rps each on 3 nodes would be 135 on 2: above scale_down_rps, so hold
    assert decide(POLICY, ACTIVE, [], loads(90), now=100, last_change=None).action == "hold"


def test_never_below_min_or_above_max():
    assert decide(POLICY, ["lb1", "lb2"], ["lb3"], loads(0, nodes=["lb1", "lb2"]), now=100,
                  last_change=None).action == "hold"
    d = decide(POLICY, ["lb1"], ["lb3", "lb2"], {}, now=100, last_change=99)
    assert (d.action, d.node) == ("activate", "lb2")  # repair below min ignores cooldown
    five = ["lb1", "lb2", "lb3", "lb4", "lb5"]
    assert decide(POLICY, five, [], loads(1000, nodes=five), now=0, last_change=0).action == "drain"
    four = five[:4]
    d = decide(POLICY, four, ["lb5"], loads(1000, nodes=four), now=100, last_change=None)
    assert d.action == "hold" and "max_active" in d.reason


def test_missing_metrics_hold():
    d = decide(POLICY, ACTIVE, ["lb4"], loads(1000, nodes=["lb1", "lb2"]), now=100,
               last_change=None)
    assert d.action == "hold" and "no metrics for lb3" in d.reason


def test_no_standby_to_activate():
    d = decide(POLICY, ACTIVE, [], loads(1000), now=100, last_change=None)
    assert d.action == "hold" and "no standby" in d.reason


@pytest.mark.parametrize("fields", [
    {"min_active": 3, "max_active": 2},
    {"scale_up_rps": 100, "scale_down_rps": 100},
    {"scale_up_cpu": 0.5, "scale_down_cpu": 0.6},
    {"cooldown_s": -1},
    {"scale_up_rps": float("inf")},
    {"bogus": 1},
])
def test_policy_validation(fields):
    with pytest.raises(ValidationError):
        ScalePolicy(**fields)
