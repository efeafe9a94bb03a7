"""One home per concept: node kinds, faults and checks each come from one registry, and every
list of them (CLI help, scenario schema, heal, topology validation, status, Prometheus jobs) is
derived from it. A throw-away kind registered in a test works end to end without touching any
other module."""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from lblab import faults
from lblab.cli import build_parser
from lblab.daemons.base import Daemon, NodeContext
from lblab.faults.base import FAULTS
from lblab.kinds import NodeKind, kind_of, kinds, registered, roles
from lblab.lab.templates import render
from lblab.topology.load import TopologyError, parse_topology
from lblab.topology.model import NodeOptions
from scenarios.checks import CHECKS
from scenarios.spec import parse_scenario
from scenarios.spec.model import Check, FaultStep

REFERENCE = Path(__file__).resolve().parents[2] / "topo" / "reference.yaml"


def union_tags(annotation, field: str) -> set[str]:
    union = typing.get_args(annotation)[0]
    return {member.model_fields[field].default for member in typing.get_args(union)}


def test_cli_help_scenario_schema_and_heal_list_the_same_faults():
    parser = build_parser()
    fault_parser = parser._subparsers._group_actions[0].choices["fault"]
    cli_actions = set(fault_parser._positionals._group_actions[0].choices)
    help_text = fault_parser.format_help()
    assert cli_actions == set(FAULTS)
    for action, _params, summary in faults.help_lines():
        assert f"  {action} " in help_text and summary[:40] in " ".join(help_text.split())
    assert union_tags(FaultStep, "action") == set(FAULTS)
    # heal undoes a recorded fault through the same class (every fault is either recorded with
    # an undo, or clears records of others)
    for action, cls in FAULTS.items():
        assert cls.summary(), f"fault {action} has no one-line help"


def test_scenario_schema_lists_every_registered_check():
    assert union_tags(Check, "kind") == set(CHECKS)
    for kind, cls in CHECKS.items():
        assert cls.summary(), f"check {kind} has no docstring"


def test_every_role_of_the_reference_lab_is_a_registered_kind():
    text = REFERENCE.read_text()
    topo = parse_topology(text, str(REFERENCE))
    assert {spec.role for spec in topo.nodes.values()} <= set(roles())
    assert [k.role for k in kinds()] == list(roles())


# ------------------------------------------------------------------------- a throw-away kind

class Widget(Daemon):
    kind = "widget"

    def render(self):
        return {self.path(".conf"): render("redis.conf.j2", lab=self.ctx.lab, node=self.ctx.node,
                                           address=self.ctx.control_address, port=self.ctx.spec.port)}

    def argv(self):
        return ["widget", "--config", str(self.path(".conf"))]

    def metrics_endpoint(self):
        return self.ctx.control_address, self.ctx.spec.port, "/metrics"


class WidgetOptions(NodeOptions):
    role: Literal["widget"]
    port: int = Field(7000, ge=1, le=65535)


class WidgetKind(NodeKind):
    role = "widget"
    options = WidgetOptions
    summary = "a throw-away kind for this test"
    sysctls = {"net.ipv4.ip_forward": 1}

    def daemons(self, ctx):
        return [Widget(ctx)]


WIDGET_NODE = "  widget1: {role: widget, port: 7070, interfaces: {control: 10.2.0.77}}\n"


def test_a_new_kind_is_one_module_registered_and_rendered(tmp_path):
    with registered(WidgetKind):
        topo = parse_topology(REFERENCE.read_text() + WIDGET_NODE, "topo/with-widget.yaml")
        ctx = NodeContext("w", topo, "widget1", "w-widget1", tmp_path / "widget1")
        kind = kind_of("widget")
        (daemon,) = kind.daemons(ctx)
        (text,) = daemon.render().values()
        assert "bind 10.2.0.77 127.0.0.1" in text and "port 7070" in text
        assert kind.node_sysctls(topo.nodes["widget1"])["net.ipv4.ip_forward"] == 1
        assert kind.fault_targets(ctx) == ["widget"]
        # Prometheus scrapes it without knowing what it is
        prometheus = next(iter(kind_of("prometheus").daemons(ctx.peer("prometheus"))))
        jobs = {job["name"]: job for job in prometheus.scrape_jobs()}
        assert jobs["widget"]["targets"] == [{"node": "widget1", "address": "10.2.0.77:7070"}]
        # its options are validated like any kind's
        with pytest.raises(TopologyError, match=r"nodes.widget1.port: Input should be less than"):
            parse_topology(REFERENCE.read_text() + WIDGET_NODE.replace("7070", "70000"), "topo/w.yaml")
        # a scenario may target its daemon
        parse_scenario({"name": "w", "topology": "reference", "duration": "5s",
                        "traffic": [{"kind": "http", "clients": ["client1"], "url": "http://x/", "rate": 1}],
                        "faults": [{"at": "1s", "action": "kill", "node": "widget1", "daemon": "widget"}],
                        "checks": [{"failed_requests": {"max": 0}}]})
    with pytest.raises(TopologyError, match="unknown role 'widget'"):
        parse_topology(REFERENCE.read_text() + WIDGET_NODE, "topo/with-widget.yaml")


def test_the_scenario_readme_tables_are_the_registries():
    from scenarios.reference import readme_section, section

    readme = (REFERENCE.parents[1] / "scenarios" / "README.md").read_text()
    assert readme_section(readme) == section(), \
        "scenarios/README.md is out of date: paste the output of `python -m scenarios reference`"
