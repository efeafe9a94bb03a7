"""Flow affinity on an ECMP router: conntrack remembers which LB a flow started on, and later
packets of that flow are policy-routed to it, so a change of the nexthop set (an LB leaving or
returning) never moves an established connection (templates/router-affinity.nft.j2 says why)."""
from __future__ import annotations

from lblab.lab import netns
from lblab.lab.templates import render
from lblab.topology.model import Topology

TABLE_BASE = 100


class AffinityError(RuntimeError):
    pass


def targets(topo: Topology, router: str) -> list[dict]:
    """Each LB the router reaches directly: its address there, fwmark and routing table."""
    found = []
    for mark, lb in enumerate(topo.nodes_of("lb"), start=1):
        address = topo.address_towards(lb, router)
        if address is not None:
            found.append({"node": lb, "address": str(address), "mark": mark, "table": TABLE_BASE + mark})
    return found


def configure(lab: str, topo: Topology, router: str, ns) -> None:
    lbs = targets(topo, router)
    if not lbs:
        return
    vip = str(topo.service.anycast_vip)
    ruleset = render("router-affinity.nft.j2", lab=lab, node=router, vip=vip, lbs=lbs, table_base=TABLE_BASE)
    result = netns.run(netns.namespace_name(lab, router), ["nft", "-f", "-"], input=ruleset)
    if result.returncode != 0:
        raise AffinityError(f"flow affinity on {router}: nft: {result.stderr.strip()}")
    for target in lbs:
        ns.rule("add", fwmark=target["mark"], fwmask=0xFFFFFFFF, table=target["table"], priority=target["table"])
        ns.route("add", dst=f"{vip}/32", gateway=target["address"], table=target["table"])
