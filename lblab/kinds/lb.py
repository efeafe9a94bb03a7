"""LB nodes: lbapp's LB server, a BIRD speaker, and the announcer that makes the speaker announce
the anycast VIP only while the local LB server is ready, with a status reporter keeping the
announcer's state in etcd for the console. The node's agent runs the LB server and the
announcer while the node is wanted active (a standby LB starts with neither) and not drained."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.agent import Agent
from lblab.daemons.announcer import Announcer
from lblab.daemons.bird import BirdSpeaker
from lblab.daemons.lbserver import LbServer
from lblab.daemons.statusreport import StatusReporter
from lblab.kinds.backend import LISTEN_BACKLOG
from lblab.kinds.base import NodeKind, Problem
from lblab.kinds.client import MANY_CONNECTIONS
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions, Topology


class LbOptions(NodeOptions):
    role: Literal["lb"]
    asn: int | None = Field(default=None, ge=1, le=4_294_967_294)
    standby: bool = False
    port: int = Field(default=80, ge=1, le=65535)
    admin_port: int = Field(default=9100, ge=1, le=65535)


def active_lbs(topo: Topology) -> list[str]:
    """LB nodes that announce the VIP from bring-up (not standby)."""
    return [name for name, spec in topo.nodes_of("lb").items() if not spec.standby]


def announcing(lab) -> dict[str, bool | None]:
    """Active LB -> whether its announcer currently announces the VIP (None: unknown)."""
    return {lb: Announcer(lab.ctx(lb)).announcing() for lb in active_lbs(lab.topo)}


@register
class Lb(NodeKind):
    role = "lb"
    options = LbOptions
    summary = "lbapp LB server + BIRD speaker announcing the anycast VIP while healthy"
    min_count = 1
    sysctls = {**LISTEN_BACKLOG, **MANY_CONNECTIONS}   # and many connections to backends

    def daemons(self, ctx):
        announcer = Announcer(ctx)
        agent = Agent(ctx, children=[LbServer(ctx), announcer])
        # the agent's children first: a dead node's are killed before the agent can drain them
        return [BirdSpeaker(ctx), *agent.children, agent,
                StatusReporter(ctx, announce_state=announcer.state_path)]

    def configure_network(self, lab: str, topo: Topology, node: str, ns) -> None:
        lo = ns.link_lookup(ifname="lo")[0]
        ns.addr("add", index=lo, address=str(topo.service.anycast_vip), prefixlen=32)

    def problems(self, topo: Topology, name: str, spec: LbOptions) -> list[Problem]:
        where = f"nodes.{name}"
        problems = []
        if topo.scaling == "anycast" and spec.asn is None:
            problems.append((f"{where}.asn", "missing required option for role lb (anycast needs BGP)"))
        if spec.port == spec.admin_port:
            problems.append((f"{where}.admin_port", f"{spec.admin_port} is also the data-plane port "
                                                    "(admin must stay off the data plane)"))
        if topo.scaling == "anycast" and not any(topo.shared_lans(name, r) for r in topo.nodes_of("router")):
            problems.append((f"{where}.interfaces", "shares no LAN with a router (no BGP peer)"))
        return problems

    def topology_problems(self, topo: Topology) -> list[Problem]:
        if topo.scaling == "anycast" and not topo.nodes_of("router"):
            return [("nodes", "anycast scaling needs a router node")]
        return []

    def status(self, lab) -> dict:
        return {"announcers": announcing(lab)}
