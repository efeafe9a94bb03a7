"""LB nodes: lbapp's LB server, a BIRD speaker, and the announcer that makes the speaker announce
the anycast VIP only while the local LB server is ready, with a status reporter keeping the
announcer's state in etcd for the console. A standby LB runs neither."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from lblab.daemons.announcer import Announcer
from lblab.daemons.bird import BirdSpeaker
from lblab.daemons.lbserver import LbServer
from lblab.daemons.statusreport import StatusReporter
from lblab.kinds.backend import LISTEN_BACKLOG
from lblab.kinds.base import Hazard, NodeKind, Problem, bfd_floor
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
        daemons = [BirdSpeaker(ctx), LbServer(ctx)]
        if not ctx.spec.standby:
            announcer = Announcer(ctx)
            daemons += [announcer, StatusReporter(ctx, announce_state=announcer.state_path)]
        return daemons

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

    def hazards(self, lab, node: str) -> list[Hazard]:
        topo = lab.topo
        lbserver = {"node": node, "daemon": "lbserver"}
        if topo.nodes[node].standby:    # not in the route: users never reach it
            return [Hazard("kill", lbserver)]
        announce = topo.announce
        withdraw = (announce.interval_ms * announce.fall + announce.timeout_ms) / 1000
        why_withdraw = (f"the announcer withdraws after {announce.fall} failed readiness probes "
                        f"({announce.interval_ms} ms apart, {announce.timeout_ms} ms timeout)")
        bfd = bfd_floor(topo)
        why_bfd = f"the router's BFD ({topo.bfd.interval_ms} ms x {topo.bfd.multiplier}) drops the silent LB"
        hazards = [
            Hazard("kill", lbserver, {"http": withdraw}, why_withdraw),
            Hazard("stop", lbserver, {"http": withdraw}, why_withdraw),
            Hazard("node_down", {"node": node}, {"http": bfd}, why_bfd),
            Hazard("kill", {"node": node, "daemon": "bird"}, {"http": bfd},
                   "the router sees the BGP session close (or BFD time out) and drops the LB"),
            Hazard("stop", {"node": node, "daemon": "bird"}, {"http": bfd}, why_bfd),
            Hazard("kill", {"node": node, "daemon": "announcer"}, {},
                   "BIRD keeps the announcement; a new announcer re-asserts it"),
            Hazard("loss", {"node": node, "percent": 1}, {"http": 0.0},
                   "1% of the node's packets dropped: requests through it may fail while it lasts",
                   while_held=True),
        ]
        uplink = next((lan for router in topo.nodes_of("router") for lan in topo.shared_lans(node, router)), None)
        if uplink is not None:
            hazards.append(Hazard("link_down", {"node": node, "peer": uplink}, {"http": bfd}, why_bfd))
        control = [n for role in ("etcd", "redis") for n in lab.node_names(role)]
        if control:
            hazards.append(Hazard("partition", {"groups": [[node], control]}, {},
                                  "the LB keeps serving its last config; changes arrive once healed"))
        return hazards

    def fault_budget(self, lab) -> int:
        """Half the active LBs (rounded down) may fail at once: the rest carry the traffic."""
        return max(1, len(active_lbs(lab.topo)) // 2) if active_lbs(lab.topo) else 0
