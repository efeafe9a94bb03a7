"""The orchestrator cluster and the LB node agents in the lab, without a lab: topology options and
their refusals, the settings the lab renders (read back by lbapp's own loaders), fault
parameters, how the lab finds an agent's children, and the etcd view of status."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from lbapp.agent.settings import load_settings as load_agent_settings
from lbapp.etcd import KeyValue
from lbapp.orchestrator.settings import load_settings as load_orch_settings
from lbapp.orchestrator.values import AgentInfo, Shard
from lblab.daemons.agent import Agent
from lblab.daemons.base import NodeContext
from lblab.faults import FaultError, parse_fault
from lblab.kinds import kind_of
from lblab.lab import procs
from lblab.lab.orchview import OrchView, _parsed
from lblab.topology.load import load_topology

from tests.unit.test_topology_spec import SMALL, errors_of, parse

REFERENCE = load_topology("reference")


def daemon(node: str, name: str, tmp_path, topo=REFERENCE):
    ctx = NodeContext("ref", topo, node, f"ref-{node}", tmp_path / "nodes" / node)
    return next(d for d in kind_of(topo.nodes[node].role).daemons(ctx) if d.name == name)


def written(found, tmp_path):
    for path, text in found.render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# ------------------------------------------------------------------------------ rendering

def test_orchestrator_settings_are_what_lbapp_loads(tmp_path):
    orch = daemon("orch2", "orchestrator", tmp_path)
    written(orch, tmp_path)
    settings = load_orch_settings(orch.settings_path)
    assert settings.name == "orch2" and settings.lease_ttl_s == 1
    assert settings.metrics_listen == "10.2.0.42:9300"
    assert settings.etcd_endpoints == [f"http://10.2.0.1{i}:2379" for i in (1, 2, 3)]
    hc = settings.health_check
    assert (hc.interval_ms, hc.timeout_ms, hc.rise, hc.fall) == (200, 150, 2, 2)
    assert settings.history_file == str(orch.history_path)
    scale = settings.autoscale
    assert scale.lb_id == "payment" and scale.prometheus_url == "http://10.2.0.30:9090"
    # the floor is the topology's active LBs, the ceiling all of them
    assert (scale.policy.min_active, scale.policy.max_active) == (3, 4)
    # Prometheus' jobs are named after the daemons, with a node label: the settings' defaults
    assert scale.selector == 'job="lbserver"' and scale.node_label == "node"
    assert orch.metrics_endpoint() == ("10.2.0.42", 9300, "/metrics")


def test_agent_settings_run_the_lb_server_and_announcer(tmp_path):
    for node, initial in (("lb1", "active"), ("lb4", "standby")):
        agent = daemon(node, "agent", tmp_path)
        written(agent, tmp_path)
        settings = load_agent_settings(agent.settings_path)
        assert settings.initial_state == initial and settings.lb_id == "payment"
        lbserver, announcer = settings.children
        assert (lbserver.name, announcer.name) == ("lbserver", "announcer")
        assert lbserver.ready_url == "http://127.0.0.1:9100/-/ready"
        assert lbserver.drain_url == "http://127.0.0.1:9100/-/drain"
        assert announcer.drain_url is None and "--bird-socket" in announcer.argv
        assert (tmp_path / "nodes" / node / "lbserver.yaml").is_file()    # rendered with the agent
        # every argument survives as a string (numbers included)
        assert all(isinstance(arg, str) for child in settings.children for arg in child.argv)
        assert "--rise" in announcer.argv and "2" in announcer.argv


@pytest.mark.parametrize("topology", ["dns", "vip", "ecmp-static", "anycast-2site"])
def test_every_scaling_mode_renders_agent_settings_lbapp_loads(tmp_path, topology):
    """Each mode's LB daemons go through the agent: their argv (a DNS record's JSON included)
    must reach the agent's settings intact."""
    topo = load_topology(topology)
    agent = daemon("lb1", "agent", tmp_path, topo)
    written(agent, tmp_path)
    settings = load_agent_settings(agent.settings_path)
    assert settings.lb_id == topo.lb_id_of("lb1")
    assert [c.argv for c in settings.children] == [c.command() for c in agent.children]
    if topology == "dns":
        assert '{"address":"10.0.1.1","weight":1}' in settings.children[1].argv


