"""The lab tool runs as root: a careless or hostile lab name, topology or fault parameter gets a
clear error naming the file, node and field, before anything touches the filesystem."""
from __future__ import annotations

import pytest
import yaml

from lblab.cli.fault import parse_params
from lblab.faults import FaultError, parse_fault
from lblab.lab import ledger as ledger_mod
from lblab.lab.ledger import LabNameError, Ledger, check_lab_name, lab_dir
from lblab.topology.load import TopologyError, load_topology, parse_topology

from tests.unit.test_topology_spec import SMALL, errors_of, mutate


@pytest.mark.parametrize("name", ["../../etc", "/etc", "a/b", "..", ".", "", "Lab", "lab name", "x" * 17,
                                  "-lab", "lab\n", "lab\x00", "é", None, 5])
def test_lab_names_that_could_leave_the_run_directory_are_refused(name, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "RUN_ROOT", tmp_path)
    with pytest.raises(LabNameError):
        check_lab_name(name)
    with pytest.raises(LabNameError):
        Ledger(name)
    with pytest.raises(LabNameError):
        lab_dir(name)
    assert list(tmp_path.iterdir()) == []


def test_good_lab_names(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "RUN_ROOT", tmp_path)
    for name in ("reference", "e2eref", "lab-2", "a"):
        assert lab_dir(name) == tmp_path / name


