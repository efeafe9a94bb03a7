"""lbapp's LB server: the HTTP reverse proxy under test, following its config in etcd. A node
runs one as its LB; the benchmark runs more beside it (another port, workers, source tree)."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import NodeContext, PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.daemons.redis import redis_url
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.paths import REPO_ROOT


class LbServer(PythonDaemon):
    kind = "lbserver"
    module = "lbapp.lbserver"
    preload = "lbapp.lbserver.main"
    wave = 1

    def __init__(self, ctx: NodeContext, name: str | None = None, cpus: str | None = None,
                 port: int | None = None, admin_port: int | None = None, workers: int | None = None,
                 source_tree: Path | None = None, drain_grace_ms: int = 1000, log_to_file: bool = False,
                 scraped: bool = True):
        super().__init__(ctx, name, cpus)
        self.scraped = scraped      # Prometheus scrapes its admin port on the control address
        self.port = port or ctx.spec.port
        self.admin_port = admin_port or ctx.spec.admin_port
        self.workers = workers
        self.source_tree = source_tree or REPO_ROOT
        self.drain_grace_ms = drain_grace_ms
        self.log_to_file = log_to_file

    @property
    def settings_path(self) -> Path:
        return self.path(".yaml")

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        text = render("lbserver.yaml.j2", lab=self.ctx.lab, node=self.ctx.node, name=self.server_name,
                      lb_id=topo.lb_id_of(self.ctx.node), port=self.port, admin_listen=self.admin_listen,
                      workers=self.workers, etcd_endpoints=etcd_endpoints(topo), redis_url=redis_url(topo),
                      drain_grace_ms=self.drain_grace_ms, max_connections=10000,
                      log_file=str(self.path("-server.log")) if self.log_to_file else None)
        return {self.settings_path: text}

    @property
    def admin_listen(self) -> list[str]:
        """Admin stays off the data plane: loopback (the announcer, lab probes) and, for an LB
        Prometheus scrapes, the control-LAN address; never the VIP or a wildcard."""
        addresses = [f"127.0.0.1:{self.admin_port}"]
        if self.scraped:
            addresses.append(f"{self.ctx.control_address}:{self.admin_port}")
        return addresses

    @property
    def server_name(self) -> str:
        """What the server calls itself (its X-LB header): the node, or node-name for a second one."""
        return self.ctx.node if self.name == self.kind else f"{self.ctx.node}-{self.name}"

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--settings", str(self.settings_path)]

    def env(self) -> dict[str, str]:
        return {**super().env(), "PYTHONPATH": str(self.source_tree)}

    @property
    def admin_url(self) -> str:
        """The admin endpoint as seen from inside the node (announcer, lab probes)."""
        return f"http://127.0.0.1:{self.admin_port}"

    def ready_url(self) -> str:
        return f"{self.admin_url}/-/ready"

    def drain_url(self) -> str:
        return f"{self.admin_url}/-/drain"

    def admin_request(self, method: str, path: str, timeout: float = 1.0) -> tuple[int, dict, bytes]:
        return probes.http_request(self.ctx.ns, method, "127.0.0.1", self.admin_port, path, timeout)

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, "127.0.0.1", self.admin_port, "/-/ready", timeout=0.5)
        return None if ok else "/-/ready not 200 (no config loaded yet?)"

    def metrics_endpoint(self) -> tuple[str, int, str] | None:
        return (self.ctx.control_address, self.admin_port, "/metrics") if self.scraped else None
