"""Routers: BIRD learning the anycast VIP from every LB over eBGP (TCP-MD5, BFD, import filter)
and installing one ECMP route, with per-flow affinity so established flows stay on their LB."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from lbapp.birdctl import session_summary, tcp_md5_drops
from lblab.daemons.bird import BirdRouter
from lblab.kinds.base import Check, NodeKind, Problem
from lblab.kinds.lb import active_lbs, announcing
from lblab.kinds.registry import register
from lblab.lab import flow_affinity, netns
from lblab.topology.model import NodeOptions, Topology

BIRD_ERRORS = (OSError, ConnectionError, RuntimeError)
MD5_SAMPLE_S = 0.5
LIMIT_SHUTDOWN = "Route limit exceeded"


class RouterOptions(NodeOptions):
    role: Literal["router"]
    asn: int = Field(ge=1, le=4_294_967_294)
    # keep established flows on the LB they started on when the ECMP nexthop set changes
    flow_affinity: bool = True


def vip_prefix(topo: Topology) -> str:
    return f"{topo.service.anycast_vip}/32"


def bgp_sessions(lab, router: str) -> dict[str, dict[str, str]]:
    """LB node -> the state of the router's BGP session to it."""
    protocols = BirdRouter(lab.ctx(router)).control().protocols()
    return {lb: protocols[BirdRouter.peer_protocol(lb)] for lb in lab.node_names("lb")
            if BirdRouter.peer_protocol(lb) in protocols}


def session_details(lab, router: str) -> dict[str, str]:
    """LB node -> one line on the router's session to it; for a session that is not up, why
    (a max-prefix shutdown, the last error, or TCP-MD5 drops counted by the router's kernel)."""
    bird = BirdRouter(lab.ctx(router))
    statuses = {lb: bird.control().protocol_status(BirdRouter.peer_protocol(lb)) for lb in lab.node_names("lb")}
    drops: dict[str, int] = {}
    if any(s is not None and not s.established for s in statuses.values()):
        drops = md5_drops_since(lab, bird, MD5_SAMPLE_S)
    return {lb: session_summary(s, drops) for lb, s in statuses.items() if s is not None}


def md5_drops_since(lab, bird: BirdRouter, seconds: float) -> dict[str, int]:
    """How much the router namespace's TCP-MD5 drop counters grew over `seconds`."""
    main = lab.process_of(bird)
    if main is None:
        return {}
    path = Path(f"/proc/{main.pid}/net/netstat")
    try:
        before = tcp_md5_drops(path.read_text())
        time.sleep(seconds)
        after = tcp_md5_drops(path.read_text())
    except OSError:
        return {}
    return {name: after[name] - before.get(name, 0) for name in after}


def filtered_routes(lab, router: str) -> list[str]:
    """Prefixes the router received over BGP and its import filter rejected."""
    return BirdRouter(lab.ctx(router)).control().route_prefixes("show route filtered")


