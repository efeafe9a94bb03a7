"""Admin HTTP endpoint (aiohttp, off the data plane): metrics, liveness, readiness, drain.

It listens on ``admin_listen`` (loopback and the control network, never the data plane: see
settings). A worker of a multi-process LB server (settings ``workers`` > 1) serves the same
endpoints on a Unix socket, for its supervisor (lbapp.lbserver.workers) to ask.

A malformed request to it is logged as one warning line, not a traceback."""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CollectorRegistry

from lbapp.lbserver.metrics import render
from lbapp.lbserver.slots import connection_report

if TYPE_CHECKING:
    from lbapp.lbserver.runtime import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("lbapp.lbserver.admin")


def build_app(rt: "Runtime", registry: CollectorRegistry, worker: int | None,
              start_drain: Callable[[str], None]) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body, content_type = render(registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def ready(_: web.Request) -> web.Response:
        if rt.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {rt.not_ready_reason()}\n")

    async def status(_: web.Request) -> web.Response:
        snap = rt.snapshot
        cs = rt.config_stats
        config = None
        if snap is not None:
            config = {"version": snap.version, "applied_at": snap.applied_at,
                      "age_seconds": round(time.time() - snap.applied_at, 3),
                      "health_revision": snap.health_revision,
                      "algorithm": snap.config.algorithm,
                      "poll_frequency": snap.config.poll_frequency}
        return web.json_response({
            "name": rt.settings.name, "lb_id": rt.settings.lb_id,
            "worker": worker, "pid": os.getpid(),
            "ready": rt.ready(), "not_ready_reason": rt.not_ready_reason() or None,
            "draining": rt.draining, "config": config,
            "config_rejected": cs.rejected,
            "config_refreshes": {f"{s}/{r}": n for (s, r), n in sorted(cs.refreshes.items())},
            "redis_connected": cs.redis_connected, "etcd_reachable": cs.etcd_ok,
            "client_connections": len(rt.clients),
            "connections": connection_report(rt),
            "ejected": sorted(rt.excluded),
            "backends": rt.backends_status(),
        })

    return admin_application(metrics=metrics, healthy=healthy, ready=ready, status=status,
                             start_drain=start_drain)


def admin_application(*, metrics: Handler, healthy: Handler, ready: Handler, status: Handler,
                      start_drain: Callable[[str], None]) -> web.Application:
    """The admin routes, shared by a single LB process and the supervisor of its workers."""
    async def drain(_: web.Request) -> web.Response:
        start_drain("POST /-/drain")
        return web.Response(status=202, text="draining\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/-/status", status)
    app.router.add_post("/-/drain", drain)
    return app


class _OneLineBadRequests(logging.LoggerAdapter):
    """aiohttp's server logger, except that a malformed request (which aiohttp logs with a
    traceback) becomes one warning line."""

    def log(self, level: int, msg: Any, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            peer = args[0] if args else "?"
            self.logger.warning("admin: malformed request from %s: %s", peer,
                                " ".join(str(exc_info).split())[:200])
            return
        self.logger.log(level, msg, *args, exc_info=exc_info, **kwargs)


ADMIN_SERVER_LOGGER = _OneLineBadRequests(logging.getLogger("aiohttp.server"), {})


async def serve(app: web.Application, addresses: list[tuple[str, int]] = (),
                unix_path: str | None = None) -> web.AppRunner:
    """Serve ``app`` on every TCP address (or on a Unix socket); the runner to clean up."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           logger=ADMIN_SERVER_LOGGER)
    await runner.setup()
    try:
        if unix_path is not None:
            await web.UnixSite(runner, unix_path).start()
        for host, port in addresses:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
