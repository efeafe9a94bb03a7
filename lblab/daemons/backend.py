"""lbapp's backend app: the service being balanced (says who it is, has /health), with its
run-time knobs (health answer, latency, failures, hang) on the control LAN only."""
from __future__ import annotations

import json

from lblab.daemons.base import PythonDaemon
from lblab.lab import probes

METRICS_PATH = "/metrics"
KNOBS_PATH = "/-/knobs"


class Backend(PythonDaemon):
    kind = "backend"
    module = "lbapp.backend"
    preload = "lbapp.backend.main"

    @property
    def control_listen(self) -> str:
        return f"{self.ctx.control_address}:{self.ctx.spec.control_port}"

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--name", self.ctx.node,
                "--listen", f"0.0.0.0:{self.ctx.spec.port}", "--control-listen", self.control_listen]

    def knobs(self, method: str = "GET", update: dict | None = None, timeout: float = 2.0) -> dict:
        """GET, PATCH (``update``: a partial knobs document) or DELETE the backend's knobs ->
        the knobs in force; OSError with the backend's own message when it refuses."""
        body = json.dumps(update) if update is not None else None
        status, _, raw = probes.http_request(self.ctx.ns, method, self.ctx.control_address,
                                             self.ctx.spec.control_port, KNOBS_PATH, timeout, body=body,
                                             headers={"Content-Type": "application/json"} if body else None)
        answer = json.loads(raw) if raw else {}
        if status != 200:
            raise OSError(f"{self.ctx.node} knobs: HTTP {status}: {answer.get('error', answer)}")
        return answer

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, self.ctx.spec.port, "/health", timeout=0.5)
        if not ok:
            return "/health not 200"
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, self.ctx.spec.control_port, KNOBS_PATH,
                            timeout=0.5)
        return None if ok else f"knobs ({KNOBS_PATH}) not answering"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, self.ctx.spec.port, METRICS_PATH
