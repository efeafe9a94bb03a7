"""Scheduling the checks of one member's shard: one task per target, at a fixed rate.

Each target starts at a random phase within the first interval (so 100 targets every 200 ms are
500 checks spread evenly over each second, not bursts) and then checks every ``interval``; a
check that is late (the loop was busy) starts at once, and missed slots are skipped, never made
up in a burst. Every check is bounded by ``timeout``, so a hung backend costs its own task a
timeout and never delays another target. ``max_in_flight`` caps the connections open at once.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from lbapp.orchestrator.health import CheckResult
from lbapp.orchestrator.probe import check

log = logging.getLogger("lbapp.orchestrator.checker")

Probe = Callable[[str, int, str, float], Awaitable[CheckResult]]
ResultSink = Callable[[str, CheckResult, float], None]   # (target, result, lag seconds)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    path: str


class Checker:
    def __init__(self, interval: float, timeout: float, on_result: ResultSink, *,
                 max_in_flight: int = 256, probe: Probe = check,
                 rng: random.Random | None = None) -> None:
        if timeout > interval:
            raise ValueError("the check timeout must not exceed the interval")
        self.interval, self.timeout = interval, timeout
        self.on_result = on_result
        self.probe = probe
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._endpoints: dict[str, Endpoint] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    @property
    def targets(self) -> dict[str, Endpoint]:
        return dict(self._endpoints)

    def set_targets(self, targets: dict[str, Endpoint]) -> None:
        """Check exactly these from now on (new ones start within one interval)."""
        for name in list(self._tasks):
            if name not in targets:
                self._tasks.pop(name).cancel()
                del self._endpoints[name]
        loop = asyncio.get_running_loop()
        for name, endpoint in targets.items():
            self._endpoints[name] = endpoint
            if name not in self._tasks:
                phase = self.rng.uniform(0, self.interval)
                self._tasks[name] = loop.create_task(self._run(name, phase),
                                                     name=f"check {name}")

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._endpoints.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, name: str, phase: float) -> None:
        due = time.monotonic() + phase
        while True:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                return
            async with self._slots:
                lag = max(0.0, time.monotonic() - due)
                try:
                    result = await self.probe(endpoint.host, endpoint.port, endpoint.path,
                                              self.timeout)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a probe bug must not end this target's checks
                    log.exception("check of %s failed unexpectedly", name)
                    result = CheckResult(False, f"error {type(exc).__name__}", 0.0)
            if name in self._endpoints:
                try:
                    self.on_result(name, result, lag)
                except Exception:  # a bug in handling one result must not stop the checks
                    log.exception("handling the check result of %s failed", name)
            due += self.interval
            now = time.monotonic()
            if due < now:  # overran: skip the slots already missed
                due = now
