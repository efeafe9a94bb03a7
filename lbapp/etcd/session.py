"""A lease kept alive, and how long its holder may still act on it (etcd's concurrency.Session,
with the fencing rule the lab proved necessary).

The lease is refreshed every TTL/4. Its holder may act only while ``now < when the last
successful refresh was *sent* + the TTL etcd granted`` (``valid()``): etcd starts the new TTL
when it receives the refresh, which is later, so this end is never after etcd's. A process that
was stopped (SIGSTOP) or cut off from etcd sees ``valid()`` turn false on its own clock, before
any other holder can have been given what the lease guarded. When the window closes, or etcd
says the lease is gone, ``lost`` is set and the session is over: open a new one.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from lbapp.etcd.client import EtcdClient
from lbapp.etcd.codec import EtcdError

log = logging.getLogger("lbapp.etcd.session")


class LeaseSession:
    def __init__(self, etcd: EtcdClient, ttl: int, *, name: str = "session",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.etcd, self.requested_ttl, self.name = etcd, ttl, name
        self.clock = clock
        self.lease_id = 0
        self.ttl = 0
        self.refreshes = 0
        self._expiry = 0.0
        self.lost = asyncio.Event()
        self.reason = ""
        self._task: asyncio.Task | None = None

    @classmethod
    async def open(cls, etcd: EtcdClient, ttl: int, **options) -> "LeaseSession":
        session = cls(etcd, ttl, **options)
        sent = session.clock()
        lease = await etcd.lease_grant(ttl)
        session.lease_id, session.ttl = lease.id, lease.ttl
        session._expiry = sent + lease.ttl
        session._task = asyncio.get_running_loop().create_task(session._keepalive(),
                                                                name=f"{session.name} keepalive")
        log.info("%s: lease %x granted, TTL %d s (asked %d)", session.name, lease.id, lease.ttl,
                 ttl)
        return session

    def valid(self) -> bool:
        return not self.lost.is_set() and self.clock() < self._expiry

    def remaining(self) -> float:
        return max(0.0, self._expiry - self.clock()) if not self.lost.is_set() else 0.0

    def _lose(self, reason: str, quiet: bool = False) -> None:
        if not self.lost.is_set():
            self.reason = reason
            if not quiet:
                log.warning("%s: lease %x lost: %s", self.name, self.lease_id, reason)
            self.lost.set()

    async def _keepalive(self) -> None:
        period = self.ttl / 4
        failing = False
        while not self.lost.is_set():
            await asyncio.sleep(max(0.0, min(period, self._expiry - self.clock())))
            if not self.valid():
                self._lose(f"not refreshed within its TTL of {self.ttl} s")
                return
            sent = self.clock()
            try:
                async with asyncio.timeout(max(0.05, self._expiry - sent)):
                    granted = await self.etcd.lease_keepalive(self.lease_id)
            except (EtcdError, TimeoutError) as exc:
                if not failing:
                    log.warning("%s: lease refresh failed (%s); %.2f s left", self.name, exc,
                                self._expiry - self.clock())
                failing = True
                continue
            if granted <= 0:
                self._lose("etcd says the lease is gone (expired)")
                return
            if failing:
                log.info("%s: lease refresh works again", self.name)
                failing = False
            self.refreshes += 1
            self._expiry = max(self._expiry, sent + granted)

    async def close(self, revoke: bool = True) -> None:
        """Stop refreshing; revoke the lease (deleting its keys at once) unless told not to."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        was_valid = self.valid()
        self._lose("closed", quiet=True)
        if revoke and was_valid:
            try:
                await self.etcd.lease_revoke(self.lease_id)
            except EtcdError as exc:
                log.warning("%s: revoking lease %x failed: %s", self.name, self.lease_id, exc)
