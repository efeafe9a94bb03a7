"""Topology files: both shipped topologies load, and every error kind names file, node and field."""
import pytest
import yaml

from lblab.kinds.lb import active_lbs
from lblab.topology.load import TopologyError, available_topologies, load_topology, parse_topology

SMALL = """
name: t
lans: {client: 192.168.1.0/24, edge: 10.0.1.0/24, control: 10.2.0.0/24}
dns: {vip: 192.168.1.100}
nodes:
  client1: {role: client, interfaces: {client: 192.168.1.11}, gateway: 192.168.1.1}
  dns1: {role: dns, vrrp_priority: 150, interfaces: {client: 192.168.1.2}}
  r1: {role: router, asn: 65000, interfaces: {client: 192.168.1.1, edge: 10.0.1.254}}
  lb1: {role: lb, asn: 65001, interfaces: {edge: 10.0.1.1, control: 10.2.0.101}}
  be1: {role: backend, interfaces: {control: 10.2.0.111}}
  etcd1: {role: etcd, interfaces: {control: 10.2.0.11}}
"""


def parse(text: str):
    return parse_topology(text, "topo/t.yaml")


def mutate(**changes):
    data = yaml.safe_load(SMALL)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return yaml.safe_dump(data)


def errors_of(text: str) -> str:
    with pytest.raises(TopologyError) as err:
        parse(text)
    message = str(err.value)
    assert "Traceback" not in message
    assert all(line.startswith("topo/t.yaml: ") for line in message.splitlines())
    return message


@pytest.mark.parametrize("name", ["minimal", "reference"])
def test_shipped_topologies_load(name):
    topo = load_topology(name)
    assert topo.name == name
    assert str(topo.service.anycast_vip) == "10.0.0.100"
    assert str(topo.dns.vip) == "192.168.1.100"


def test_available_topologies_lists_shipped_files():
    assert {"minimal", "reference"} <= set(available_topologies())


def test_small_topology_is_valid():
    assert active_lbs(parse(SMALL)) == ["lb1"]


def test_unknown_role():
    msg = errors_of(mutate(nodes__be1__role="webserver"))
    assert "nodes.be1.role: unknown role 'webserver'" in msg


def test_duplicate_node_name():
    text = SMALL + "  be1: {role: backend, interfaces: {control: 10.2.0.112}}\n"
    msg = errors_of(text)
    assert "duplicate key 'be1'" in msg and "line" in msg


def test_bad_cidr():
    msg = errors_of(mutate(lans__edge="10.0.1.0/33"))
    assert "lans.edge" in msg


def test_host_bits_in_lan_are_rejected():
    msg = errors_of(mutate(lans__edge="10.0.1.5/24"))
    assert "lans.edge" in msg


def test_address_clash():
    msg = errors_of(mutate(nodes__be1__interfaces={"control": "10.2.0.11"}))
    assert "nodes.etcd1.interfaces.control" in msg or "nodes.be1.interfaces.control" in msg
    assert "clashes with" in msg


def test_vip_clash_with_node_address():
    msg = errors_of(mutate(nodes__client1__interfaces={"client": "192.168.1.100"}))
    assert "dns.vip: 192.168.1.100 clashes with nodes.client1.interfaces.client" in msg


def test_address_outside_lan():
    msg = errors_of(mutate(nodes__be1__interfaces={"control": "10.9.0.1"}))
    assert "nodes.be1.interfaces.control: 10.9.0.1 is not a host address of 10.2.0.0/24" in msg


def test_interface_on_missing_lan():
    msg = errors_of(mutate(nodes__be1__interfaces={"backend": "10.1.0.11"}))
    assert "nodes.be1.interfaces.backend: no such LAN" in msg


def test_link_to_missing_node():
    data = yaml.safe_load(SMALL)
    data["links"] = [{"ends": {"r1": "10.255.0.0/31", "r9": "10.255.0.1/31"}}]
    msg = errors_of(yaml.safe_dump(data))
    assert "links[0].ends.r9: no such node" in msg


def test_missing_required_daemon_option():
    msg = errors_of(mutate(nodes__r1__asn=None))
    assert "nodes.r1.asn: missing required option for role router (anycast needs BGP)" in msg
    msg = errors_of(mutate(nodes__lb1__asn=None))
    assert "nodes.lb1.asn: missing required option for role lb" in msg
    msg = errors_of(mutate(nodes__dns1__vrrp_priority=None))
    assert "nodes.dns1.vrrp_priority: missing required option for role dns" in msg


def test_unknown_field_is_named():
    msg = errors_of(mutate(nodes__lb1__colour="red"))
    assert "nodes.lb1.colour: unknown field" in msg


def test_bad_node_name():
    data = yaml.safe_load(SMALL)
    data["nodes"]["Web_Server"] = data["nodes"].pop("be1")
    msg = errors_of(yaml.safe_dump(data))
    assert "nodes.Web_Server: node names are" in msg


def test_gateway_not_on_node_lans():
    msg = errors_of(mutate(nodes__client1__gateway="10.0.1.254"))
    assert "nodes.client1.gateway" in msg


def test_invalid_initial_lb_config_names_field():
    data = yaml.safe_load(SMALL)
    data["lb_config"] = {"algorithm": "fastest"}
    msg = errors_of(yaml.safe_dump(data))
    assert "lb_config" in msg and "algorithm" in msg


def test_missing_file_lists_known_topologies(tmp_path):
    with pytest.raises(TopologyError) as err:
        load_topology(str(tmp_path / "nope.yaml"))
    assert "no such topology file" in str(err.value) and "reference" in str(err.value)


def test_all_problems_reported_together():
    data = yaml.safe_load(SMALL)
    data["nodes"]["be1"]["interfaces"] = {"control": "10.2.0.11"}
    data["nodes"]["client1"]["gateway"] = "10.0.1.254"
    msg = errors_of(yaml.safe_dump(data))
    assert len(msg.splitlines()) >= 2
