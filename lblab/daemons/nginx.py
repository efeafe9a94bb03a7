"""nginx, as the benchmark runs it: a fixed-response backend, or a reverse proxy under test."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lblab.daemons.base import Daemon, NodeContext
from lblab.lab import probes
from lblab.lab.templates import render

WORKER_CONNECTIONS = 8192


class _Nginx(Daemon):
    kind = "nginx"
    template: ClassVar[str]

    def __init__(self, ctx: NodeContext, name: str, address: str, port: int, cpus: str | None = None):
        super().__init__(ctx, name, cpus)
        self.address, self.port = address, port

    @property
    def directory(self) -> Path:
        return self.ctx.run_dir / self.name

    @property
    def config_path(self) -> Path:
        return self.directory / "nginx.conf"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def render(self) -> dict[Path, str]:
        return {self.config_path: render(self.template, lab=self.ctx.lab, node=self.ctx.node,
                                         run_dir=str(self.directory), listen=f"{self.address}:{self.port}",
                                         workers=1, worker_connections=WORKER_CONNECTIONS,
                                         **self.template_context())}

    def template_context(self) -> dict:
        return {}

    def argv(self) -> list[str]:
        return ["nginx", "-e", str(self.directory / "error.log"), "-p", str(self.directory),
                "-c", str(self.config_path)]

    def check_ready(self) -> str | None:
        host = "127.0.0.1" if self.address == "0.0.0.0" else self.address
        return None if probes.http_ok(self.ctx.ns, host, self.port, "/", timeout=0.5) else "/ not 200"


class NginxBackend(_Nginx):
    """Answers every request with the same tiny body (a backend that costs next to nothing)."""

    template = "bench-nginx-backend.conf.j2"

    def __init__(self, ctx: NodeContext, name: str, address: str, port: int, body: str, cpus: str | None = None):
        super().__init__(ctx, name, address, port, cpus)
        self.body = body

    def template_context(self) -> dict:
        return {"body": self.body}


class NginxProxy(_Nginx):
    """A reverse proxy to the backends, configured like lbapp's LB (timeouts, retries, keep-alive)."""

    template = "bench-nginx-proxy.conf.j2"

    def __init__(self, ctx: NodeContext, name: str, address: str, port: int, backends: list,
                 proxy: dict, cpus: str | None = None):
        super().__init__(ctx, name, address, port, cpus)
        self.backends, self.proxy = backends, proxy

    def template_context(self) -> dict:
        return {"backends": self.backends, "upstream_keepalive": 256, **self.proxy}