def test_the_lb_servers_are_the_agents_and_keep_their_names(tmp_path):
    ctx = NodeContext("ref", REFERENCE, "lb2", "ref-lb2", tmp_path)
    daemons = {d.name: d for d in kind_of("lb").daemons(ctx)}
    assert daemons["lbserver"].supervisor == "agent" and daemons["announcer"].supervisor == "agent"
    assert daemons["agent"].supervisor is None and daemons["bird"].supervisor is None
    assert kind_of("lb").fault_targets(ctx) == ["bird", "lbserver", "announcer", "agent", "reporter"]


def test_backends_take_knobs_on_the_control_lan_only(tmp_path):
    backend = daemon("be3", "backend", tmp_path)
    argv = backend.argv()
    assert argv[argv.index("--control-listen") + 1] == "10.2.0.113:9180"
    assert argv[argv.index("--listen") + 1] == "0.0.0.0:8080"


# ------------------------------------------------------------------------------ topology

def with_control_plane(**orch_options) -> str:
    data = yaml.safe_load(SMALL)
    data["nodes"]["prometheus"] = {"role": "prometheus", "interfaces": {"control": "10.2.0.30"}}
    for i in (1, 2):
        data["nodes"][f"orch{i}"] = {"role": "orchestrator", "interfaces": {"control": f"10.2.0.4{i}"}}
    data["nodes"]["orch2"].update(orch_options)
    return yaml.safe_dump(data)


def test_a_control_plane_topology_loads():
    topo = parse(with_control_plane())
    assert topo.nodes["orch1"].autoscale.scale_policy(topo).min_active == 1
    # partial check settings are over the lab's fast ones, not lbapp's defaults
    both = {"health_check": {"interval_ms": 500}}
    data = yaml.safe_load(with_control_plane(**both))
    data["nodes"]["orch1"].update(both)
    hc = parse(yaml.safe_dump(data)).nodes["orch1"].health_check
    assert (hc.interval_ms, hc.timeout_ms, hc.rise, hc.fall) == (500, 150, 2, 2)


@pytest.mark.parametrize("options, expected", [
    ({"lease_ttl_s": 2}, "nodes.orch2.lease_ttl_s: differs from orch1's"),
    ({"health_check": {"timeout_ms": 300}}, "nodes.orch2.health_check: timeout_ms must not exceed interval_ms"),
    ({"health_check": {"rise": 0}}, "nodes.orch2.health_check.rise: Input should be greater than or equal to 1"),
    ({"health_check": {"interval_ms": 500}}, "nodes.orch2.health_check: differs from orch1's"),
    ({"autoscale": {"policy": {"scale_down_rps": 500}}},
     "nodes.orch2.autoscale.policy: scale_down_rps must be below scale_up_rps"),
    ({"autoscale": {"policy": {"min_active": 0}}},
     "nodes.orch2.autoscale.policy.min_active: Input should be greater than or equal to 1"),
    ({"autoscale": {"policy": {"explode": 1}}}, "nodes.orch2.autoscale.policy.explode: unknown field"),
    ({"autoscale": {"interval_s": 0}}, "nodes.orch2.autoscale.interval_s: Input should be greater"),
    ({"metrics_port": 0}, "nodes.orch2.metrics_port: Input should be greater than or equal to 1"),
    ({"lease_ttl_s": "1; rm -rf /"}, "nodes.orch2.lease_ttl_s: Input should be a valid integer"),
])
def test_orchestrator_options_that_cannot_work_are_refused(options, expected):
    assert expected in errors_of(with_control_plane(**options))


