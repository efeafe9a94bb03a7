"""`lblab exec NODE -- CMD...`: run a command inside a node's namespace."""
from __future__ import annotations

import argparse
import os

from lblab.cli.common import add_lab_option, attach, require_root


def run(args) -> int:
    from lblab.lab import netns

    require_root()
    command = list(args.command)
    while command[:1] == ["--lab"] and len(command) >= 2:  # `lblab exec NODE --lab L -- CMD`
        args.lab, command = command[1], command[2:]
    command = command[1:] if command[:1] == ["--"] else command
    lab = attach(args)
    if not command:
        raise SystemExit("lblab exec: give a command after --, e.g. lblab exec client1 -- ip route")
    os.execvp("ip", netns.exec_argv(lab.ns(args.node), command))


def add_parser(sub) -> None:
    p = sub.add_parser("exec", help="run a command inside a node: lblab exec NODE -- CMD...")
    p.add_argument("node")
    add_lab_option(p)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)
