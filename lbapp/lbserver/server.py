"""The LB server process: listeners, config sync, admin endpoint, sweeper, drain."""
from __future__ import annotations

import asyncio
import logging
import signal
import time

from lbapp.lbserver.admin import build_app, serve
from lbapp.lbserver.configsync import ConfigSync
from lbapp.lbserver.metrics import build_registry
from lbapp.lbserver.proxy import ClientConnection
from lbapp.lbserver.runtime import Runtime
from lbapp.lbserver.settings import Settings
from lbapp.lbserver.slots import expire_heads, expire_idle

log = logging.getLogger("lbapp.lbserver")

SWEEP_INTERVAL = 0.1        # s: clock refresh, response and request-head timeouts, pool idle,
                            # ejections
CLIENT_SWEEP_EVERY = 10     # sweeps: client keep-alive idle timeouts
DEFAULT_CLIENT_IDLE = 60.0  # s, before a config is loaded
LISTEN_BACKLOG = 4096


class LBServer:
    """One LB server process; with ``worker`` set, one worker of a multi-process server
    (listeners bound with SO_REUSEPORT, admin endpoint on the Unix socket ``admin_socket``)."""

    def __init__(self, settings: Settings, worker: int | None = None,
                 admin_socket: str | None = None) -> None:
        self.settings = settings
        self.worker = worker
        self.admin_socket = admin_socket
        self.rt = Runtime(settings)
        self.sync = ConfigSync(settings, self.rt)
        self.registry = build_registry(self.rt)
        self.listeners: list[asyncio.AbstractServer] = []
        self._stopped: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        s = self.settings
        rt = self.rt
        # Listeners first: an admin endpoint that answers means the data plane is bound (a
        # supervisor counts a worker as started once its admin socket answers).
        for host, port in s.listen_addresses:
            self.listeners.append(await loop.create_server(
                lambda: ClientConnection(rt), host, port, reuse_address=True,
                reuse_port=self.worker is not None, backlog=LISTEN_BACKLOG))
            log.info("%s: proxy listening on %s:%d", s.name, host, port)
        app = build_app(self.rt, self.registry, self.worker, self.start_drain)
        if self.admin_socket is None:
            admin = await serve(app, s.admin_addresses)
            log.info("%s (lb %s): admin on %s", s.name, s.lb_id, ", ".join(s.admin_list))
        else:
            admin = await serve(app, unix_path=self.admin_socket)
            log.info("%s (lb %s): worker %d, admin on %s", s.name, s.lb_id, self.worker,
                     self.admin_socket)
        self.sync.start()
        self._tasks.append(loop.create_task(self.sweep(), name="sweeper"))
        loop.add_signal_handler(signal.SIGTERM, self.start_drain, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.start_drain, "SIGINT")
        try:
            code = await self._stopped
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.sync.stop()
            await admin.cleanup()
        log.info("%s: stopped", s.name)
        return code

    # -- drain ------------------------------------------------------------------------------
    def start_drain(self, why: str) -> None:
        if self.rt.draining:
            return
        self.rt.draining = True
        log.info("drain started by %s: not ready; accepting for %d ms more", why,
                 self.settings.drain_grace_ms)
        self._tasks.append(asyncio.get_running_loop().create_task(self._drain(), name="drain"))

    async def _drain(self) -> None:
        rt = self.rt
        # Flows keep arriving until the router has withdrawn the route: keep serving them,
        # each response saying Connection: close.
        await asyncio.sleep(self.settings.drain_grace_ms / 1000)
        for listener in self.listeners:
            listener.close()
        in_flight = sum(1 for c in rt.clients if c.busy)
        log.info("drain: stopped accepting; %d requests in flight", in_flight)
        deadline = time.monotonic() + self.settings.drain_timeout_ms / 1000
        while True:
            for client in list(rt.clients):
                client.close_if_idle()
            if not rt.clients:
                break
            if time.monotonic() > deadline:
                log.warning("drain: %d connections still busy after drain_timeout_ms; closing",
                            len(rt.clients))
                for client in list(rt.clients):
                    client.transport.abort()
                break
            await asyncio.sleep(0.02)
        # Let the last responses leave before the loop stops.
        await asyncio.sleep(0.05)
        log.info("drain: done")
        if not self._stopped.done():
            self._stopped.set_result(0)

    # -- periodic work ----------------------------------------------------------------------
    async def sweep(self) -> None:
        """The periodic work of the data plane, every SWEEP_INTERVAL until cancelled."""
        rt = self.rt
        tick = 0
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = rt.clock.now = time.monotonic()
            idle_limit = rt.upstream_idle_timeout
            for conn in list(rt.upstreams):
                if conn.client is not None:
                    if conn.deadline and now > conn.deadline and not conn.paused:
                        conn.timed_out()
                elif now - conn.idle_since > idle_limit:
                    conn.transport.close()
            if rt.excluded:
                rt.refresh_exclusions()
            expire_heads(rt, now)
            tick += 1
            if tick % CLIENT_SWEEP_EVERY == 0:
                snap = rt.snapshot
                idle = snap.client_idle_timeout if snap is not None else DEFAULT_CLIENT_IDLE
                expire_idle(rt, now, idle)