def test_known_labs_ignore_directories_that_are_not_lab_names(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "RUN_ROOT", tmp_path)
    for name in ("good", "Bad Name", "..x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "good")
    assert ledger_mod.known_labs() == ["good"]


# ------------------------------------------------------------------------------ topologies

def with_lans(**lans):
    data = yaml.safe_load(SMALL)
    data["lans"].update(lans)
    return yaml.safe_dump(data)


@pytest.mark.parametrize("text, expected", [
    # two LAN names that would become one bridge name after truncation
    (with_lans(verylongname1="10.8.0.0/24", verylongname2="10.9.0.0/24"),
     "lans.verylongname1: LAN names are 1-9 lowercase letters/digits"),
    (mutate(nodes__lb1__admin_port=80), "nodes.lb1.admin_port: 80 is also the data-plane port"),
    (mutate(nodes__lb1__asn=65000), "nodes.lb1.asn: 65000 is also the ASN of router r1"),
    (mutate(bgp={"hold_s": 3, "keepalive_s": 3}), "bgp.keepalive_s: 3 must be below hold_s (3)"),
    (mutate(bfd={"interval_ms": 10}), "bfd.interval_ms: Input should be greater than or equal to 50"),
    (mutate(nodes__client1__gateway="192.168.1.11"), "nodes.client1.gateway: 192.168.1.11 is this node's own address"),
    (mutate(service={"anycast_vip": "10.0.1.0"}), "service.anycast_vip: 10.0.1.0 is inside LAN edge"),
    (mutate(service={"anycast_vip": "127.0.0.1"}), "service.anycast_vip: 127.0.0.1 is a loopback address"),
    (mutate(service={"anycast_vip": "224.0.0.5"}), "service.anycast_vip: 224.0.0.5 is a multicast address"),
    (mutate(service={"anycast_vip": "0.0.0.0"}), "service.anycast_vip: 0.0.0.0 is not a host address"),
    (mutate(dns={"vip": "192.168.1.0"}), "dns.vip: 192.168.1.0 is the network or broadcast address of LAN client"),
    (mutate(dns={"vip": "192.168.1.255"}), "dns.vip: 192.168.1.255 is the network or broadcast address"),
    (mutate(bgp={"password": 'x";\ninclude "/etc/shadow'}), "bgp.password: String should match pattern"),
    (mutate(bgp={"password": "has space"}), "bgp.password: String should match pattern"),
    (mutate(service={"name": "lb.payment.example\n", "zone": "payment.example"}), "service.name: "),
    (mutate(name="../etc"), "name: String should match pattern"),
])
def test_topologies_that_pass_the_schema_but_cannot_work_are_refused(text, expected):
    assert expected in errors_of(text)


def test_a_huge_binary_or_deep_file_is_refused_with_a_clear_error(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "# padding\n" * 200_000)
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    bomb = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\n")
    for path, fragment in ((big, "too large"), (deep, "nested too deeply"), (binary, "binary data"),
                           (bomb, "too many values"), (tmp_path, "no such topology file")):
        with pytest.raises(TopologyError) as err:
            load_topology(str(path))
        message = str(err.value)
        assert fragment in message and message.startswith(str(path)), message


def test_not_a_mapping_and_bad_node_entries():
    assert "a topology must be a YAML mapping" in errors_of("- a\n- b\n")
    data = yaml.safe_load(SMALL)
    data["nodes"]["be1"] = "backend"
    data["nodes"][7] = {"role": "backend"}
    text = errors_of(yaml.safe_dump(data))
    assert "nodes.be1: must be a mapping with a role" in text and "nodes.7: node names are" in text


# --------------------------------------------------------------------------- fault params

@pytest.mark.parametrize("action, params, expected", [
    ("loss", {"node": "client1", "percent": 150}, "percent: Input should be less than or equal to 100"),
    ("loss", {"node": "client1", "percent": "lots"}, "percent: Input should be a valid number"),
    ("loss", {"node": "client1"}, "percent: required field missing"),
    ("kill", {"node": "lb1"}, "daemon: required field missing"),
    ("kill", {"node": "lb1", "daemon": "rm -rf /"}, "daemon: unknown daemon 'rm -rf /'"),
    ("kill", {"node": "../lb1", "daemon": "bird"}, "node: String should match pattern"),
    ("kill", {"node": "lb1", "daemon": "bird", "signal": 9}, "signal: unknown field"),
    ("partition", {"groups": [["a"], ["a"]]}, "more than one group"),
    ("delay", {"node": "client1", "delay": 0.05}, "delay: a duration needs a unit"),
    ("announce", {"node": "lb1", "prefix": "10.0.0.1/24"}, "host bits set"),
    ("config", {"lb_id": "../x", "set": {"a": 1}}, "lb_id: String should match pattern"),
    ("config", {"lb_id": "payment"}, "give exactly one of set, algorithm, weights, add_backend, "
                                     "remove_backend (got none)"),
    ("config", {"lb_id": "payment", "set": {"a": 1}, "algorithm": "maglev"},
     "(got set, algorithm)"),
    ("config", {"lb_id": "payment", "set": {}}, "set: Dictionary should have at least 1 item"),
    ("config", {"lb_id": "payment", "remove_backend": "x" * 300}, "remove_backend: String should have at most"),
    ("config", {"lb_id": "payment", "weights": [1, 2]}, "weights: Input should be a valid dictionary"),
    ("explode", {}, "unknown fault 'explode'"),
])
def test_fault_parameters_are_validated_like_scenario_faults(action, params, expected):
    with pytest.raises(FaultError, match=None) as err:
        parse_fault(action, params)
    assert expected in str(err.value)


def test_cli_fault_parameters():
    assert parse_params(["node=lb2", "percent=5", "groups=[[a],[b, c]]", "set={algorithm: maglev}"]) == {
        "node": "lb2", "percent": 5, "groups": [["a"], ["b", "c"]], "set": {"algorithm": "maglev"}}
    for bad, fragment in ((["node"], "must be key=value"), (["node=a", "node=b"], "given twice"),
                          (["a b=1"], "must be key=value"), (["x=[unclosed"], "YAML syntax error")):
        with pytest.raises(FaultError, match=fragment):
            parse_params(bad)
    # a value is exactly what the user wrote, in the units a scenario uses
    fault = parse_fault("delay", parse_params(["node=client1", "delay=50ms"]))
    assert fault.delay == pytest.approx(0.05)
    assert parse_fault("delay", fault.params(), seconds=True) == fault
