"""Redis: pub/sub for "the config of LB X changed"."""
from __future__ import annotations

from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.topology.model import Topology

PORT = 6379


def redis_url(topo: Topology) -> str | None:
    nodes = list(topo.nodes_of("redis"))
    return f"redis://{topo.control_address(nodes[0])}:{PORT}/0" if nodes else None


class Redis(Daemon):
    kind = "redis"

    @property
    def config_path(self) -> Path:
        return self.path(".conf")

    def render(self) -> dict[Path, str]:
        text = render("redis.conf.j2", lab=self.ctx.lab, node=self.ctx.node,
                      address=self.ctx.control_address, port=PORT)
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["redis-server", str(self.config_path)]

    def check_ready(self) -> str | None:
        ok = probes.redis_ping(self.ctx.ns, self.ctx.control_address, PORT, timeout=0.5)
        return None if ok else "no PONG"
