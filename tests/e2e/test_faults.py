"""Fault primitives do what they say on the real lab, and heal undoes them exactly."""
from __future__ import annotations

import re
import time

import pytest

from lblab.kinds import dns, router
from lblab.lab import converge, orchview, probes
from lblab.faults import FaultError, FaultSkipped


def dns_works(lab, client="client1") -> bool:
    try:
        return probes.dns_a(lab.ns(client), "192.168.1.100", "lb.payment.example", timeout=0.5) == ["10.0.0.100"]
    except Exception:  # dnspython raises several unrelated types on timeout
        return False


def http_status(lab, client="client1") -> str:
    result = lab.run(client, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                              "http://10.0.0.100/"], timeout=5)
    return result.stdout


def wait_for(read, wanted: list[str], timeout: float) -> float:
    """Seconds until ``read()`` lists exactly ``wanted`` (in any order)."""
    start = time.monotonic()
    while sorted(read()) != sorted(wanted):
        assert time.monotonic() - start < timeout, f"{read()}, wanted {wanted}"
        time.sleep(0.02)
    return time.monotonic() - start


def wait_nexthops(lab, wanted: list[str], timeout: float) -> float:
    """Seconds until r1's anycast route has exactly ``wanted`` as nexthops."""
    return wait_for(lambda: lab.route_nexthops("r1", "10.0.0.100/32"), wanted, timeout)


def test_partition_and_heal(healthy_lab):
    lab = healthy_lab
    assert dns_works(lab)
    lab.fault("partition", groups=[["client1"], ["dns1", "dns2"]])
    assert not dns_works(lab, "client1")
    assert dns_works(lab, "client2")           # only the partitioned pair is cut
    lab.fault("heal")
    assert dns_works(lab, "client1")


def test_full_loss_then_removed(healthy_lab):
    lab = healthy_lab
    lab.fault("loss", node="client2", percent=100)
    assert http_status(lab, "client2") == "000"
    assert http_status(lab, "client1") == "200"
    lab.fault("loss", node="client2", percent=0)
    assert http_status(lab, "client2") == "200"


def test_partial_loss_drops_that_share_of_packets_each_way(healthy_lab):
    lab = healthy_lab
    percent = 30
    lab.fault("loss", node="client3", percent=percent)
    try:
        out = lab.run("client3", ["ping", "-n", "-q", "-c", "600", "-i", "0.005", "-W", "1",
                                  "192.168.1.100"], timeout=30).stdout
    finally:
        lab.fault("loss", node="client3", percent=0)
    measured = float(re.search(r"([0-9.]+)% packet loss", out).group(1)) / 100
    # The echo request leaves and the reply enters client3: each is dropped with p.
    expected = 1 - (1 - percent / 100) ** 2
    print(f"loss {percent}% each way: {measured:.1%} of echoes lost, expected {expected:.1%}")
    assert abs(measured - expected) < 0.08, out   # ~4 standard deviations for 600 echoes
    assert http_status(lab, "client3") == "200"


def test_link_down_withdraws_lb_and_link_up_restores(healthy_lab):
    lab = healthy_lab
    lab.fault("link_down", node="lb3", peer="edge")
    wait_nexthops(lab, ["10.0.1.1", "10.0.1.2"], timeout=3)
    lab.heal_all()
    lab.wait_converged(timeout=30)
    assert lab.route_nexthops("r1", "10.0.0.100/32") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]


def test_hung_lb_is_withdrawn_and_announced_again(healthy_lab):
    lab = healthy_lab
    lab.fault("stop", node="lb2", daemon="lbserver")    # accepts TCP, never answers
    withdrawn = wait_nexthops(lab, ["10.0.1.1", "10.0.1.3"], timeout=3)
    assert http_status(lab, "client1") == "200"
    lab.fault("cont", node="lb2", daemon="lbserver")
    announced = wait_nexthops(lab, ["10.0.1.1", "10.0.1.2", "10.0.1.3"], timeout=3)
    print(f"hung LB withdrawn after {withdrawn * 1000:.0f} ms, back {announced * 1000:.0f} ms "
          "after it answered again")


def test_rogue_announcements_reach_the_router_and_are_rejected(healthy_lab):
    lab = healthy_lab
    rogue = ["192.168.1.100/32", "10.1.0.0/24"]
    for prefix in rogue:
        lab.fault("announce", node="lb1", prefix=prefix)
    wait_for(lambda: router.filtered_routes(lab, "r1"), rogue, timeout=3)
    for prefix in rogue:
        assert lab.route_nexthops("r1", prefix) == []
    assert lab.route_nexthops("r1", "10.0.0.100/32") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert dns_works(lab) and http_status(lab) == "200"
    with pytest.raises(FaultError, match="announces 10.1.0.0/24 already"):
        lab.fault("announce", node="lb1", prefix="10.1.0.0/24")
    with pytest.raises(FaultError, match="be1 runs no BGP speaker"):
        lab.fault("announce", node="be1", prefix="10.9.0.0/24")
    lab.fault("withdraw", node="lb1", prefix="10.1.0.0/24")
    wait_for(lambda: router.filtered_routes(lab, "r1"), ["192.168.1.100/32"], timeout=3)
    # heal (by the fixture) withdraws the rest


