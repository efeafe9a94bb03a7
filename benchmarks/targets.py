"""What the proxy benchmark measures, started through the lab's daemon classes on the LB node:
the backends (nginx, fixed tiny body), the same backend with no proxy hop, the lab's own lbapp
LB, lbapp from another source tree, lbapp with N workers, HAProxy and nginx as proxies — all
for the same backends with the same timeouts and retries."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lblab.daemons.haproxy import HAProxy
from lblab.daemons.lbserver import LbServer
from lblab.daemons.nginx import NginxBackend, NginxProxy

BACKEND_PORT = 8081
DIRECT_PORT = 8003
HAPROXY_PORT = 8001
NGINX_PROXY_PORT = 8002
LBAPP_MULTI_PORT = 8010
LBAPP_MULTI_ADMIN_PORT = 9110
LBAPP_BASELINE_PORT = 8011
LBAPP_BASELINE_ADMIN_PORT = 9111
BODY = "ok"

# The timeouts and retries every proxy is given (lbapp's config defaults).
PROXY = {"connect_ms": 1000, "response_ms": 15_000, "client_idle_ms": 60_000, "retries": 2}

ALL_TARGETS = ("direct", "lbapp", "lbapp-multi", "haproxy", "nginx")
EXTRA_TARGETS = ("lbapp-baseline",)  # added by --baseline-tree


@dataclass(frozen=True)
class BackendAddr:
    name: str
    address: str
    port: int


def lb_config(backends: list[BackendAddr]) -> dict:
    """The lbapp LB config of the benchmark: every feature at its default (on)."""
    return {"backend_servers": [{"name": b.name, "address": b.address, "port": b.port}
                                for b in backends],
            "algorithm": "round_robin", "health_endpoint": "/health", "poll_frequency": 2000,
            "timeouts": {"connect_ms": PROXY["connect_ms"], "response_ms": PROXY["response_ms"],
                         "client_idle_ms": PROXY["client_idle_ms"]},
            "retries": {"attempts": PROXY["retries"]}}


def backend(ctx, cpus: str | None) -> NginxBackend:
    return NginxBackend(ctx, "nginx-backend", "0.0.0.0", BACKEND_PORT, BODY, cpus=cpus)


def direct(ctx, edge: str, cpus: str | None) -> NginxBackend:
    """The backend's own config on the LB node: the path without a proxy hop."""
    return NginxBackend(ctx, "nginx-direct", edge, DIRECT_PORT, BODY, cpus=cpus)


def haproxy(ctx, edge: str, backends: list[BackendAddr], cpus: str | None) -> HAProxy:
    return HAProxy(ctx, edge, HAPROXY_PORT, backends, PROXY, nbthread=1, cpus=cpus)


def nginx_proxy(ctx, edge: str, backends: list[BackendAddr], cpus: str | None) -> NginxProxy:
    return NginxProxy(ctx, "nginx-proxy", edge, NGINX_PROXY_PORT, backends, PROXY, cpus=cpus)


def lbapp_baseline(ctx, tree: Path, cpus: str | None) -> LbServer:
    """lbapp from another source tree (e.g. `git archive OLD lbapp | tar -x -C DIR`), one process
    pinned like the lab's own: before/after in the same run. Its settings use only keys every
    lbapp so far knows."""
    return LbServer(ctx, name="lbserver-baseline", cpus=cpus, port=LBAPP_BASELINE_PORT,
                    admin_port=LBAPP_BASELINE_ADMIN_PORT, source_tree=tree, drain_grace_ms=0,
                    log_to_file=True, scraped=False)


def lbapp_multi(ctx, workers: int) -> LbServer:
    return LbServer(ctx, name="lbserver-multi", port=LBAPP_MULTI_PORT, admin_port=LBAPP_MULTI_ADMIN_PORT,
                    workers=workers, drain_grace_ms=0, log_to_file=True, scraped=False)
