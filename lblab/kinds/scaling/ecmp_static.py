"""ecmp-static (the seed's `ip route ... nexthop via ... nexthop via` example, taken literally):
every LB holds the VIP on `lo`, and the router has one static multipath route to them. No BGP and
no health: a dead LB keeps its share of new flows until someone edits the route by hand."""
from __future__ import annotations

from pyroute2 import NetNS

from lblab.daemons.lbserver import LbServer
from lblab.kinds.base import Check, not_ready
from lblab.kinds.scaling.base import (Problem, Record, ScalingMode, active_lbs, add_vip_to_loopback,
                                      vip_prefix)
from lblab.kinds.scaling.registry import register
from lblab.lab import netns
from lblab.topology.model import Topology


def nexthops(topo: Topology, router: str) -> dict[str, str]:
    """Active LB -> its address on a LAN it shares with the router: the route's nexthops."""
    found = {}
    for lb in active_lbs(topo):
        address = topo.address_towards(lb, router)
        if address is not None:
            found[lb] = str(address)
    return found


def install_route(topo: Topology, router: str, ns) -> None:
    hops = nexthops(topo, router)
    if hops:
        ns.route("replace", dst=vip_prefix(topo), multipath=[{"gateway": a} for a in hops.values()])


@register
class EcmpStatic(ScalingMode):
    name = "ecmp-static"
    summary = "one VIP on every LB's lo and a static multipath route to them: no BGP, no health"

    def problems(self, topo: Topology) -> list[Problem]:
        problems = super().problems(topo)
        routers = list(topo.nodes_of("router"))
        if not routers:
            problems.append(("nodes", "ecmp-static scaling needs a router node (it holds the static route)"))
        return problems

    def lb_problems(self, topo: Topology, name: str, spec) -> list[Problem]:
        routers = list(topo.nodes_of("router"))
        if routers and not spec.standby and not any(topo.shared_lans(name, r) for r in routers):
            return [(f"nodes.{name}.interfaces", "shares no LAN with a router: ecmp-static needs the router "
                                                 "and the LBs on one LAN (a static nexthop is a neighbour)")]
        return []

    def records(self, topo: Topology) -> list[Record]:
        return [Record(str(topo.service.anycast_vip))]

    def lb_daemons(self, ctx):
        return [LbServer(ctx)]

    def configure_lb(self, lab: str, topo: Topology, node: str, ns) -> None:
        add_vip_to_loopback(topo, ns)

    def configure_router(self, lab: str, topo: Topology, node: str, ns) -> None:
        install_route(topo, node, ns)

    def _routers(self, lab) -> list[str]:
        return [r for r in lab.node_names("router") if nexthops(lab.topo, r)]

    def converge_checks(self, lab) -> list[Check]:
        results = []
        prefix = vip_prefix(lab.topo)
        for router in self._routers(lab):
            want = sorted(nexthops(lab.topo, router).values())
            hops = lab.route_nexthops(router, prefix)
            results.append(Check(f"static ecmp {router}", hops == want,
                                 f"{prefix} via {', '.join(hops) or 'nothing'} (want {', '.join(want)})"))
        return results

    def heal(self, lab) -> list[str]:
        """A link or node fault on the router takes the route with it: put it back."""
        done = []
        for router in self._routers(lab):
            want = sorted(nexthops(lab.topo, router).values())
            if lab.route_nexthops(router, vip_prefix(lab.topo)) != want:
                with NetNS(lab.ns(router)) as ns:
                    install_route(lab.topo, router, ns)
                done.append(f"static route {vip_prefix(lab.topo)} on {router} put back")
        return done

    def status(self, lab) -> dict:
        unready = not_ready(lab, "lbserver")
        data = {}
        for router in self._routers(lab):
            data[router] = {"prefix": vip_prefix(lab.topo),
                            "nexthops": netns.route_nexthops(lab.ns(router), vip_prefix(lab.topo)),
                            "lbs": {lb: address for lb, address in nexthops(lab.topo, router).items()},
                            "not_ready": {lb: why for lb, why in unready.items()}}
        return {"static_ecmp": data}

    def render_status(self, data: dict, console) -> None:
        for router, route in data.get("static_ecmp", {}).items():
            hops = route["nexthops"]
            console.print(f"static ECMP on {router}: {route['prefix']} via "
                          + (", ".join(hops) if hops else "[red]no route[/]")
                          + f" ({len(hops)} nexthops; no health checks)")
            for lb, why in route["not_ready"].items():
                if lb in route["lbs"]:
                    console.print(f"  [yellow]{lb} ({route['lbs'][lb]}) is not ready ({why}) and still gets "
                                  "its share of new flows[/]")
