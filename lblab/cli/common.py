"""What every `lblab` command shares: the consoles, the root check, which lab a command means."""
from __future__ import annotations

import os
import sys

from rich.console import Console

# Piped output (CI logs, `| less`) is not wrapped at rich's default 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("lblab: this command needs root (network namespaces, bridges, daemons)")


def lab_name(args) -> str:
    """--lab if given, else the one running lab."""
    from lblab.lab.instance import Lab

    return args.lab or Lab.default_name()


def attach(args):
    from lblab.lab.instance import Lab

    return Lab.attach(lab_name(args))


def add_lab_option(parser, help_text: str = "lab name (default: the one running lab)") -> None:
    parser.add_argument("--lab", help=help_text)
