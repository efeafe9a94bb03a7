"""The LB server's modules import each other one way only (issue #7): no import circle, also
counting imports made for type checking only, and no module takes another's private names."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lbapp" / "lbserver"
PREFIX = "lbapp.lbserver."


def imports() -> dict[str, set[str]]:
    """module -> modules of the package it imports (anywhere in it, TYPE_CHECKING included)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        uses = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
                uses.add(node.module.removeprefix(PREFIX))
            elif isinstance(node, ast.Import):
                uses.update(a.name.removeprefix(PREFIX) for a in node.names
                            if a.name.startswith(PREFIX))
        graph[path.stem] = uses
    return graph


def test_no_import_circles_in_lbserver():
    graph = imports()
    circles = []

    def visit(module: str, path: list[str]) -> None:
        for used in sorted(graph.get(module, ())):
            if used in path:
                circles.append(path[path.index(used):] + [used])
            else:
                visit(used, path + [used])

    for module in sorted(graph):
        visit(module, [module])
    assert not circles, circles


def test_no_private_names_imported_across_modules():
    taken = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
                taken += [f"{path.stem}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_")]
    assert not taken, taken
