"""Command line of the LB server: ``python -m lbapp.lbserver --settings FILE``."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

import uvloop

from lbapp.lbserver.server import LBServer
from lbapp.lbserver.settings import SettingsError, load_settings
from lbapp.logsetup import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lbapp.lbserver",
                                     description="lbapp LB server (HTTP reverse proxy)")
    parser.add_argument("--settings", required=True, metavar="FILE",
                        help="YAML settings file (see lbapp.lbserver.settings)")
    parser.add_argument("--check", action="store_true",
                        help="validate the settings file and exit")
    # Internal: how a supervisor (settings `workers` > 1) starts its workers.
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-admin", help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None and (args.worker_admin is None or args.parent_pid is None):
        parser.error("--worker needs --worker-admin and --parent-pid")
    try:
        settings = load_settings(args.settings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.settings}: ok")
        return 0
    if args.worker is not None:
        from lbapp.lbserver.workers import die_with_parent

        die_with_parent(args.parent_pid)
    name = settings.name if args.worker is None else f"{settings.name}/w{args.worker}"
    try:
        setup_logging(settings.log_level, settings.log_file, name)
    except OSError as exc:
        print(f"{args.settings}: log_file: cannot open {settings.log_file}: {exc.strerror}",
              file=sys.stderr)
        return 2
    if settings.workers > 1 and args.worker is None:
        from lbapp.lbserver.workers import Supervisor

        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(Supervisor(settings, args.settings).run())
        except OSError as exc:  # the admin address in use
            logging.getLogger("lbapp.lbserver").error("cannot start: %s", exc)
            return 1
    # Long-lived start-up objects need not be scanned by every collection.
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(LBServer(settings, worker=args.worker,
                                       admin_socket=args.worker_admin).run())
    except OSError as exc:  # e.g. a listen address in use
        logging.getLogger("lbapp.lbserver").error("cannot start: %s", exc)
        return 1
