"""Nothing reaches a daemon config unchecked: every template of the lab, rendered with its real
context but one string value replaced by a hostile one, refuses to render (the value would
have ended a directive and started another, as a BGP password with '"' once included a file)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from lblab.daemons.base import NodeContext
from lblab.kinds import kind_of
from lblab.lab import templates
from lblab.lab.templates import TemplateValueError, quoted, render
from lblab.topology.load import load_topology

from benchmarks import targets

HOSTILE = ['x"\ninclude "/etc/shadow";', "a b", "a;b", "x}\nprotocol static evil {", "#", "a\\b", "line\nbreak",
           "evil\r", "tab\there"]


def recorded_contexts(tmp_path: Path) -> list[tuple[str, dict]]:
    """(template, context) of every config the reference lab and the benchmark render."""
    seen: list[tuple[str, dict]] = []
    real = templates._env.get_template

    class Recorder:
        def __init__(self, name):
            self.name, self.template = name, real(name)

        def render(self, **context):
            seen.append((self.name, context))
            return self.template.render(**context)

    templates._env.get_template = Recorder
    try:
        topo = load_topology("reference")
        for node, spec in topo.nodes.items():
            ctx = NodeContext("ref", topo, node, f"ref-{node}", tmp_path / node)
            for daemon in kind_of(spec.role).daemons(ctx):
                daemon.render()
        ctx = NodeContext("ref", topo, "lb1", "ref-lb1", tmp_path / "lb1")
        backends = [targets.BackendAddr("be1", "10.1.0.11", 8081)]
        for daemon in (targets.haproxy(ctx, "10.0.1.1", backends, "1"),
                       targets.nginx_proxy(ctx, "10.0.1.1", backends, "1"), targets.direct(ctx, "10.0.1.1", "1")):
            daemon.render()
        from lblab.lab import flow_affinity
        render("router-affinity.nft.j2", lab="ref", node="r1", vip="10.0.0.100",
               lbs=flow_affinity.targets(topo, "r1"), table_base=100)
    finally:
        templates._env.get_template = real
    return seen


def plain(value):
    if isinstance(value, BaseModel):
        return {k: plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def string_leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from string_leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from string_leaves(v, path + (i,))
    elif isinstance(value, str):
        yield path


def leaves(doc):
    if isinstance(doc, dict):
        for value in doc.values():
            yield from leaves(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from leaves(value)
    else:
        yield doc


def replaced(context: dict, path: tuple, new: str) -> dict:
    out = copy.deepcopy(context)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def test_every_template_and_every_string_value_is_checked(tmp_path):
    contexts = recorded_contexts(tmp_path)
    rendered_templates = {name for name, _ in contexts}
    shipped = {p.name for p in templates.TEMPLATE_DIR.glob("*.j2")}
    assert rendered_templates == shipped, f"templates not covered: {shipped - rendered_templates}"
    checked = 0
    for name, context in contexts:
        context = plain(context)
        for path in string_leaves(context):
            if "zzmarkerzz" not in render(name, **replaced(context, path, "zzmarkerzz")):
                continue   # a value this template does not print
            for hostile in HOSTILE:
                try:
                    text = render(name, **replaced(context, path, hostile))
                except TemplateValueError:
                    checked += 1
                    continue
                if name.endswith(".yaml.j2") and json.dumps(hostile) in text:    # yaml_string
                    assert hostile in set(leaves(yaml.safe_load(text))), (name, path, hostile)
                    checked += 1
                    continue
                # only a quoted string may hold a space, ';', '#' or a brace; never a quote,
                # backslash or line break
                assert not set(hostile) & set('"\\\n\r\t'), (name, path, hostile)
                assert f'"{hostile}"' in text, (name, path, hostile)
                checked += 1
    assert checked > 500


def test_quoted_strings_hold_what_their_language_can():
    assert quoted("lb-md5!#$%&()*+,./:;<=>?@[]^_{|}~") == '"lb-md5!#$%&()*+,./:;<=>?@[]^_{|}~"'
    for bad in ('a"b', "a\\b", "a\nb", "a\x00b"):
        with pytest.raises(TemplateValueError):
            quoted(bad)
