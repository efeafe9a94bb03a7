"""Command line of the LB node agent: ``python -m lbapp.agent --settings FILE``."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from lbapp.agent.agent import Agent
from lbapp.agent.settings import load_settings
from lbapp.logsetup import setup_logging
from lbapp.settingsfile import SettingsError


async def serve(agent: Agent) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return await agent.run(stopping)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lbapp.agent",
                                     description="lbapp LB node agent")
    parser.add_argument("--settings", required=True, metavar="FILE",
                        help="YAML settings file (see lbapp.agent.settings)")
    parser.add_argument("--check", action="store_true", help="validate the settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.settings)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.settings}: ok")
        return 0
    try:
        setup_logging(settings.log_level, settings.log_file, f"agent:{settings.node}")
    except OSError as exc:
        print(f"{args.settings}: log_file: cannot open {settings.log_file}: {exc.strerror}",
              file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(Agent(settings)))
