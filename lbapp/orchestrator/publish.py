"""Redis notifications: "the health of LB X changed, re-read etcd" on the LB's config channel.

Best effort by design: the LB servers also poll etcd, so a lost message costs at most one poll
period. Redis down: each publish fails fast (short timeouts, no retries), is counted, and the
outage is logged once.
"""
from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lbapp.orchestrator.metrics import OrchestratorStats

log = logging.getLogger("lbapp.orchestrator.publish")

TIMEOUT = 0.5


class Publisher:
    def __init__(self, url: str | None, stats: OrchestratorStats, sender: str) -> None:
        self.url, self.stats, self.sender = url, stats, sender
        self._client = None
        self._failing = False
        if url:
            self._client = aioredis.Redis.from_url(url, socket_connect_timeout=TIMEOUT,
                                                   socket_timeout=TIMEOUT,
                                                   retry=Retry(NoBackoff(), 0))

    async def publish(self, channel: str) -> bool:
        if self._client is None:
            return False
        try:
            async with asyncio.timeout(TIMEOUT * 2):
                await self._client.publish(channel, f"health:{self.sender}")
        except (OSError, TimeoutError, aioredis.RedisError) as exc:
            self.stats.bump(self.stats.publishes, "error")
            if not self._failing:
                self._failing = True
                log.warning("redis publish on %s failed (%s); LBs will see the change at their "
                            "next poll", channel, exc)
            return False
        self.stats.bump(self.stats.publishes, "ok")
        if self._failing:
            self._failing = False
            log.info("redis publishes work again")
        return True

    async def close(self) -> None:
        if self._client is not None:
            try:
                await asyncio.wait_for(self._client.aclose(), 1.0)
            except (OSError, TimeoutError, aioredis.RedisError):
                pass
