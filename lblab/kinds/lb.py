"""LB nodes: lbapp's LB server, and what the topology's scaling mode adds to offer it to clients
(anycast: a BIRD speaker and the announcer that makes it announce the VIP only while the LB
server is ready; vip: keepalived and the announcer writing the file it tracks; dns: the
announcer keeping the LB's DNS record). The node's agent runs the LB server and the announcer
while the node is wanted active (a standby LB starts with neither) and not drained. Where there
is an announcer, a status reporter keeps its state in etcd for the console."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.agent import Agent
from lblab.daemons.announcer import Announcer
from lblab.daemons.lbserver import LbServer
from lblab.daemons.statusreport import StatusReporter
from lblab.kinds.backend import LISTEN_BACKLOG
from lblab.kinds.base import Hazard, NodeKind, Problem
from lblab.kinds.client import MANY_CONNECTIONS
from lblab.kinds.registry import register
from lblab.kinds.scaling import active_lbs, mode_of
from lblab.topology.model import NodeOptions, Topology

__all__ = ["Lb", "LbOptions", "active_lbs", "announcing"]


class LbOptions(NodeOptions):
    role: Literal["lb"]
    asn: int | None = Field(default=None, ge=1, le=4_294_967_294)
    standby: bool = False
    port: int = Field(default=80, ge=1, le=65535)
    admin_port: int = Field(default=9100, ge=1, le=65535)


def announcing(lab) -> dict[str, bool | None]:
    """LB -> whether its announcer currently announces it (None: unknown), for LBs that run one."""
    found = {}
    for lb in active_lbs(lab.topo):
        announcer = next((d for d in lab.daemons(lb) if isinstance(d, Announcer)), None)
        if announcer is not None:
            found[lb] = announcer.announcing()
    return found


@register
class Lb(NodeKind):
    role = "lb"
    options = LbOptions
    summary = "lbapp LB server, offered to clients by the scaling mode while it is healthy"
    min_count = 1
    sysctls = {**LISTEN_BACKLOG, **MANY_CONNECTIONS}   # and many connections to backends

    def daemons(self, ctx):
        daemons = mode_of(ctx.topo.scaling).lb_daemons(ctx)
        children = [d for d in daemons if isinstance(d, (LbServer, Announcer))]
        agent = Agent(ctx, children=children)
        announcer = next((d for d in children if isinstance(d, Announcer)), None)
        reporter = [] if announcer is None else [StatusReporter(ctx, announce_state=announcer.state_path)]
        # the agent's children before the agent: a dead node's are killed before it can drain them
        return [*(d for d in daemons if d not in children), *children, agent, *reporter]

    def node_sysctls(self, spec: LbOptions) -> dict[str, str | int]:
        # The node's own outgoing connections (to backends, readiness probes) take source ports
        # from 1024-65000; one left in FIN_WAIT by a killed LB server on its port would keep the
        # restarted server from binding it (EADDRINUSE). Its listening ports are never handed out.
        return {**super().node_sysctls(spec),
                "net.ipv4.ip_local_reserved_ports": f"{spec.port},{spec.admin_port}"}

    def configure_network(self, lab: str, topo: Topology, node: str, ns) -> None:
        mode_of(topo.scaling).configure_lb(lab, topo, node, ns)

    def problems(self, topo: Topology, name: str, spec: LbOptions) -> list[Problem]:
        problems = mode_of(topo.scaling).lb_problems(topo, name, spec)
        if spec.port == spec.admin_port:
            problems.append((f"nodes.{name}.admin_port", f"{spec.admin_port} is also the data-plane port "
                                                         "(admin must stay off the data plane)"))
        return problems

    def status(self, lab) -> dict:
        return {"announcers": announcing(lab)}

    def hazards(self, lab, node: str) -> list[Hazard]:
        if lab.topo.nodes[node].standby:    # its agent keeps it stopped: nothing to fault
            return []
        hazards = mode_of(lab.topo.scaling).lb_hazards(lab, node)
        control = [n for role in ("etcd", "redis") for n in lab.node_names(role)]
        if control:
            hazards.append(Hazard("partition", {"groups": [[node], control]}, {},
                                  "the LB keeps serving its last config; changes arrive once healed"))
        return hazards

    def fault_budget(self, lab) -> int:
        """Half the active LBs (rounded down) may fail at once: the rest carry the traffic."""
        return max(1, len(active_lbs(lab.topo)) // 2) if active_lbs(lab.topo) else 0
