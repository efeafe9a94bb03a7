"""Each scaling mode and the two-site lab on a real lab: what clients reach, how the front end
follows LB health, and what `lblab status` shows for it; BGP hygiene (TCP-MD5, max-prefix) on the
reference lab."""
from __future__ import annotations

import time

import pytest

from lblab import status
from lblab.faults import FaultError
from lblab.lab import probes

REF_NEXTHOPS = ["10.0.1.1", "10.0.1.2", "10.0.1.3"]


def wait_for(read, done, timeout: float, what: str, interval: float = 0.02):
    """Poll read() until done(value); the value, and the seconds it took."""
    start = time.monotonic()
    while True:
        value = read()
        if done(value):
            return value, time.monotonic() - start
        assert time.monotonic() - start < timeout, f"{what}: still {value!r} after {timeout} s"
        time.sleep(interval)


def served_by(lab, client: str, tries: int = 8) -> set[str]:
    """Which LBs answered `tries` requests by name from the client."""
    seen = set()
    for _ in range(tries):
        out = lab.run(client, ["curl", "-s", "-m", "2", "-D", "-", "-o", "/dev/null",
                               "http://lb.payment.example/"], timeout=5).stdout
        seen |= {line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("x-lb:")}
    return seen


def answers(lab) -> list[str]:
    try:
        return probes.dns_a(lab.ns("client1"), str(lab.topo.dns.vip), "lb.payment.example", timeout=0.5)
    except Exception:  # dnspython raises several unrelated types
        return []


def session_line(lab, router: str, peer: str) -> str:
    return status.collect(lab)["bgp_detail"][router].get(peer, "")


# -- reference: BGP hygiene ---------------------------------------------------------------------

@pytest.mark.parametrize("password, drops", [("not-the-lab-password", "with a wrong TCP-MD5 signature"),
                                             (None, "without a TCP-MD5 signature")],
                         ids=["wrong password", "no password"])
def test_a_speaker_with_a_wrong_or_missing_password_gets_no_session_and_status_says_why(
        healthy_lab, password, drops):
    lab = healthy_lab
    lab.fault("rogue_speaker", node="lb4", **({"password": password} if password else {}))
    line, _ = wait_for(lambda: session_line(lab, "r1", "lb4"), lambda text: drops in text, 10,
                       "the router's view of lb4")
    assert "TCP-MD5 password mismatch" in line
    assert status.collect(lab)["bgp"]["r1"]["lb4"]["info"] != "Established"
    assert lab.route_nexthops("r1", "10.0.0.100/32") == REF_NEXTHOPS


def test_rogue_speaker_and_site_faults_refuse_what_the_lab_cannot_do(healthy_lab):
    lab = healthy_lab
    with pytest.raises(FaultError, match="be1 runs no BGP speaker"):
        lab.fault("rogue_speaker", node="be1", password="x")
    with pytest.raises(FaultError, match="no site 'a' \\(sites: none: this topology has no sites\\)"):
        lab.fault("site_down", site="a")
    lab.fault("rogue_speaker", node="lb4", password="x")
    with pytest.raises(FaultError, match="a rogue speaker runs on lb4 already"):
        lab.fault("rogue_speaker", node="lb4", password="y")
    assert [f["action"] for f in lab.ledger.faults()] == ["rogue_speaker"]


def test_the_same_speaker_with_the_right_password_would_be_a_nexthop(healthy_lab):
    """The control for the two above (and for bgp-wrong-password's route check): the rogue
    speaker announces the VIP, so a session would add lb4 to the route."""
    lab = healthy_lab
    lab.fault("rogue_speaker", node="lb4", password=lab.topo.bgp.password)
    wait_for(lambda: lab.route_nexthops("r1", "10.0.0.100/32"), lambda hops: "10.0.1.4" in hops, 15,
             "lb4 in the route")


def test_an_lb_announcing_more_than_the_limit_loses_its_session_until_heal(healthy_lab):
    lab = healthy_lab
    for i in range(11):                               # the router's receive limit is 10
        lab.fault("announce", node="lb4", prefix=f"10.77.{i}.0/24")
    line, _ = wait_for(lambda: session_line(lab, "r1", "lb4"), lambda text: "max-prefix" in text, 10,
                       "the router's view of lb4")
    assert "receive limit 10 hit (action disable)" in line
    assert lab.route_nexthops("r1", "10.0.0.100/32") == REF_NEXTHOPS
    done = lab.heal_all()
    assert any("re-enabled bgp_lb4 on r1" in d for d in done), done
    wait_for(lambda: status.collect(lab)["bgp"]["r1"]["lb4"]["info"], lambda info: info == "Established", 15,
             "lb4's session back")


