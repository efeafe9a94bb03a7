"""`lblab check NAME|PATH`: validate a topology file without building anything."""
from __future__ import annotations

from rich.markup import escape

from lblab.cli.common import console


def run(args) -> int:
    from lblab.topology.load import load_topology

    topo = load_topology(args.file)
    console.print(f"[green]{escape(args.file)}: valid[/] ({len(topo.nodes)} nodes, {len(topo.lans)} LANs, "
                  f"scaling {topo.scaling})")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="validate a topology file")
    p.add_argument("file", help="topology name in topo/ or a YAML path")
    p.set_defaults(func=run)
