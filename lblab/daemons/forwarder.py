"""The forwarder (``lblab.lab.forwarder``) that makes one port of a node reachable on the lab
host's 127.0.0.1, without a route to the lab. It starts in the lab host's namespace and moves
itself into the node's; the port it got is in its port file."""
from __future__ import annotations

import http.client
from pathlib import Path

from lblab.daemons.base import NodeContext, PythonDaemon

LOOPBACK = "127.0.0.1"


class Forwarder(PythonDaemon):
    kind = "forwarder"
    module = "lblab.lab.forwarder"
    preload = "lblab.lab.forwarder"
    wave = 1
    host_namespace = True

    def __init__(self, ctx: NodeContext, upstream_port: int, preferred_port: int,
                 ready_path: str = "/", **kwargs):
        super().__init__(ctx, **kwargs)
        self.upstream_port = upstream_port
        self.preferred_port = preferred_port
        self.ready_path = ready_path

    @property
    def port_path(self) -> Path:
        return self.path(".port")

    def argv(self) -> list[str]:
        return [self.python(), "-m", self.module, "--listen", f"{LOOPBACK}:{self.preferred_port}",
                "--netns", self.ctx.ns, "--upstream", f"{self.ctx.control_address}:{self.upstream_port}",
                "--port-file", str(self.port_path)]

    def host_port(self) -> int | None:
        """The port it listens on (None before it has bound one)."""
        try:
            return int(self.port_path.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def url(self) -> str | None:
        port = self.host_port()
        return f"http://{LOOPBACK}:{port}" if port else None

    def check_ready(self) -> str | None:
        port = self.host_port()
        if port is None:
            return "no port file yet"
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=1.0)
        try:
            conn.request("GET", self.ready_path)
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return f"{LOOPBACK}:{port}{self.ready_path}: {exc}"
        finally:
            conn.close()
        return None if status == 200 else f"{LOOPBACK}:{port}{self.ready_path}: HTTP {status}"
