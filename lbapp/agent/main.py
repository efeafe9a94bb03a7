"""Command line of the LB node agent: ``python -m lbapp.agent --settings FILE``."""
from __future__ import annotations

import asyncio
import signal

import uvloop

from lbapp.agent.agent import Agent
from lbapp.agent.settings import load_settings
from lbapp.agent.zygote import Zygote
from lbapp.daemon import settings_main
from lbapp.prefork import python_module


async def serve(agent: Agent) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return await agent.run(stopping)


def main(argv: list[str] | None = None) -> int:
    settings = settings_main(argv, "python -m lbapp.agent", "lbapp LB node agent",
                             "lbapp.agent.settings", load_settings, lambda s: f"agent:{s.node}")
    if isinstance(settings, int):
        return settings
    # before the event loop and any thread: the zygote must be a copy of a single thread
    zygote = Zygote(sorted({c.preload or found[0] for c in settings.children if (found := python_module(c.argv))}))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(Agent(settings, zygote)))
