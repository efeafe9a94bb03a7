"""What "converged" means for a VRRP VIP (lblab.kinds.scaling.base.vrrp_check): one holder, and
the highest-priority member whose keepalived runs, since keepalived preempts."""
import pytest

from lblab.daemons.keepalived import Keepalived
from lblab.kinds.scaling import base


class StubLab:
    def __init__(self, holders, states):
        self.holders, self.states = set(holders), states
        self.keepalived = {node: object.__new__(Keepalived) for node in states}

    def ns(self, node):
        return node

    def daemons(self, node):
        return [self.keepalived[node]]

    def daemon_state(self, daemon):
        return next(self.states[n] for n, d in self.keepalived.items() if d is daemon)


@pytest.fixture
def check(monkeypatch):
    def run(holders, states, priorities):
        lab = StubLab(holders, states)
        monkeypatch.setattr(base.netns, "has_address", lambda ns, address: ns in lab.holders)
        return base.vrrp_check(lab, "vrrp", "LB VIP", "10.0.1.100", priorities, logs="")
    return run


PRIORITIES = {"lb1": 150, "lb2": 100}
RUNNING = {"lb1": "running", "lb2": "running"}


def test_the_master_holding_the_vip_is_converged(check):
    result = check(["lb1"], RUNNING, PRIORITIES)
    assert result.ok and result.detail == "LB VIP 10.0.1.100 on lb1"


def test_the_backup_still_holding_it_after_the_master_is_back_is_not(check):
    result = check(["lb2"], RUNNING, PRIORITIES)
    assert not result.ok and "want lb1" in result.detail


@pytest.mark.parametrize("holders", [[], ["lb1", "lb2"]])
def test_none_or_two_holders_are_not(check, holders):
    assert not check(holders, RUNNING, PRIORITIES).ok


def test_with_the_master_stopped_the_backup_is_the_steady_state(check):
    assert check(["lb2"], {"lb1": "stopped", "lb2": "running"}, PRIORITIES).ok


def test_a_tie_at_the_top_accepts_either(check):
    assert check(["lb2"], RUNNING, {"lb1": 100, "lb2": 100}).ok
