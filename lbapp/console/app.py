"""The console's aiohttp application: API, UI, static files, /metrics, and request counting."""
from __future__ import annotations

import time
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lbapp.console import api, ui
from lbapp.console.api import AUTH, CONSOLE, MAX_BODY
from lbapp.console.auth import Auth
from lbapp.console.lbservers import LBServers
from lbapp.console.metrics import ConsoleMetrics
from lbapp.console.service import Console
from lbapp.console.settings import ConsoleSettings
from lbapp.console.store import Store
from lbapp.etcd import EtcdClient, EtcdError

HERE = Path(__file__).parent


@web.middleware
async def count_and_catch(request: web.Request, handler) -> web.StreamResponse:
    """Counts every request by route; turns an unreachable etcd into 503 naming it."""
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "(unmatched)"
    metrics = request.app[CONSOLE].metrics
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.requests.labels(request.method, name, str(exc.status)).inc()
        raise
    except EtcdError as exc:
        metrics.requests.labels(request.method, name, "503").inc()
        return web.json_response({"error": f"etcd: {exc}", "field": None, "reason": "etcd"},
                                 status=503)
    metrics.requests.labels(request.method, name, str(response.status)).inc()
    return response


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CONSOLE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def ready(request: web.Request) -> web.Response:
    """200 once etcd answers a read (the console can show and change configs), else 503."""
    try:
        revision = await request.app[CONSOLE].store.etcd.revision()
    except EtcdError as exc:
        return web.Response(status=503, text=f"etcd: {exc}\n")
    return web.Response(text=f"ready (etcd revision {revision})\n")


def build_app(settings: ConsoleSettings, token: str) -> web.Application:
    app = web.Application(middlewares=[count_and_catch], client_max_size=settings.max_body_bytes)
    etcd = EtcdClient(settings.etcd_endpoints, timeout=settings.etcd_timeout_ms / 1000)
    console = Console(Store(etcd, settings.redis_url), LBServers(settings.lb_servers),
                      ConsoleMetrics())
    app[CONSOLE] = console
    app[AUTH] = Auth(token)
    app[MAX_BODY] = settings.max_body_bytes
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=jinja2.select_autoescape(default=True))
    env.filters["timestamp"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    api.add_routes(app)
    ui.add_routes(app)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_static("/static", HERE / "static")

    async def lifecycle(app: web.Application):
        console.sampler.start()
        yield
        await console.close()
    app.cleanup_ctx.append(lifecycle)
    return app
