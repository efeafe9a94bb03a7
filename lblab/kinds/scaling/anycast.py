"""anycast (the seed's advanced approach): the name resolves to one anycast VIP that every LB
holds on `lo`; each LB's BIRD announces it over eBGP (TCP-MD5, BFD) while its LB server is
ready, and the router spreads flows over one ECMP route with a nexthop per announcing LB.
Sessions, nexthops and convergence are the router kind's (BGP is how routers learn here)."""
from __future__ import annotations

from lblab.daemons.announcer import BgpAnnouncer
from lblab.daemons.bird import BirdRouter, BirdSpeaker
from lblab.daemons.lbserver import LbServer
from lblab.kinds.base import Hazard, bfd_floor
from lblab.kinds.scaling.base import Problem, Record, ScalingMode, add_vip_to_loopback
from lblab.kinds.scaling.registry import register
from lblab.lab import flow_affinity
from lblab.topology.model import Topology


@register
class Anycast(ScalingMode):
    name = "anycast"
    summary = "one anycast VIP announced over BGP by every healthy LB; the router spreads flows (ECMP)"

    def problems(self, topo: Topology) -> list[Problem]:
        problems = super().problems(topo)
        if not topo.nodes_of("router"):
            problems.append(("nodes", "anycast scaling needs a router node"))
        return problems

    def lb_problems(self, topo: Topology, name: str, spec) -> list[Problem]:
        where = f"nodes.{name}"
        problems = []
        if spec.asn is None:
            problems.append((f"{where}.asn", "missing required option for role lb (anycast needs BGP)"))
        if not any(topo.shared_lans(name, r) for r in topo.nodes_of("router")):
            problems.append((f"{where}.interfaces", "shares no LAN with a router (no BGP peer)"))
        return problems

    def router_problems(self, topo: Topology, name: str, spec) -> list[Problem]:
        if spec.asn is None:
            return [(f"nodes.{name}.asn", "missing required option for role router (anycast needs BGP)")]
        return []

    def records(self, topo: Topology) -> list[Record]:
        return [Record(str(topo.service.anycast_vip))]

    def lb_daemons(self, ctx):
        daemons = [BirdSpeaker(ctx), LbServer(ctx)]
        return [*daemons, BgpAnnouncer(ctx)]     # a standby's: its agent holds it

    def router_daemons(self, ctx):
        return [BirdRouter(ctx)]

    def configure_lb(self, lab: str, topo: Topology, node: str, ns) -> None:
        add_vip_to_loopback(topo, ns)

    def configure_router(self, lab: str, topo: Topology, node: str, ns) -> None:
        if topo.nodes[node].flow_affinity:
            flow_affinity.configure(lab, topo, node, ns)

    def lb_hazards(self, lab, node: str) -> list[Hazard]:
        topo = lab.topo
        lbserver = {"node": node, "daemon": "lbserver"}
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
        return hazards
