"""dns (the seed's simple approach): the name resolves to every healthy LB server's own address,
with weighted answers. The answers are data in etcd, not a template: each LB's announcer keeps
its record there on a lease while its LB server is ready (an orchestrator may add and remove
records the same way), and a zone writer on each DNS node rewrites the zone CoreDNS rereads
every 100 ms. Clients cache answers for the TTL, so a dead LB costs up to lease TTL + DNS TTL."""
from __future__ import annotations

from lbapp.keys import dns_records_prefix
from lblab.daemons.announcer import DnsAnnouncer
from lblab.daemons.lbserver import LbServer
from lblab.daemons.zonewriter import ZoneWriter
from lblab.kinds.scaling.base import Problem, Record, ScalingMode, active_lbs, lb_service_address
from lblab.kinds.scaling.registry import register
from lblab.topology.model import Topology

LEASE_TTL_S = 2      # etcd's smallest lease with its default election timeout (1 s)


@register
class Dns(ScalingMode):
    name = "dns"
    summary = "the name resolves to every healthy LB's own address (records in etcd, weighted answers)"

    def problems(self, topo: Topology) -> list[Problem]:
        problems = super().problems(topo)
        if not topo.nodes_of("etcd"):
            problems.append(("nodes", "dns scaling keeps the LB records in etcd: it needs an etcd node"))
        return problems

    def lb_problems(self, topo: Topology, name: str, spec) -> list[Problem]:
        if lb_service_address(topo, name) is None:
            return [(f"nodes.{name}.interfaces", "shares no LAN with a router or a client: clients could not "
                                                 "reach its address")]
        return []

    def records(self, topo: Topology) -> list[Record]:
        return [Record(lb_service_address(topo, lb)) for lb in active_lbs(topo)]

    def lb_daemons(self, ctx):
        # a standby's announcer too: its agent holds it
        return [LbServer(ctx), DnsAnnouncer(ctx, lb_service_address(ctx.topo, ctx.node), lease_ttl_s=LEASE_TTL_S)]

    def dns_daemons(self, ctx):
        return [ZoneWriter(ctx)]

    def status(self, lab) -> dict:
        writers = {}
        for node in lab.node_names("dns"):
            state = ZoneWriter(lab.ctx(node)).state()
            writers[node] = state if state is not None else {"error": "no zone written yet"}
        return {"dns_records": {"prefix": dns_records_prefix(lab.topo.service.lb_id), "zone_writers": writers}}

    def render_status(self, data: dict, console) -> None:
        section = data.get("dns_records")
        if not section:
            return
        for node, state in section["zone_writers"].items():
            if "error" in state:
                console.print(f"zone on {node}: [red]{state['error']}[/]")
                continue
            answers = ", ".join(f"{a} (weight {w})" for a, w in state["answers"].items()) or "[red]no LB[/]"
            console.print(f"zone on {node} (serial {state['serial']}, from etcd {section['prefix']}): {answers}")
            for key, why in state.get("rejected", {}).items():
                console.print(f"  [yellow]left out {key}: {why}[/]")
