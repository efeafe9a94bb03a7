"""HAProxy, as the benchmark runs it: the reference proxy lbapp's LB is measured against."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import Daemon, NodeContext
from lblab.lab import probes
from lblab.lab.templates import render


class HAProxy(Daemon):
    kind = "haproxy"

    def __init__(self, ctx: NodeContext, address: str, port: int, backends: list, proxy: dict,
                 nbthread: int = 1, cpus: str | None = None):
        super().__init__(ctx, cpus=cpus)
        self.address, self.port = address, port
        self.backends, self.proxy, self.nbthread = backends, proxy, nbthread

    @property
    def config_path(self) -> Path:
        return self.path(".cfg")

    def render(self) -> dict[Path, str]:
        return {self.config_path: render("bench-haproxy.cfg.j2", lab=self.ctx.lab, node=self.ctx.node,
                                         run_dir=str(self.ctx.run_dir), listen=f"{self.address}:{self.port}",
                                         backends=self.backends, nbthread=self.nbthread, maxconn=8000,
                                         **self.proxy)}

    def argv(self) -> list[str]:
        return ["haproxy", "-db", "-f", str(self.config_path)]

    def check_ready(self) -> str | None:
        return None if probes.http_ok(self.ctx.ns, self.address, self.port, "/", timeout=0.5) else "/ not 200"
