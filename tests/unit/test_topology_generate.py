"""`lblab gen`: generated topologies validate, have the sizes asked for, reach every router from
every client over one multipath default route, and print like the shipped files; sizes the
address plan cannot hold are refused naming the option; topo/scale.yaml is what gen prints."""
import ipaddress
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lblab.cli import main
from lblab.lab.errors import LabError
from lblab.paths import TOPO_DIR
from lblab.topology.generate import GenerateError, generate, to_yaml
from lblab.topology.load import parse_topology


def roles(topo):
    out = {}
    for spec in topo.nodes.values():
        out[spec.role] = out.get(spec.role, 0) + 1
    return out


def test_the_scale_topology():
    topo = parse_topology(generate(lbs=10, backends=100, routers=2), "gen")
    assert roles(topo) == {"client": 3, "dns": 2, "router": 2, "lb": 10, "backend": 100, "etcd": 3, "redis": 1,
                           "prometheus": 1, "console": 1}
    routers = [str(topo.nodes[r].interfaces["client"]) for r in ("r1", "r2")]
    assert all([str(g) for g in topo.nodes[c].gateways] == routers for c in ("client1", "client2", "client3"))
    for lb in topo.nodes_of("lb"):        # every LB shares the edge LAN with both routers: two BGP sessions
        assert all(topo.shared_lans(lb, r) == ["edge"] for r in ("r1", "r2"))
    assert len({spec.asn for spec in topo.nodes_of("lb").values()}) == 10


@settings(max_examples=25, deadline=None)
@given(lbs=st.integers(1, 200), backends=st.integers(1, 2000), routers=st.integers(1, 9),
       clients=st.integers(1, 70), standby_share=st.floats(0, 0.99))
def test_every_size_in_range_validates(lbs, backends, routers, clients, standby_share):
    standby = min(int(lbs * standby_share), lbs - 1)
    document = generate(lbs=lbs, backends=backends, routers=routers, clients=clients, standby=standby)
    topo = parse_topology(to_yaml(document), "gen")          # as printed, read back
    counts = roles(topo)
    assert (counts["lb"], counts["backend"], counts["router"], counts["client"]) == (lbs, backends, routers, clients)
    assert sum(spec.standby for spec in topo.nodes_of("lb").values()) == standby
    vip = ipaddress.ip_address("192.168.1.100")
    assert all(vip not in spec.interfaces.values() for spec in topo.nodes.values())


@pytest.mark.parametrize("sizes, message", [
    ({"lbs": 0}, "--lbs: 0 is outside 1..200"), ({"backends": 2001}, "--backends: 2001 is outside 1..2000"),
    ({"routers": 10}, "--routers: 10 is outside 1..9"), ({"clients": 0}, "--clients"),
    ({"lbs": 3, "standby": 3}, "--standby: 3 leaves no active LB of 3"),
    ({"lbs": -1, "routers": 0}, "--lbs: -1 is outside 1..200; --routers: 0 is outside 1..9")])
def test_sizes_the_plan_cannot_hold_are_refused(sizes, message):
    with pytest.raises(GenerateError, match=message.replace(".", r"\.")):
        generate(**{"lbs": 2, "backends": 2, "routers": 1, **sizes})


def test_cli_prints_what_the_shipped_scale_file_holds(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lblab", "gen", "--lbs", "10", "--backends", "100", "--routers", "2"])
    assert main(["gen", "--lbs", "10", "--backends", "100", "--routers", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed == (TOPO_DIR / "scale.yaml").read_text()
    assert printed.count("\n  be") == 100            # one line per node
    with pytest.raises(SystemExit):
        main(["gen", "--lbs", "ten"])


def test_cli_refuses_bad_sizes_with_a_clear_error(capsys):
    assert main(["gen", "--routers", "0"]) == 2
    assert "--routers: 0 is outside 1..9" in capsys.readouterr().err
    with pytest.raises(LabError):
        from lblab.cli.gen import run
        run(type("Args", (), {"lbs": 1, "backends": 1, "routers": 1, "clients": 1, "standby": 1, "name": "x"})())


@pytest.mark.parametrize("gateway, message", [
    ([], "give at least one address"), (["192.168.1.1", "192.168.1.1"], "listed twice"),
    (["192.168.1.1", "192.168.1.101"], "192.168.1.101 is this node's own address"),
    (["192.168.1.1", "10.9.9.9"], "10.9.9.9 is not on any LAN of this node"),
    (["192.168.1.1", "not-an-ip"], "nodes.client1.gateway")])
def test_bad_multipath_gateways_are_named(gateway, message):
    document = generate(lbs=2, backends=2, routers=2)
    document["nodes"]["client1"]["gateway"] = gateway
    with pytest.raises(Exception, match=message.replace(".", r"\.")) as caught:
        parse_topology(document, "gen.yaml")
    assert "gen.yaml" in str(caught.value)
