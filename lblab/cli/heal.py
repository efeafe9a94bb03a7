"""`lblab heal`: undo every active fault and wait until the lab has converged."""
from __future__ import annotations

from lblab.cli.common import add_lab_option, attach, console, require_root


def run(args) -> int:
    require_root()
    lab = attach(args)
    for line in lab.heal_all():
        console.print(f"healed: {line}", markup=False)
    elapsed = lab.wait_converged(timeout=args.timeout)
    console.print(f"[green]lab {lab.name} converged[/] {elapsed:.1f}s after heal")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("heal", help="undo every active fault and wait until the lab has converged")
    add_lab_option(p)
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=run)
