"""The `lblab` command: one module per sub-command, each with ``add_parser(sub)``; the parser
and its help are built from ``COMMANDS``."""
from __future__ import annotations

import argparse
import sys

from lblab.cli import chaos, check, console, demo, down, exec_node, fault, gen, heal, labs, report, scenario, shell, status, up
from lblab.cli.common import err_console

COMMANDS = (up, down, status, exec_node, shell, fault, heal, console, scenario, chaos, report, demo, labs, check, gen)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lblab", description="Network-emulation lab for a highly available load balancer.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from lbapp.documents import DocumentError
    from lblab.lab.errors import LabError
    from lblab.lab.network import NetworkError

    return (DocumentError, LabError, NetworkError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except _user_errors() as exc:
        err_console.print(f"lblab: {exc}", style="red", soft_wrap=True, markup=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
