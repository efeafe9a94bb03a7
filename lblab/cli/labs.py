"""`lblab labs`: the labs that are running."""
from __future__ import annotations

from lblab.cli.common import console


def run(args) -> int:
    from lblab.lab.ledger import known_labs

    labs = known_labs()
    console.print("\n".join(labs) if labs else "no lab is running")
    return 0


def add_parser(sub) -> None:
    sub.add_parser("labs", help="list running labs").set_defaults(func=run)
