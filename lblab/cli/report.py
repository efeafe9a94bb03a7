"""`lblab report DIR`: rebuild report.html and its figures from a result directory (a scenario's
or a chaos run's) and print the summary."""
from __future__ import annotations

from lblab.cli.common import console


def run(args) -> int:
    from scenarios.cli import report

    return report(args.dir, console)


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="rebuild report.html and its figures from a result directory")
    p.add_argument("dir", metavar="DIR", help="a result directory (results/NAME-TIME/) or a result.json")
    p.set_defaults(func=run)
