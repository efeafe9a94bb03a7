"""lbapp's console: the web UI and JSON API through which the lab's LB configs change. Writes
need the lab's console token, generated once per lab (mode 0600, in the lab's run directory)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from lblab.daemons.base import NodeContext, PythonDaemon
from lblab.daemons.etcd import etcd_endpoints
from lblab.daemons.redis import redis_url
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.topology.model import Topology

PORT = 8080
TOKEN_FILE = "console.token"
TOKEN_BYTES = 32            # token_urlsafe(32): 43 characters (the console wants >= 16)
ETCD_TIMEOUT_MS = 500       # per member, then the next one (lbapp.etcd)


def token_path(ctx: NodeContext) -> Path:
    return ctx.lab_dir / TOKEN_FILE


def ensure_token(path: Path) -> str:
    """The lab's console token: made on first use with mode 0600 (O_EXCL: never widened, never
    replaced, so a restarted console keeps the token users already have)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def lb_servers(topo: Topology) -> dict[str, dict[str, str]]:
    """LB id -> LB node -> the admin URL of its LB server (what it serves, its request counts)."""
    servers = {node: f"http://{topo.control_address(node)}:{spec.admin_port}"
               for node, spec in topo.nodes_of("lb").items()}
    return {topo.service.lb_id: servers} if servers else {}


class Console(PythonDaemon):
    kind = "console"
    module = "lbapp.console"
    preload = "lbapp.console.app"
    wave = 1            # after etcd has the LB config

    @property
    def settings_path(self) -> Path:
        return self.path(".yaml")

    @property
    def url(self) -> str:
        """The console as seen from inside the lab."""
        return f"http://{self.ctx.control_address}:{PORT}"

    def prepare(self) -> None:
        ensure_token(token_path(self.ctx))

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        text = render("console.yaml.j2", lab=self.ctx.lab, node=self.ctx.node,
                      address=self.ctx.control_address, port=PORT,
                      etcd_endpoints=etcd_endpoints(topo), etcd_timeout_ms=ETCD_TIMEOUT_MS,
                      redis_url=redis_url(topo), token_file=str(token_path(self.ctx)),
                      lb_servers=lb_servers(topo))
        return {self.settings_path: text}

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--settings", str(self.settings_path)]

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, PORT, "/-/ready", timeout=1.0)
        return None if ok else "/-/ready not 200 (etcd not answering?)"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, PORT, "/metrics"