def test_stop_and_continue_daemon(healthy_lab):
    lab = healthy_lab
    bird = lab.daemon("lb1", "bird")
    lab.fault("stop", node="lb1", daemon="bird")
    assert lab.daemon_state(bird) == "stopped"
    lab.fault("cont", node="lb1", daemon="bird")
    assert lab.daemon_state(bird) == "running"
    assert lab.ledger.faults() == []


def test_delay_needs_netem(healthy_lab):
    from lblab.faults.netem import netem_available

    lab = healthy_lab
    available, reason = netem_available(lab, "client1")
    if available:
        lab.fault("delay", node="client1", delay=0.05)
        result = lab.run("client1", ["ping", "-c", "3", "-i", "0.2", "192.168.1.1"], timeout=10)
        assert "time=5" in result.stdout or "time=10" in result.stdout
    else:
        with pytest.raises(FaultSkipped, match="netem"):
            lab.fault("delay", node="client1", delay=0.05)
        assert lab.ledger.faults() == []      # nothing half-applied


def test_bad_fault_requests_are_clear_errors(healthy_lab):
    lab = healthy_lab
    with pytest.raises(FaultError, match="unknown fault 'explode'"):
        lab.fault("explode", node="lb1")
    with pytest.raises(Exception, match="unknown daemon 'squid'"):
        lab.fault("kill", node="lb1", daemon="squid")
    with pytest.raises(Exception, match="node lb1 has no daemon 'etcd'"):
        lab.fault("kill", node="lb1", daemon="etcd")
    with pytest.raises(FaultError, match="percent: Input should be less than or equal to 100"):
        lab.fault("loss", node="client1", percent=101)
    with pytest.raises(Exception, match="no node 'lb9'"):
        lab.fault("kill", node="lb9", daemon="bird")
    with pytest.raises(FaultError, match="neither a node nor a LAN"):
        lab.fault("link_down", node="lb1", peer="nowhere")
    assert lab.ledger.faults() == []


def test_backend_knob_faults_and_heal(healthy_lab):
    """A sick health endpoint (knobs on the control LAN) is seen by its orchestrator member and
    written to etcd; heal puts every knob back and the backend is healthy again."""
    lab = healthy_lab
    backend = lab.daemon("be2", "backend")
    lab.fault("backend_health", node="be2", status=503)
    assert backend.knobs()["health"]["status"] == 503
    wait_until_health(lab, "be2", False)
    lab.fault("backend_latency", node="be2", latency=0.2, scope="serve")
    assert backend.knobs()["serve"]["latency_ms"] == 200
    lab.heal_all()
    assert backend.knobs() == backend.knobs("DELETE")        # every knob at its default
    wait_until_health(lab, "be2", True)
    assert lab.ledger.faults() == []
    with pytest.raises(FaultError, match="'lb1' is not a node of role backend"):
        lab.fault("backend_hang", node="lb1")


def wait_until_health(lab, backend: str, healthy: bool, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = orchview.read(lab).health.get(backend)
        if value is not None and not isinstance(value, str) and value.healthy == healthy:
            return
        time.sleep(0.1)
    raise AssertionError(f"{backend} not {'healthy' if healthy else 'unhealthy'} in etcd within {timeout}s")


def test_orchestrator_faults_find_their_member_in_etcd(healthy_lab):
    lab = healthy_lab
    before = orchview.read(lab)
    record = lab.fault("orchestrator", member="leader", fault="stop")
    assert record["node"] == before.leader and record["term"] == before.term
    member = lab.daemon(before.leader, "orchestrator")
    assert lab.daemon_state(member) == "stopped"
    lab.fault("orchestrator_resume")
    assert lab.daemon_state(member) == "running" and lab.ledger.faults() == []
    follower = lab.fault("orchestrator", member="follower", fault="isolate")
    assert follower["node"] != orchview.read(lab).leader
    assert lab.fault("orchestrator_resume")["resumed"] == [follower["node"]]
    killed = lab.fault("orchestrator", member="follower", fault="kill")
    assert lab.daemon_state(lab.daemon(killed["node"], "orchestrator")) == "dead"
    lab.heal_all()
    lab.wait_converged(timeout=30)
    assert orchview.read(lab).members == ["orch1", "orch2", "orch3"]


def test_a_killed_lb_server_is_restarted_by_its_agent(healthy_lab):
    lab = healthy_lab
    lbserver = lab.daemon("lb3", "lbserver")
    before = lab.process_of(lbserver)
    lab.fault("kill", node="lb3", daemon="lbserver")
    wait_nexthops(lab, ["10.0.1.1", "10.0.1.2"], timeout=3)
    lab.wait_ready(lbserver)             # the agent's backoff, then the start; nobody else starts it
    again = lab.process_of(lbserver)
    assert again is not None and again.pid != before.pid
    wait_nexthops(lab, ["10.0.1.1", "10.0.1.2", "10.0.1.3"], timeout=5)
