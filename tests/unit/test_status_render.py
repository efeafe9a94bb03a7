"""`lblab status` as text, from the data `status.collect` returns: what each node kind and each
scaling mode adds is shown (BGP with BFD and why a session is down, nexthops, nearest sites,
VRRP per node and VIP, DNS answers, zone records, a static route's unready LBs)."""
from __future__ import annotations

import io

from rich.console import Console

from lblab import status


def rendered(scaling: str, roles: list[str], **sections) -> str:
    data = {"lab": "t", "topology": "t", "phase": "up", "converged_s": 9.5, "scaling": scaling,
            "service": {"name": "lb.payment.example", "anycast_vip": "10.0.0.100", "dns_vip": "192.168.1.100"},
            "nodes": [{"name": f"{role}1", "role": role, "standby": False, "addresses": {}, "daemons": []}
                      for role in roles],
            "faults": [], "dns_vip_holders": ["dns1"], **sections}
    console = Console(file=io.StringIO(), width=200, color_system=None)
    status.render(data, console)
    return console.file.getvalue()


DNS = {"dns_answers": ["10.0.0.100"], "dns_vrrp": {"dns1": "MASTER", "dns2": "BACKUP"}}


def test_anycast_shows_sessions_with_bfd_why_one_is_down_and_the_nearest_site():
    text = rendered("anycast", ["dns", "router", "lb"], **DNS,
                    announcers={"lb1": True},
                    bgp={"r1": {"lb1": {"info": "Established"}, "lb4": {"info": "Connect", "state": "start"}}},
                    bfd={"r1": {"lb1": {"state": "Up"}, "lb4": {"state": "Down"}}},
                    bgp_detail={"r1": {"lb1": "Established, 1 imported, 0 filtered",
                                       "lb4": "Connect, no session: the kernel dropped 3 segments with a wrong "
                                              "TCP-MD5 signature (TCP-MD5 password mismatch)"}},
                    ecmp={"r1": {"prefix": "10.0.0.100/32", "nexthops": ["10.0.1.1"]}},
                    nearest={"core": {"rega": {"router": "r1", "preferred": "10.9.1.1", "nexthops": ["10.9.2.1"]}}},
                    filtered_routes={"r1": []})
    assert "scaling anycast" in text and "DNS answers: lb.payment.example -> 10.0.0.100" in text
    assert "VRRP (DNS VIP): dns1 MASTER, dns2 BACKUP" in text
    assert "lb1 Established announcing, BFD Up" in text and "lb4 Connect, BFD Down" in text
    assert "r1 ↔ lb4: Connect, no session: the kernel dropped 3 segments" in text
    assert "from rega on core: via 10.9.2.1 (another site; nearest is r1)" in text


def test_vip_shows_each_vips_holder_and_every_members_state():
    text = rendered("vip", ["dns", "lb"], **DNS, announcers={},
                    lb_vips={"10.0.1.100": {"vrid": 61, "holders": ["lb2"],
                                            "members": {"lb1": "FAULT", "lb2": "MASTER"}},
                             "10.0.1.101": {"vrid": 62, "holders": ["lb3", "lb4"],
                                            "members": {"lb3": "MASTER", "lb4": None}}})
    assert "LB VIP 10.0.1.100 (vrid 61) held by lb2: lb1 FAULT, lb2 MASTER" in text
    assert "held by lb3, lb4 (more than one): lb3 MASTER, lb4 no state yet" in text


def test_dns_shows_each_zone_and_what_it_left_out():
    text = rendered("dns", ["dns", "lb"], **DNS, announcers={},
                    dns_records={"prefix": "/lblab/lb/payment/dns/", "zone_writers": {
                        "dns1": {"serial": 42, "answers": {"10.0.1.1": 1, "10.0.1.2": 3},
                                 "rejected": {"/lblab/lb/payment/dns/x": "not JSON"}},
                        "dns2": {"error": "no zone written yet"}}})
    assert "zone on dns1 (serial 42, from etcd /lblab/lb/payment/dns/): 10.0.1.1 (weight 1), 10.0.1.2 (weight 3)" in text
    assert "left out /lblab/lb/payment/dns/x: not JSON" in text and "zone on dns2: no zone written yet" in text


def test_ecmp_static_says_which_nexthop_lbs_are_not_ready():
    text = rendered("ecmp-static", ["router", "lb"], announcers={},
                    static_ecmp={"r1": {"prefix": "10.0.0.100/32", "nexthops": ["10.0.1.1", "10.0.1.2"],
                                        "lbs": {"lb1": "10.0.1.1", "lb2": "10.0.1.2"},
                                        "not_ready": {"lb2": "/-/ready not 200"}}})
    assert "static ECMP on r1: 10.0.0.100/32 via 10.0.1.1, 10.0.1.2 (2 nexthops; no health checks)" in text
    assert "lb2 (10.0.1.2) is not ready (/-/ready not 200) and still gets its share of new flows" in text