def test_scaling_needs_prometheus_and_backends_keep_knobs_off_the_data_plane():
    data = yaml.safe_load(with_control_plane())
    del data["nodes"]["prometheus"]
    assert "nodes.orch1.autoscale: scaling needs a prometheus node" in errors_of(yaml.safe_dump(data))
    data["nodes"]["orch1"]["autoscale"] = data["nodes"]["orch2"]["autoscale"] = None
    assert parse(yaml.safe_dump(data)).nodes["orch1"].autoscale is None
    data["nodes"]["be1"]["control_port"] = 8080
    assert "nodes.be1.control_port: 8080 is also the data-plane port" in errors_of(yaml.safe_dump(data))


def test_a_member_on_no_lan_of_a_backend_is_refused():
    """Its health checks would find every such backend unreachable and take it out of rotation."""
    data = yaml.safe_load(with_control_plane())
    data["lans"]["backend"] = "10.1.0.0/24"
    data["nodes"]["lb1"]["interfaces"]["backend"] = "10.1.0.1"
    data["nodes"]["be1"]["interfaces"] = {"backend": "10.1.0.11"}
    data["nodes"]["orch1"]["interfaces"]["backend"] = "10.1.0.41"
    errors = errors_of(yaml.safe_dump(data))
    assert "nodes.orch2.interfaces: on no LAN of backend(s) be1 (" in errors and "could not reach them" in errors
    assert "nodes.orch1.interfaces" not in errors


# ------------------------------------------------------------------------------ fault parameters

@pytest.mark.parametrize("action, params, expected", [
    ("backend_health", {"node": "be1", "status": 700}, "status: Input should be less than or equal to 599"),
    ("backend_health", {"node": "be1", "every": -1}, "every: Input should be greater than or equal to 0"),
    ("backend_health", {"node": "be1; reboot"}, "node: String should match pattern"),
    ("backend_latency", {"node": "be1", "latency": 0.2}, "latency: a duration needs a unit"),
    ("backend_latency", {"node": "be1", "latency": "2h"}, "latency: Input should be less than or equal to 3600"),
    ("backend_latency", {"node": "be1", "latency": "1s", "scope": "disk"}, "scope: Input should be 'serve'"),
    ("backend_errors", {"node": "be1"}, "give ratio or every (or both)"),
    ("backend_errors", {"node": "be1", "ratio": 1.5}, "ratio: Input should be less than or equal to 1"),
    ("backend_hang", {"node": "be1", "forever": True}, "forever: unknown field"),
    ("orchestrator", {"fault": "explode"}, "fault: Input should be 'kill', 'stop' or 'isolate'"),
    ("orchestrator", {"fault": "kill", "member": "orch1"}, "member: Input should be 'leader' or 'follower'"),
    ("orchestrator", {"member": "leader"}, "fault: required field missing"),
    ("orchestrator_resume", {"node": "orch1"}, "node: unknown field"),
])
def test_new_fault_parameters_are_refused_before_the_lab_is_touched(action, params, expected):
    with pytest.raises(FaultError) as err:
        parse_fault(action, params)
    assert expected in str(err.value)


def test_backend_faults_are_partial_knobs_documents():
    def update(action, **params):
        return parse_fault(action, {"node": "be1", **params}).update()
    assert update("backend_health") == {"health": {"status": 503}}
    assert update("backend_health", every=2) == {"health": {"fail_every": 2, "fail_status": 503}}
    assert update("backend_latency", latency="250ms", scope="all") == {
        "serve": {"latency_ms": 250}, "health": {"latency_ms": 250}}
    assert update("backend_errors", ratio=0.1) == {"serve": {"fail_ratio": 0.1, "fail_every": 0, "fail_status": 500}}
    assert update("backend_hang", scope="health") == {"health": {"hang": True}}


