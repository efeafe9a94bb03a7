"""`lblab down`: stop and remove exactly what a lab created (from its ledger)."""
from __future__ import annotations

from lblab.cli.common import add_lab_option, console, lab_name, require_root


def run(args) -> int:
    from lblab.lab.teardown import teardown

    require_root()
    teardown(lab_name(args), keep_logs=args.keep_logs, progress=console.print)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("down", help="stop and remove exactly what a lab created")
    add_lab_option(p)
    p.add_argument("--keep-logs", action="store_true", help="keep the lab's configs and logs in /run/lblab/LAB")
    p.set_defaults(func=run)
