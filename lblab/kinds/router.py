"""Routers: forward between the lab's LANs, and whatever the scaling mode adds. With anycast,
BIRD learns the anycast VIP from every LB over eBGP (TCP-MD5, BFD, import filter) and installs
one ECMP route, with per-flow affinity so established flows stay on their LB; routers sharing a
LAN (sites joined through a core) pass the VIP on to each other, and a router with `nearest`
keeps one table per client LAN that prefers that LAN's nearest site."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pyroute2 import NetNS

from lbapp.birdctl import bfd_sessions, session_summary, tcp_md5_drops
from lblab.daemons.bird import BirdRouter, nearest_tables
from lblab.kinds.base import Check, NodeKind, Problem
from lblab.kinds.registry import register
from lblab.kinds.scaling import active_lbs, mode_of
from lblab.kinds.scaling.base import vip_prefix
from lblab.lab import netns
from lblab.topology.model import NodeOptions, Topology

BIRD_ERRORS = (OSError, ConnectionError, RuntimeError)
MD5_SAMPLE_S = 0.5
LIMIT_SHUTDOWN = "Route limit exceeded"


class RouterOptions(NodeOptions):
    role: Literal["router"]
    asn: int | None = Field(default=None, ge=1, le=4_294_967_294)
    # keep established flows on the LB they started on when the ECMP nexthop set changes
    flow_affinity: bool = True
    # client LAN -> the router whose routes traffic from that LAN prefers (its nearest site)
    nearest: dict[str, str] = Field(default_factory=dict)


def bird_routers(lab) -> list[BirdRouter]:
    """The routers that run BIRD (the scaling mode routes with BGP)."""
    return [d for node in lab.node_names("router") for d in lab.daemons(node) if isinstance(d, BirdRouter)]


def expected_sessions(bird: BirdRouter) -> list[dict]:
    """The peers whose sessions must be Established: active LBs and routers (a standby LB's may
    be down)."""
    active = set(active_lbs(bird.ctx.topo))
    return [p for p in bird.peers() if p["role"] == "router" or p["node"] in active]


def expected_nexthops(bird: BirdRouter) -> list[str]:
    """The VIP route's nexthops once converged: this router's own active LBs, or, with none,
    every neighbouring router that has some (a core router's sites)."""
    topo = bird.ctx.topo
    lbs = [p["address"] for p in expected_sessions(bird) if p["role"] == "lb"]
    if lbs:
        return sorted(lbs)
    return sorted(p["address"] for p in bird.peers() if p["role"] == "router" and any(
        topo.shared_lans(p["node"], lb) for lb in active_lbs(topo)))


def bgp_sessions(lab, router: str) -> dict[str, dict[str, str]]:
    """Peer node -> the `show protocols` row of the router's session to it."""
    bird = BirdRouter(lab.ctx(router))
    protocols = bird.control().protocols()
    return {p["node"]: protocols[p["protocol"]] for p in bird.peers() if p["protocol"] in protocols}


def filtered_routes(lab, router: str) -> list[str]:
    """Prefixes the router received over BGP and its import filter rejected."""
    return BirdRouter(lab.ctx(router)).control().route_prefixes("show route filtered")


def session_details(lab, bird: BirdRouter) -> dict[str, str]:
    """Peer node -> one line on the session to it; for a session that is not up, why (a
    max-prefix shutdown, the last error, or TCP-MD5 drops counted by the router's kernel)."""
    control = bird.control()
    statuses = {p["node"]: control.protocol_status(p["protocol"]) for p in bird.peers()}
    drops: dict[str, int] = {}
    if any(s is not None and not s.established for s in statuses.values()):
        drops = md5_drops_since(lab, bird, MD5_SAMPLE_S)
    return {peer: session_summary(s, drops) for peer, s in statuses.items() if s is not None}


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


def nearest_routes(lab, bird: BirdRouter) -> dict[str, dict]:
    """Client LAN -> the VIP route in its nearest table: nexthops, and the address of the
    nearest router (where they go while its site is up)."""
    prefix = vip_prefix(lab.topo)
    return {t["lan"]: {"router": t["router"], "preferred": t["preferred_address"],
                       "nexthops": netns.route_nexthops(bird.ctx.ns, prefix, table=t["kernel_table"])}
            for t in bird.nearest_tables()}


def install_nearest_rules(topo: Topology, router: str, ns) -> None:
    """Traffic from each client LAN with a nearest router looks up that LAN's table first (a
    table without the destination falls through to the main table)."""
    for table in nearest_tables(topo, router):
        network, length = table["subnet"].split("/")
        ns.rule("add", src=network, src_len=int(length), table=table["kernel_table"],
                priority=table["rule_priority"])


@register
class Router(NodeKind):
    role = "router"
    options = RouterOptions
    summary = "forwards; with anycast, BIRD: eBGP + BFD to every LB, one ECMP route for the VIP"
    sysctls = {"net.ipv4.ip_forward": 1, "net.ipv4.fib_multipath_hash_policy": 1}

    def daemons(self, ctx):
        return mode_of(ctx.topo.scaling).router_daemons(ctx)

    def configure_network(self, lab: str, topo: Topology, node: str, ns: NetNS) -> None:
        mode_of(topo.scaling).configure_router(lab, topo, node, ns)
        install_nearest_rules(topo, node, ns)

    def problems(self, topo: Topology, name: str, spec: RouterOptions) -> list[Problem]:
        where = f"nodes.{name}"
        problems = mode_of(topo.scaling).router_problems(topo, name, spec)
        problems += [(f"nodes.{peer}.asn", f"{other.asn} is also the ASN of router {name} (the sessions are eBGP)")
                    for role in ("lb", "router") for peer, other in topo.nodes_of(role).items()
                    if peer != name and spec.asn is not None and other.asn == spec.asn
                    and topo.shared_lans(name, peer)]
        for lan, router in spec.nearest.items():
            if lan not in spec.interfaces:
                problems.append((f"{where}.nearest.{lan}", f"{name} is not on LAN {lan}"))
            if router not in topo.nodes_of("router") or router == name:
                problems.append((f"{where}.nearest.{lan}", f"{router!r} is not another router node"))
            elif not topo.shared_lans(name, router):
                problems.append((f"{where}.nearest.{lan}", f"{router} shares no LAN with {name} (no BGP session)"))
        return problems

    def converge_checks(self, lab) -> list[Check]:
        results = []
        prefix = vip_prefix(lab.topo)
        for bird in bird_routers(lab):
            router = bird.ctx.node
            peers = expected_sessions(bird)
            try:
                sessions = bgp_sessions(lab, router)
                down = [p["node"] for p in peers if sessions.get(p["node"], {}).get("info") != "Established"]
                # BGP comes up before BFD does (BIRD sends BFD once a second until it is up): an
                # LB lost meanwhile would be noticed only at the BGP hold time.
                bfd = bfd_sessions(bird.control().command("show bfd sessions"))
                unprotected = [p["node"] for p in peers if p["node"] not in down
                               and bfd.get(p["address"], {}).get("state") != "Up"]
                detail = ("all Established, BFD up" if not down and not unprotected else
                          "; ".join(part for part in (
                              f"not Established: {', '.join(down)}" if down else "",
                              f"BFD not up: {', '.join(unprotected)}" if unprotected else "") if part))
                results.append(Check(f"bgp {router}", not down and not unprotected, detail,
                                     lab.logs_of([(router, "bird")] + [(n, "bird") for n in down + unprotected])))
            except BIRD_ERRORS as exc:
                results.append(Check(f"bgp {router}", False, f"BIRD: {exc}"))
            hops, expected = lab.route_nexthops(router, prefix), expected_nexthops(bird)
            results.append(Check(f"ecmp {router}", hops == expected,
                                 f"{prefix} via {', '.join(hops) or 'nothing'} (want {', '.join(expected)})",
                                 lab.logs_of([(p["node"], d) for p in peers for d in ("announcer", "lbserver")])))
            for lan, route in nearest_routes(lab, bird).items():
                ok = route["nexthops"] == [route["preferred"]]
                results.append(Check(f"nearest {router} {lan}", ok,
                                     f"{prefix} from {lan} via {', '.join(route['nexthops']) or 'nothing'} "
                                     f"(want {route['router']} {route['preferred']})"))
        return results

    def heal(self, lab) -> list[str]:
        """Re-enable sessions a max-prefix limit shut down (the limit's action is disable)."""
        done = []
        for bird in bird_routers(lab):
            control = bird.control()
            for peer in bird.peers():
                protocol = peer["protocol"]
                try:
                    status = control.protocol_status(protocol)
                    shut = status is not None and status.state == "down" and \
                        LIMIT_SHUTDOWN in status.info + (status.last_error or "")
                    if shut:
                        control.command(f"enable {protocol}")
                        done.append(f"re-enabled {protocol} on {bird.ctx.node} (max-prefix shutdown)")
                except BIRD_ERRORS:
                    continue
        return done

    def status(self, lab) -> dict:
        prefix = vip_prefix(lab.topo)
        data: dict = {"bgp": {}, "bgp_detail": {}, "bfd": {}, "ecmp": {}, "nearest": {}, "filtered_routes": {}}
        for bird in bird_routers(lab):
            router = bird.ctx.node
            try:
                data["bgp"][router] = bgp_sessions(lab, router)
                data["bgp_detail"][router] = session_details(lab, bird)
                by_address = {p["address"]: p["node"] for p in bird.peers()}
                data["bfd"][router] = {by_address.get(address, address): session for address, session
                                       in bfd_sessions(bird.control().command("show bfd sessions")).items()}
                data["filtered_routes"][router] = filtered_routes(lab, router)
            except BIRD_ERRORS as exc:
                data["bgp"][router] = {"error": str(exc)}
            data["ecmp"][router] = {"prefix": prefix, "nexthops": netns.route_nexthops(lab.ns(router), prefix)}
            if bird.nearest_tables():
                data["nearest"][router] = nearest_routes(lab, bird)
        return data

    def render_status(self, data: dict, console) -> None:
        for router, sessions in data.get("bgp", {}).items():
            if "error" in sessions:
                console.print(f"BGP on {router}: [red]{sessions['error']}[/]")
                continue
            bfd = data.get("bfd", {}).get(router, {})
            parts = []
            for peer, proto in sessions.items():
                established = proto.get("info") == "Established"
                state = data.get("announcers", {}).get(peer)
                note = "" if state is None else (" announcing" if state else " withdrawn")
                note += f", BFD {bfd[peer]['state']}" if peer in bfd else ""
                parts.append(f"[{'green' if established else 'red'}]{peer} {proto.get('info') or proto.get('state')}[/]{note}")
            console.print(f"BGP on {router}: " + ", ".join(parts))
            for peer, line in data.get("bgp_detail", {}).get(router, {}).items():
                if not line.startswith("Established"):
                    console.print(f"  {router} ↔ {peer}: [yellow]{line}[/]")
        for router, route in data.get("ecmp", {}).items():
            hops = route["nexthops"]
            console.print(f"ECMP on {router}: {route['prefix']} via "
                          + (", ".join(hops) if hops else "[red]no route[/]") + f" ({len(hops)} nexthops)")
        for router, tables in data.get("nearest", {}).items():
            for lan, route in tables.items():
                hops = ", ".join(route["nexthops"]) or "[red]no route[/]"
                where = "nearest site" if route["nexthops"] == [route["preferred"]] else "[yellow]another site[/]"
                console.print(f"  from {lan} on {router}: via {hops} ({where}; nearest is {route['router']})")
        for router, prefixes in data.get("filtered_routes", {}).items():
            if isinstance(prefixes, list) and prefixes:
                console.print(f"rejected by {router}'s import filter: [yellow]{', '.join(prefixes)}[/]")
