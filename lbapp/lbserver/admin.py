"""Admin HTTP endpoint (aiohttp, off the data plane): metrics, liveness, readiness, drain.

A worker of a multi-process LB server (settings ``workers`` > 1) serves the same endpoints on a
Unix socket, for its supervisor (lbapp.lbserver.workers) to ask."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Awaitable, Callable

from aiohttp import web

from lbapp.lbserver.metrics import render

if TYPE_CHECKING:
    from lbapp.lbserver.server import LBServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(server: "LBServer") -> web.Application:
    rt = server.rt

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = render(server.registry)
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
            "worker": server.worker, "pid": os.getpid(),
            "ready": rt.ready(), "not_ready_reason": rt.not_ready_reason() or None,
            "draining": rt.draining, "config": config,
            "config_rejected": cs.rejected,
            "config_refreshes": {f"{s}/{r}": n for (s, r), n in sorted(cs.refreshes.items())},
            "redis_connected": cs.redis_connected, "etcd_reachable": cs.etcd_ok,
            "client_connections": len(rt.clients),
            "ejected": sorted(rt.excluded),
            "backends": rt.backends_status(),
        })

    return admin_application(metrics=metrics, healthy=healthy, ready=ready, status=status,
                             start_drain=server.start_drain)


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


async def start_admin(server: "LBServer", host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner


async def start_admin_unix(server: "LBServer", path: str) -> web.AppRunner:
    """A worker's admin endpoint, for its supervisor only."""
    runner = web.AppRunner(build_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    await web.UnixSite(runner, path).start()
    return runner
