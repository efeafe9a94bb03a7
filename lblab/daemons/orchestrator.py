"""lbapp's orchestrator member (``python -m lbapp.orchestrator``): leader election, sharded
health checks of every backend, and — on the leader — scaling the LB tier from Prometheus. Its
check history (JSONL) is what the orchestrator scenarios judge."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.daemons.prometheus import PORT as PROMETHEUS_PORT
from lblab.daemons.redis import redis_url
from lblab.lab import probes
from lblab.lab.templates import render

ETCD_TIMEOUT_MS = 500       # per member, then the next one


class Orchestrator(PythonDaemon):
    kind = "orchestrator"
    module = "lbapp.orchestrator"
    wave = 1            # reads the LB configs the lab seeds
    ready_timeout = 30.0    # wave 1 starts ~20 Python daemons at once: slow on a loaded box

    @property
    def settings_path(self) -> Path:
        return self.path(".yaml")

    @property
    def history_path(self) -> Path:
        """Every check, health write, role change, assignment and scaling decision (JSONL);
        appended across restarts, so it covers the member's whole life in the lab."""
        return self.path("-history.jsonl")

    @property
    def metrics_port(self) -> int:
        return self.ctx.spec.metrics_port

    def autoscale(self) -> dict | None:
        """What the template needs to scale the lab's LB tier, or None (no scaling)."""
        topo, options = self.ctx.topo, self.ctx.spec.autoscale
        prometheus = list(topo.nodes_of("prometheus"))
        if options is None or not prometheus:
            return None
        return {"lb_id": topo.service.lb_id,
                "prometheus_url": f"http://{topo.control_address(prometheus[0])}:{PROMETHEUS_PORT}",
                "interval_s": options.interval_s, "rate_window_s": options.rate_window_s,
                "policy": options.scale_policy(topo)}

    def render(self) -> dict[Path, str]:
        spec, topo = self.ctx.spec, self.ctx.topo
        text = render("orchestrator.yaml.j2", lab=self.ctx.lab, name=self.ctx.node,
                      etcd_endpoints=etcd_endpoints(topo), redis_url=redis_url(topo),
                      metrics_listen=f"{self.ctx.control_address}:{self.metrics_port}",
                      lease_ttl_s=spec.lease_ttl_s, etcd_timeout_ms=ETCD_TIMEOUT_MS,
                      health_check=spec.health_check, history_file=str(self.history_path),
                      autoscale=self.autoscale())
        return {self.settings_path: text}

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--settings", str(self.settings_path)]

    def member_status(self, timeout: float = 1.0) -> dict:
        """The member's own view (``/-/status``): role, lease, the shard it follows, its targets."""
        status, _, body = probes.http_get(self.ctx.ns, self.ctx.control_address, self.metrics_port,
                                          "/-/status", timeout=timeout)
        if status != 200:
            raise OSError(f"/-/status answered HTTP {status}")
        return json.loads(body)

    def check_ready(self) -> str | None:
        if self.member_status(timeout=0.5)["lease"]["id"] is None:
            return "no lease yet (etcd not answering?)"
        return None

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, self.metrics_port, "/metrics"
