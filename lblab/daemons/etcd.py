"""etcd: a member of the lab's config DB cluster."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import Daemon
from lblab.lab import probes
from lblab.lab.templates import render
from lblab.topology.model import Topology

CLIENT_PORT = 2379
PEER_PORT = 2380


def etcd_endpoints(topo: Topology) -> list[str]:
    """Client URLs of every member, for the lab's etcd clients."""
    return [f"http://{topo.control_address(node)}:{CLIENT_PORT}" for node in topo.nodes_of("etcd")]


class Etcd(Daemon):
    kind = "etcd"
    ready_timeout = 20.0
    config_db = True

    @property
    def config_path(self) -> Path:
        return self.path(".yaml")

    @property
    def data_dir(self) -> Path:
        return self.ctx.run_dir / "etcd-data"

    def render(self) -> dict[Path, str]:
        topo = self.ctx.topo
        cluster = ",".join(f"{name}=http://{topo.control_address(name)}:{PEER_PORT}"
                           for name in topo.nodes_of("etcd"))
        text = render("etcd.yaml.j2", lab=self.ctx.lab, member=self.ctx.node, data_dir=str(self.data_dir),
                      address=self.ctx.control_address, initial_cluster=cluster,
                      client_port=CLIENT_PORT, peer_port=PEER_PORT)
        return {self.config_path: text}

    def argv(self) -> list[str]:
        return ["etcd", "--config-file", str(self.config_path)]

    def check_ready(self) -> str | None:
        # /health is true only once this member sees a leader, i.e. the cluster has quorum
        try:
            status, _, body = probes.http_get(self.ctx.ns, self.ctx.control_address, CLIENT_PORT,
                                              "/health", timeout=1.0)
        except OSError as exc:
            return f"/health: {exc}"
        if status == 200 and json.loads(body).get("health") == "true":
            return None
        return f"/health: {body[:80].decode(errors='replace')}"

    def metrics_endpoint(self) -> tuple[str, int, str]:
        return self.ctx.control_address, CLIENT_PORT, "/metrics"
