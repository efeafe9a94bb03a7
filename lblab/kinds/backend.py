"""Backends: the service being balanced (lbapp's backend app)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.backend import Backend as BackendDaemon
from lblab.kinds.base import Hazard, NodeKind, Problem
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions

LISTEN_BACKLOG = {"net.core.somaxconn": 4096, "net.ipv4.tcp_max_syn_backlog": 4096}


class BackendOptions(NodeOptions):
    role: Literal["backend"]
    port: int = Field(default=8080, ge=1, le=65535)
    control_port: int = Field(default=9180, ge=1, le=65535, description="run-time knobs (control LAN only)")


@register
class Backend(NodeKind):
    role = "backend"
    options = BackendOptions
    summary = "the service being balanced: says who it is, has /health"
    min_count = 1
    sysctls = LISTEN_BACKLOG

    def daemons(self, ctx):
        return [BackendDaemon(ctx)]

    def hazards(self, lab, node: str) -> list[Hazard]:
        """A crashed backend costs nothing: the LB retries the refused connect on another."""
        return [Hazard("kill", {"node": node, "daemon": "backend"}, {},
                       "the LB retries a refused connect on another backend")]

    def fault_budget(self, lab) -> int:
        return len(lab.node_names("backend")) // 3

    def problems(self, topo, name: str, spec: BackendOptions) -> list[Problem]:
        if spec.control_port == spec.port:
            return [(f"nodes.{name}.control_port", f"{spec.port} is also the data-plane port "
                                                    "(knobs must stay off the data plane)")]
        return []
