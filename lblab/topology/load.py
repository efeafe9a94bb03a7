"""Loading a topology file: either a validated Topology or a TopologyError whose message names
the file, the node and the field of every problem found (all of them, not just the first)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lbapp.documents import DocumentError, parse_yaml, read_text, validation_problems
from lblab.kinds import kind_of, roles
from lblab.paths import TOPO_DIR
from lblab.topology.checks import semantic_problems
from lblab.topology.model import NODE_NAME, Topology


class TopologyError(DocumentError):
    """Invalid topology; str() lists every problem as 'file: where: what'."""


def resolve_topology_path(name_or_path: str) -> Path:
    """A shipped topology's name (topo/NAME.yaml), or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return path
    return TOPO_DIR / f"{name_or_path}.yaml"


def available_topologies() -> list[str]:
    return sorted(p.stem for p in TOPO_DIR.glob("*.yaml"))


def load_topology(name_or_path: str) -> Topology:
    path = resolve_topology_path(name_or_path)
    source = str(path)
    if not path.is_file():
        known = ", ".join(available_topologies())
        raise TopologyError(source, [f"no such topology file (known topologies: {known})"])
    try:
        return parse_topology(read_text(path, source), source)
    except DocumentError as exc:
        if isinstance(exc, TopologyError):
            raise
        raise TopologyError(exc.source, exc.problems) from None


def parse_topology(document: str | dict, source: str) -> Topology:
    """Validate a topology (YAML text or already-parsed data); nothing is built from it here."""
    try:
        data = parse_yaml(document, source) if isinstance(document, str) else document
    except DocumentError as exc:
        raise TopologyError(source, exc.problems) from None
    if not isinstance(data, dict):
        raise TopologyError(source, ["a topology must be a YAML mapping"])
    problems: list[tuple[str, str]] = []
    nodes: dict[str, Any] = {}
    raw_nodes = data.get("nodes")
    if isinstance(raw_nodes, dict):
        for name, raw in raw_nodes.items():
            where = f"nodes.{name}"
            if not isinstance(name, str) or not NODE_NAME.match(name):
                problems.append((where, "node names are 1-12 lowercase letters/digits, starting with a letter"))
                continue
            if not isinstance(raw, dict):
                problems.append((where, "must be a mapping with a role"))
                continue
            role = raw.get("role")
            if role is None:
                problems.append((f"{where}.role", f"missing (one of {', '.join(roles())})"))
                continue
            if not isinstance(role, str) or role not in roles():
                problems.append((f"{where}.role", f"unknown role {role!r} (expected one of {', '.join(roles())})"))
                continue
            try:
                nodes[name] = kind_of(role).options.model_validate(raw)
            except ValidationError as exc:
                problems += validation_problems(exc, prefix=("nodes", name))
    node_problems = bool(problems)
    try:
        topo = Topology.model_validate({**data, "nodes": nodes if isinstance(raw_nodes, dict) else raw_nodes})
    except ValidationError as exc:
        # with bad nodes left out, "nodes" may look empty: that is not the user's problem
        problems += [p for p in validation_problems(exc)
                     if not (node_problems and p[0].split(".")[0].split("[")[0] == "nodes")]
        raise TopologyError(source, problems) from None
    if problems:
        raise TopologyError(source, problems)
    problems = semantic_problems(topo)
    if problems:
        raise TopologyError(source, problems)
    return topo
