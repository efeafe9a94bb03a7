"""Scaling modes and sites in topologies: the shipped topology of each mode loads and gives each
role the daemons its mode needs; topologies a mode cannot work with are refused naming the field;
the mode registry is the one list of modes."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from lblab.daemons.base import NodeContext
from lblab.daemons.bird import ImpostorSpeaker
from lblab.kinds import kind_of
from lblab.kinds.scaling import mode_names, mode_of
from lblab.topology.load import TopologyError, load_topology, parse_topology, resolve_topology_path
from lblab.topology.model import initial_lb_config

SHIPPED = {"reference": "anycast", "ecmp-static": "ecmp-static", "vip": "vip", "dns": "dns",
           "anycast-2site": "anycast"}


def daemons(topology: str, node: str, tmp_path) -> list:
    topo = load_topology(topology)
    return kind_of(topo.nodes[node].role).daemons(NodeContext("t", topo, node, "x", tmp_path / node))


def names(topology: str, node: str, tmp_path) -> list[str]:
    return [d.name for d in daemons(topology, node, tmp_path)]


def rendered(topology: str, node: str, daemon: str, tmp_path) -> dict[str, str]:
    found = next(d for d in daemons(topology, node, tmp_path) if d.name == daemon)
    return {path.name: text for path, text in found.render().items()}


def test_the_registry_lists_every_mode_and_each_has_a_shipped_topology():
    assert set(mode_names()) == {"anycast", "dns", "vip", "ecmp-static"}
    assert set(SHIPPED.values()) == set(mode_names())
    for name, mode in SHIPPED.items():
        assert load_topology(name).scaling == mode


@pytest.mark.parametrize("topology, lb, router, dns", [
    ("reference", ["bird", "lbserver", "announcer", "agent", "reporter"], ["bird"],
     ["coredns", "dnswatch", "keepalived", "reporter"]),
    ("ecmp-static", ["lbserver", "agent"], [], ["coredns", "dnswatch", "keepalived", "reporter"]),
    ("vip", ["keepalived", "lbserver", "announcer", "agent", "reporter"], [], ["coredns", "dnswatch", "keepalived", "reporter"]),
    ("dns", ["lbserver", "announcer", "agent", "reporter"], [], ["coredns", "zonewriter", "dnswatch", "keepalived", "reporter"]),
])
def test_each_mode_gives_each_role_its_daemons(tmp_path, topology, lb, router, dns):
    assert names(topology, "lb1", tmp_path) == lb
    assert names(topology, "r1", tmp_path) == router
    assert names(topology, "dns1", tmp_path) == dns


def test_service_name_answers_per_mode():
    want = {"reference": ["10.0.0.100"], "ecmp-static": ["10.0.0.100"], "vip": ["10.0.1.100", "10.0.1.101"],
            "dns": ["10.0.1.1", "10.0.1.2", "10.0.1.3"]}
    for topology, addresses in want.items():
        topo = load_topology(topology)
        assert [r.address for r in mode_of(topo.scaling).records(topo)] == addresses


def test_vip_members_track_their_announcer_and_record_their_state(tmp_path):
    conf = rendered("vip", "lb2", "keepalived", tmp_path)["keepalived.conf"]
    assert "vrrp_instance lb_vip_61 {" in conf and "lb_vip_62" not in conf
    assert "priority 100" in conf and "unicast_src_ip 10.0.1.2" in conf and "    10.0.1.1\n" in conf
    assert "10.0.1.100/24 dev eth-edge" in conf
    assert f'file "{tmp_path}/lb2/announcer.ok"' in conf
    assert "http://127.0.0.1:9100/-/ready" in conf
    announcer = next(d for d in daemons("vip", "lb2", tmp_path) if d.name == "announcer")
    assert announcer.argv()[announcer.argv().index("--track-file") + 1] == f"{tmp_path}/lb2/announcer.ok"


def test_dns_mode_announcer_keeps_the_lbs_record_in_etcd(tmp_path):
    announcer = next(d for d in daemons("dns", "lb2", tmp_path) if d.name == "announcer")
    argv = announcer.argv()
    assert argv[argv.index("--record-key") + 1] == "/lblab/lb/payment/dns/lb2"
    assert argv[argv.index("--record-value") + 1] == '{"address":"10.0.1.2","weight":1}'
    assert argv[argv.index("--lease-ttl-s") + 1] == "2"
    writer = next(d for d in daemons("dns", "dns1", tmp_path) if d.name == "zonewriter")
    argv = writer.argv()
    assert argv[argv.index("--prefix") + 1] == "/lblab/lb/payment/dns/"
    assert argv[argv.index("--zone-file") + 1] == f"{tmp_path}/dns1/coredns.payment.example.db"


def test_dns_watch_asks_for_the_zone_not_the_lb_records(tmp_path):
    watch = next(d for d in daemons("dns", "dns1", tmp_path) if d.name == "dnswatch")
    argv = watch.argv()
    assert argv[argv.index("--name") + 1] == "payment.example" and argv[argv.index("--qtype") + 1] == "SOA"


def test_two_sites_each_serve_their_own_lb_config():
    topo = load_topology("anycast-2site")
    assert topo.lb_ids() == ["payment-a", "payment-b"]
    assert [b["name"] for b in initial_lb_config(topo, "payment-b")["backend_servers"]] == ["be4", "be5", "be6"]
    assert topo.lb_id_of("lb1") == "payment-a" and topo.lb_id_of("dns1") == "payment"


def test_two_site_routers_peer_through_the_core_and_prefer_the_nearest_site(tmp_path):
    core = rendered("anycast-2site", "core", "bird", tmp_path)["bird.conf"]
    assert "protocol bgp bgp_r1 from router_peer {" in core and "neighbor 10.9.2.1 as 65100;" in core
    assert 'if proto = "bgp_r1" then bgp_local_pref = 200;' in core and "kernel table 150;" in core
    r1 = rendered("anycast-2site", "r1", "bird", tmp_path)["bird.conf"]
    assert "protocol bgp bgp_lb1 from lb_peer {" in r1 and "protocol bgp bgp_core from router_peer {" in r1
    assert "bgp_lb3" not in r1                            # another site's LBs are not its peers


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird not installed")
@pytest.mark.parametrize("node", ["core", "r1", "lb3"])
def test_bird_accepts_the_two_site_configs(tmp_path, node):
    conf = tmp_path / "bird.conf"
    conf.write_text(rendered("anycast-2site", node, "bird", tmp_path)["bird.conf"])
    result = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_rogue_speakers_config_has_its_own_password_and_announces_at_once(tmp_path):
    topo = load_topology("reference")
    ctx = NodeContext("t", topo, "lb4", "x", tmp_path / "lb4")
    conf = next(iter(ImpostorSpeaker(ctx, "wrong").render().values()))
    assert 'password "wrong";' in conf and "protocol static vip {\n  ipv4;" in conf
    conf = next(iter(ImpostorSpeaker(ctx, None).render().values()))
    assert "password" not in conf.split("protocol bgp")[1]


# -------------------------------------------------------------------------- refused topologies

def shipped(name: str) -> dict:
    return yaml.safe_load(resolve_topology_path(name).read_text())


def errors(data: dict) -> str:
    with pytest.raises(TopologyError) as err:
        parse_topology(yaml.safe_dump(data), "topo/t.yaml")
    return str(err.value)


def changed(name: str, edit) -> dict:
    data = shipped(name)
    edit(data)
    return data


@pytest.mark.parametrize("name, edit, expected", [
    ("reference", lambda d: d.update(scaling="dnss"), "scaling: unknown scaling mode 'dnss' (expected one of"),
    ("vip", lambda d: d.update(lb_vips=[]), "lb_vips: scaling vip needs at least one LB VIP"),
    ("vip", lambda d: d["lb_vips"][0].update(members={"lb1": 150}), "lb_vips[0].members: a VIP needs at least two"),
    ("vip", lambda d: d["lb_vips"][0].update(members={"lb1": 150, "be1": 100}), "lb_vips[0].members.be1: not an LB node"),
    ("vip", lambda d: d["lb_vips"][0].update(vip="10.0.1.2"), "lb_vips[0].vip: 10.0.1.2 clashes with nodes.lb2"),
    ("vip", lambda d: d["lb_vips"][0].update(vip="10.9.9.9"), "lb_vips[0].vip: 10.9.9.9 is not a host address of LAN edge"),
    ("vip", lambda d: d["lb_vips"][1].update(vrid=61), "lb_vips[1].vrid: 61 is also lb_vips[0].vrid on LAN edge"),
    ("vip", lambda d: d["lb_vips"][0].update(lan="nolan"), "lb_vips[0].lan: no such LAN 'nolan'"),
    ("vip", lambda d: d["lb_vips"].pop(), "nodes.lb3: is in no lb_vips group"),
    ("vip", lambda d: d["nodes"]["lb1"].update(standby=True), "nodes.lb1.standby: a standby LB must not be a member"),
    ("reference", lambda d: d.update(lb_vips=[{"vip": "10.0.1.100", "vrid": 61, "members": {"lb1": 1, "lb2": 2}}]),
     "lb_vips: only used with scaling vip (this topology's scaling is anycast)"),
    ("ecmp-static", lambda d: d["nodes"]["lb1"]["interfaces"].pop("edge"),
     "nodes.lb1.interfaces: shares no LAN with a router: ecmp-static needs the router and the LBs on one LAN"),
    ("ecmp-static", lambda d: d["nodes"].pop("r1"), "nodes: ecmp-static scaling needs a router node"),
    ("dns", lambda d: [d["nodes"].pop(n) for n in ("etcd1", "etcd2", "etcd3")], "dns scaling keeps the LB records in etcd"),
    ("ecmp-static", lambda d: d["nodes"]["r1"].update(nearest={"client": "r1"}),
     "nodes.r1.nearest: needs BGP routing (scaling anycast), not scaling ecmp-static"),
    ("reference", lambda d: d["nodes"]["r1"].pop("asn"), "nodes.r1.asn: missing required option for role router"),
    ("anycast-2site", lambda d: d["nodes"]["core"].update(nearest={"rega": "lb1"}),
     "nodes.core.nearest.rega: 'lb1' is not another router node"),
    ("anycast-2site", lambda d: d["nodes"]["core"].update(nearest={"edgea": "r1"}),
     "nodes.core.nearest.edgea: core is not on LAN edgea"),
    ("anycast-2site", lambda d: d["sites"]["b"].update(lb_id="payment-a"),
     "sites.b.lb_id: 'payment-a' is also the LB config of site a"),
    ("anycast-2site", lambda d: d["sites"]["b"]["nodes"].append("lb1"), "sites.b.nodes[6]: lb1 is also in site a"),
    ("anycast-2site", lambda d: d["sites"]["b"]["nodes"].remove("be6"), "sites: backend node be6 is in no site"),
    ("anycast-2site", lambda d: d["sites"]["a"]["nodes"].append("ghost"), "sites.a.nodes[6]: no such node 'ghost'"),
    ("anycast-2site", lambda d: d["nodes"]["r2"].update(asn=64900),
     "nodes.r2.asn: 64900 is also the ASN of router core"),
])
def test_topologies_a_mode_cannot_work_with_are_refused_by_field(name, edit, expected):
    assert expected in errors(changed(name, edit))


def test_an_lb_nodes_listening_ports_are_never_ephemeral_source_ports():
    topo = load_topology("reference")
    sysctls = kind_of("lb").node_sysctls(topo.nodes["lb1"])
    assert sysctls["net.ipv4.ip_local_reserved_ports"] == "80,9100"
    assert sysctls["net.ipv4.ip_local_port_range"] == "1024 65000"     # which would include them