# ------------------------------------------------------------------------------ the agent's children

def test_a_child_is_found_only_if_it_is_the_agents(tmp_path):
    agent = Agent(NodeContext("ref", REFERENCE, "lb1", "ref-lb1", tmp_path), children=[])
    me = procs.identify(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        agent.state_path.write_text(json.dumps({"phase": "active", "desired": "active", "drained": False,
                                                "children": {"lbserver": child.pid, "announcer": 1,
                                                             "bogus": "7", "flag": True}}))
        found = agent.child_process("lbserver", me)
        assert found is not None and found.pid == child.pid and procs.alive(found)
        assert agent.child_process("announcer", me) is None      # PID 1 is not the agent's child
        assert agent.child_process("bogus", me) is None and agent.child_process("flag", me) is None
        assert agent.child_process("lbserver", procs.ProcessId(1, 0)) is None
        assert not agent.holds_stopped()
        for state in ({"desired": "standby"}, {"desired": "active", "drained": True}):
            agent.state_path.write_text(json.dumps(state))
            assert agent.holds_stopped()
        for junk in ("", "[1, 2]", "{not json", "\x00" * 10):
            agent.state_path.write_text(junk)
            assert agent.state() is None and agent.child_process("lbserver", me) is None
    finally:
        child.kill()
        child.wait()


# ------------------------------------------------------------------------------ status from etcd

def kv(key: str, value) -> KeyValue:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return KeyValue(key=key.encode(), value=raw, create_revision=1, mod_revision=1)


def test_malformed_values_in_etcd_are_shown_as_such():
    prefix = "/lblab/agents/"
    good = {"node": "lb1", "lb_id": "payment", "phase": "active", "desired": "active", "children": {}, "at": 1.0}
    found = _parsed(AgentInfo, [kv(prefix + "lb1", good), kv(prefix + "lb2", b"\xff{"),
                                kv(prefix + "lb3", {**good, "phase": "dancing"}),
                                kv(prefix + "lb4", b"[" * 50_000)], prefix)
    assert isinstance(found["lb1"], AgentInfo)
    assert all(isinstance(found[n], str) and found[n].startswith("malformed: ") for n in ("lb2", "lb3", "lb4"))
    assert all(len(found[n]) < 300 for n in ("lb2", "lb3", "lb4"))


def test_view_assignment_and_followers():
    shard = Shard(term=5, leader="orch1", at=1.0, members=["orch1", "orch2", "orch3"],
                  targets={"payment/be1": {"address": "10.1.0.11", "port": 8080, "path": "/health"}})
    view = OrchView(leader="orch1", term=5, members=["orch1", "orch2", "orch3"],
                    shards={"orch2": shard, "orch3": "malformed: x"})
    assert view.assigned() == {"payment/be1": "orch2"}
    assert view.followers() == ["orch2", "orch3"]
    doc = view.as_dict()
    assert doc["shards"]["orch3"] == "malformed: x" and doc["shards"]["orch2"]["term"] == 5
    json.dumps(doc)


@pytest.mark.parametrize("preload", ["os; import shutil", "../etc/passwd", "lbapp.", "a b", "x\ny"])
def test_a_child_preload_is_a_module_name_or_refused(tmp_path, preload):
    """What the agent's zygote imports ahead comes from its settings: a dotted module name only."""
    agent = daemon("lb1", "agent", tmp_path)
    written(agent, tmp_path)
    doc = yaml.safe_load(agent.settings_path.read_text())
    assert load_agent_settings(agent.settings_path).children[0].preload == "lbapp.lbserver.main"
    doc["children"][0]["preload"] = preload
    agent.settings_path.write_text(yaml.safe_dump(doc))
    with pytest.raises(Exception) as err:
        load_agent_settings(agent.settings_path)
    assert "children.0.preload" in str(err.value) and str(agent.settings_path) in str(err.value)