def test_status_shows_bfd_and_vrrp_state(healthy_lab):
    # converged means BFD up on the active LBs' sessions; the standby lb4's (restarted by the
    # tests above) may still be coming up
    bfd, _ = wait_for(lambda: status.collect(healthy_lab)["bfd"]["r1"],
                      lambda sessions: sessions.get("lb4", {}).get("state") == "Up", 5, "lb4's BFD session")
    assert {peer: s["state"] for peer, s in bfd.items()} == {f"lb{i}": "Up" for i in range(1, 5)}
    data = status.collect(healthy_lab)
    assert data["dns_vrrp"] == {"dns1": "MASTER", "dns2": "BACKUP"}
    assert data["dns_answers"] == ["10.0.0.100"] and data["scaling"] == "anycast"


# -- ecmp-static ----------------------------------------------------------------------------------

@pytest.mark.topology("ecmp-static")
def test_static_route_keeps_a_dead_lb_and_status_says_so(healthy_lab_of):
    lab = healthy_lab_of("ecmp-static")
    assert served_by(lab, "client1", 12) == {"lb1", "lb2", "lb3"}
    lab.fault("kill", node="lb2", daemon="lbserver")
    data = status.collect(lab)
    route = data["static_ecmp"]["r1"]
    assert route["nexthops"] == REF_NEXTHOPS             # nothing takes lb2 out
    assert "lb2" in route["not_ready"]
    assert "bird" not in {d["name"] for n in data["nodes"] for d in n["daemons"]}


# -- vip ------------------------------------------------------------------------------------------

def vip_states(lab, vip: str) -> dict:
    return status.collect(lab)["lb_vips"][vip]


@pytest.mark.topology("vip")
def test_a_crashed_lb_server_hands_its_vip_to_the_pair(healthy_lab_of):
    lab = healthy_lab_of("vip")
    assert vip_states(lab, "10.0.1.100") == {"vrid": 61, "holders": ["lb1"],
                                             "members": {"lb1": "MASTER", "lb2": "BACKUP"}}
    assert served_by(lab, "client1") == {"lb1", "lb3"}
    lab.fault("kill", node="lb1", daemon="lbserver")
    _, moved = wait_for(lambda: vip_states(lab, "10.0.1.100")["holders"], lambda h: h == ["lb2"], 3,
                        "VIP 10.0.1.100 on lb2", interval=0.005)
    print(f"LB server crash: VIP moved to the pair in {moved * 1000:.0f} ms (incl. status polls)")
    assert vip_states(lab, "10.0.1.100")["members"] == {"lb1": "FAULT", "lb2": "MASTER"}
    assert served_by(lab, "client1") == {"lb2", "lb3"}


# -- dns ------------------------------------------------------------------------------------------

@pytest.mark.topology("dns")
def test_records_follow_lb_health_and_a_bad_record_is_left_out(healthy_lab_of):
    lab = healthy_lab_of("dns")
    assert answers(lab) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    lab.fault("kill", node="lb3", daemon="lbserver")
    _, gone = wait_for(lambda: answers(lab), lambda a: a == ["10.0.1.1", "10.0.1.2"], 3, "lb3's record gone")
    print(f"LB server crash: its record left the DNS answers after {gone * 1000:.0f} ms")
    writers = status.collect(lab)["dns_records"]["zone_writers"]
    assert all(w["answers"] == {"10.0.1.1": 1, "10.0.1.2": 1} for w in writers.values()), writers
    key = "/lblab/lb/payment/dns/rogue"
    lab.etcdctl("put", key, '{"address": "10.0.1.99", "weight": 1000}')
    try:
        wait_for(lambda: status.collect(lab)["dns_records"]["zone_writers"]["dns1"]["rejected"],
                 lambda rejected: key in rejected, 3, "the bad record named")
        assert answers(lab) == ["10.0.1.1", "10.0.1.2"]
    finally:
        lab.etcdctl("del", key)


# -- two sites ------------------------------------------------------------------------------------

@pytest.mark.topology("anycast-2site")
def test_each_region_reaches_its_nearest_site(healthy_lab_of):
    lab = healthy_lab_of("anycast-2site")
    assert served_by(lab, "client1") <= {"lb1", "lb2"}
    assert served_by(lab, "client3") <= {"lb3", "lb4"}
    data = status.collect(lab)
    assert {lan: r["nexthops"] for lan, r in data["nearest"]["core"].items()} == {
        "rega": ["10.9.1.1"], "regb": ["10.9.2.1"]}
    assert set(data["bgp"]["core"]) == {"r1", "r2"} and set(data["bgp"]["r1"]) == {"lb1", "lb2", "core"}
    with pytest.raises(FaultError, match="no site 'c' \\(sites: a, b\\)"):
        lab.fault("site_down", site="c")
