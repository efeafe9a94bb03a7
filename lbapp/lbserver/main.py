"""Command line of the LB server: ``python -m lbapp.lbserver --settings FILE``."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging

import uvloop

from lbapp.lbserver.server import LBServer
from lbapp.daemon import load_or_exit_code, logging_or_exit_code
from lbapp.lbserver.settings import load_settings


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
    settings = load_or_exit_code(args.settings, args.check, load_settings)
    if isinstance(settings, int):
        return settings
    if args.worker is not None:
        from lbapp.lbserver.workers import die_with_parent

        die_with_parent(args.parent_pid)
    name = settings.name if args.worker is None else f"{settings.name}/w{args.worker}"
    failed = logging_or_exit_code(args.settings, settings.log_level, settings.log_file, name)
    if failed is not None:
        return failed
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
