"""lbapp's backend app: the service being balanced (says who it is, has /health)."""
from __future__ import annotations

from lblab.daemons.base import PythonDaemon
from lblab.lab import probes

METRICS_PATH = "/metrics"


class Backend(PythonDaemon):
    kind = "backend"
    module = "lbapp.backend"
    preload = "lbapp.backend.main"

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--name", self.ctx.node,
                "--listen", f"0.0.0.0:{self.ctx.spec.port}"]

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, self.ctx.spec.port, "/health", timeout=0.5)
        return None if ok else "/health not 200"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, self.ctx.spec.port, METRICS_PATH
