"""Command line of the LB node agent: ``python -m lbapp.agent --settings FILE``."""
from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

from lbapp.agent.agent import Agent
from lbapp.agent.settings import load_settings
from lbapp.daemon import load_or_exit_code, logging_or_exit_code


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
    settings = load_or_exit_code(args.settings, args.check, load_settings)
    if isinstance(settings, int):
        return settings
    failed = logging_or_exit_code(args.settings, settings.log_level, settings.log_file,
                                  f"agent:{settings.node}")
    if failed is not None:
        return failed
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(Agent(settings)))
