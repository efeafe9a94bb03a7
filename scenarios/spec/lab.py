"""A scenario against the lab it is about to run on: every node it names exists (with the role
the field needs), every daemon a fault targets runs there, the topology is the one it needs —
checked before anything is started or applied."""
from __future__ import annotations

from lblab.kinds import roles

from .load import ScenarioError
from .model import Scenario


def check_against_lab(scenario: Scenario, lab, source: str = "scenario") -> None:
    """``lab``: a scenarios.labapi.Lab (node_names, fault_targets, lans, topology)."""
    role_of = {node: role for role in roles() for node in lab.node_names(role)}
    lans = set(lab.lans)
    problems: list[tuple[str, str]] = []
    where_lab = f" in topology {lab.topology!r}"

    def need(path: str, node: str, role: str | None = None, lan_ok: bool = False) -> None:
        if lan_ok and node in lans:
            return
        if node not in role_of:
            problems.append((path, f"unknown node {node!r}{where_lab}"))
        elif role and role_of[node] != role:
            problems.append((path, f"{node!r} is a {role_of[node]} node, not a {role} node"))

    if scenario.topology != lab.topology:
        problems.append(("topology", f"the scenario needs topology {scenario.topology!r}, "
                                     f"the lab runs {lab.topology!r}"))
    for i, t in enumerate(scenario.traffic):
        for j, c in enumerate(t.clients):
            need(f"traffic[{i}].clients[{j}]", c)
    for i, f in enumerate(scenario.faults):
        for field, node, role in f.node_refs():
            need(f"faults[{i}].{field}", node, role, lan_ok=field == "peer")
        daemon = getattr(f, "daemon", None)
        if daemon and f.node in role_of:
            allowed = lab.fault_targets(f.node)
            if daemon not in allowed:
                problems.append((f"faults[{i}].daemon", f"{f.node!r} ({role_of[f.node]}) runs no {daemon!r} "
                                                        f"(it runs: {', '.join(allowed) or 'nothing'})"))
    for i, c in enumerate(scenario.checks):
        for field, node, role in c.node_refs():
            need(f"checks[{i}].{c.kind}.{field}", node, role)
    if problems:
        raise ScenarioError(source, problems)