@register
class Router(NodeKind):
    role = "router"
    options = RouterOptions
    summary = "BIRD: eBGP + BFD to every LB, one ECMP route for the anycast VIP"
    sysctls = {"net.ipv4.ip_forward": 1, "net.ipv4.fib_multipath_hash_policy": 1}

    def daemons(self, ctx):
        return [BirdRouter(ctx)]

    def configure_network(self, lab: str, topo: Topology, node: str, ns) -> None:
        if topo.nodes[node].flow_affinity and topo.scaling == "anycast":
            flow_affinity.configure(lab, topo, node, ns)

    def problems(self, topo: Topology, name: str, spec: RouterOptions) -> list[Problem]:
        return [(f"nodes.{lb}.asn", f"{lb_spec.asn} is also the ASN of router {name} (the sessions are eBGP)")
                for lb, lb_spec in topo.nodes_of("lb").items()
                if lb_spec.asn == spec.asn and topo.shared_lans(name, lb)]

    def converge_checks(self, lab) -> list[Check]:
        topo = lab.topo
        results = []
        lbs = active_lbs(topo)
        for router in lab.node_names("router"):
            try:
                sessions = bgp_sessions(lab, router)
                down = [lb for lb in lbs if sessions.get(lb, {}).get("info") != "Established"]
                results.append(Check(f"bgp {router}", not down,
                                     "all Established" if not down else f"not Established: {', '.join(down)}",
                                     lab.logs_of([(router, "bird")] + [(lb, "bird") for lb in down])))
            except BIRD_ERRORS as exc:
                results.append(Check(f"bgp {router}", False, f"BIRD: {exc}"))
            hops = lab.route_nexthops(router, vip_prefix(topo))
            expected = sorted(str(topo.address_towards(lb, router)) for lb in lbs
                              if topo.shared_lans(lb, router))
            results.append(Check(f"ecmp {router}", hops == expected,
                                 f"{vip_prefix(topo)} via {', '.join(hops) or 'nothing'} (want {', '.join(expected)})",
                                 lab.logs_of([(lb, d) for lb in lbs for d in ("announcer", "lbserver")])))
        return results

    def heal(self, lab) -> list[str]:
        """Re-enable LB sessions a max-prefix limit shut down (the limit's action is disable)."""
        done = []
        for router in lab.node_names("router"):
            control = BirdRouter(lab.ctx(router)).control()
            for lb in lab.node_names("lb"):
                protocol = BirdRouter.peer_protocol(lb)
                try:
                    status = control.protocol_status(protocol)
                    shut = status is not None and status.state == "down" and \
                        LIMIT_SHUTDOWN in status.info + (status.last_error or "")
                    if shut:
                        control.command(f"enable {protocol}")
                        done.append(f"re-enabled {protocol} on {router} (max-prefix shutdown)")
                except BIRD_ERRORS:
                    continue
        return done

    def status(self, lab) -> dict:
        prefix = vip_prefix(lab.topo)
        data: dict = {"bgp": {}, "bgp_detail": {}, "ecmp": {}, "filtered_routes": {}}
        for router in lab.node_names("router"):
            try:
                data["bgp"][router] = bgp_sessions(lab, router)
                data["bgp_detail"][router] = session_details(lab, router)
            except BIRD_ERRORS as exc:
                data["bgp"][router] = {"error": str(exc)}
            data["ecmp"][router] = {"prefix": prefix, "nexthops": netns.route_nexthops(lab.ns(router), prefix)}
            try:
                data["filtered_routes"][router] = filtered_routes(lab, router)
            except BIRD_ERRORS as exc:
                data["filtered_routes"][router] = {"error": str(exc)}
        return data

    def render_status(self, data: dict, console) -> None:
        for router, sessions in data["bgp"].items():
            if "error" in sessions:
                console.print(f"BGP on {router}: [red]{sessions['error']}[/]")
                continue
            parts = []
            for lb, proto in sessions.items():
                established = proto.get("info") == "Established"
                state = data.get("announcers", {}).get(lb)
                note = "" if state is None else (" announcing" if state else " withdrawn")
                parts.append(f"[{'green' if established else 'red'}]{lb} {proto.get('info') or proto.get('state')}[/]{note}")
            console.print(f"BGP on {router}: " + ", ".join(parts))
            for lb, line in data.get("bgp_detail", {}).get(router, {}).items():
                if not line.startswith("Established"):
                    console.print(f"  {router} ↔ {lb}: [yellow]{line}[/]")
        for router, route in data["ecmp"].items():
            hops = route["nexthops"]
            console.print(f"ECMP on {router}: {route['prefix']} via "
                          + (", ".join(hops) if hops else "[red]no route[/]") + f" ({len(hops)} nexthops)")
        for router, prefixes in data["filtered_routes"].items():
            if isinstance(prefixes, list) and prefixes:
                console.print(f"rejected by {router}'s import filter: [yellow]{', '.join(prefixes)}[/]")
