"""lbapp's LB server: the HTTP reverse proxy under test, following its config in etcd."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.daemons.redis import redis_url
from lblab.lab import probes
from lblab.lab.templates import render


class LbServer(PythonDaemon):
    kind = "lbserver"
    module = "lbapp.lbserver"
    wave = 1

    @property
    def settings_path(self) -> Path:
        return self.path(".yaml")

    def render(self) -> dict[Path, str]:
        topo, spec = self.ctx.topo, self.ctx.spec
        text = render("lbserver.yaml.j2", lab=self.ctx.lab, node=self.ctx.node, lb_id=topo.service.lb_id,
                      port=spec.port, admin_port=spec.admin_port, etcd_endpoints=etcd_endpoints(topo),
                      redis_url=redis_url(topo), drain_grace_ms=1000, max_connections=10000)
        return {self.settings_path: text}

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--settings", str(self.settings_path)]

    @property
    def admin_url(self) -> str:
        """The admin endpoint as seen from inside the node (announcer, lab probes)."""
        return f"http://127.0.0.1:{self.ctx.spec.admin_port}"

    def admin_request(self, method: str, path: str, timeout: float = 1.0) -> tuple[int, dict, bytes]:
        return probes.http_request(self.ctx.ns, method, "127.0.0.1", self.ctx.spec.admin_port, path, timeout)

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, "127.0.0.1", self.ctx.spec.admin_port, "/-/ready", timeout=0.5)
        return None if ok else "/-/ready not 200 (no config loaded yet?)"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, self.ctx.spec.admin_port, "/metrics"
