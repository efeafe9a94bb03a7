"""The system under test: lbapp's LB server, its announcer, and the backend app."""
from __future__ import annotations

import json
from pathlib import Path

from topo import probes
from topo.daemons.base import Daemon, REPO_ROOT
from topo.daemons.bird import BirdSpeaker
from topo.daemons.controlplane import etcd_endpoints, redis_url
from topo.render import render

BACKEND_METRICS_PATH = "/metrics"


class _PythonDaemon(Daemon):
    module: str

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}


class LbServer(_PythonDaemon):
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

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, "127.0.0.1", self.ctx.spec.admin_port, "/-/ready", timeout=0.5)
        return None if ok else "/-/ready not 200 (no config loaded yet?)"


class Announcer(_PythonDaemon):
    """Enables the BIRD speaker's `vip` protocol while the local LB server is ready."""

    kind = "announcer"
    module = "lbapp.announcer"
    wave = 1

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    def argv(self) -> list[str]:
        settings = self.ctx.topo.announce
        bird_socket = BirdSpeaker(self.ctx).socket_path
        return [self.python(), "-m", self.module,
                "--ready-url", f"http://127.0.0.1:{self.ctx.spec.admin_port}/-/ready",
                "--bird-socket", str(bird_socket), "--protocol", BirdSpeaker.VIP_PROTOCOL,
                "--interval-ms", str(settings.interval_ms), "--timeout-ms", str(settings.timeout_ms),
                "--rise", str(settings.rise), "--fall", str(settings.fall),
                "--state-file", str(self.state_path)]

    def prepare(self) -> None:
        self.state_path.unlink(missing_ok=True)

    def check_ready(self) -> str | None:
        return None if self.state_path.is_file() else "no state file yet"

    def announcing(self) -> bool | None:
        try:
            return bool(json.loads(self.state_path.read_text())["announcing"])
        except (FileNotFoundError, ValueError, KeyError):
            return None


class Backend(_PythonDaemon):
    kind = "backend"
    module = "lbapp.backend"

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--name", self.ctx.node,
                "--listen", f"0.0.0.0:{self.ctx.spec.port}"]

    def check_ready(self) -> str | None:
        ok = probes.http_ok(self.ctx.ns, self.ctx.control_address, self.ctx.spec.port, "/health", timeout=0.5)
        return None if ok else "/health not 200"
