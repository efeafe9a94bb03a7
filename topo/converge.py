"""What "converged" means for a lab, measured from the real state of its daemons and kernels."""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass

from pyroute2 import NetNS

from topo import probes
from topo.daemons.bird import BirdRouter
from topo.daemons.controlplane import Prometheus
from topo.daemons.lbapp import Announcer


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    logs: tuple[str, ...] = ()     # where to look when it fails


def route_nexthops(lab, router: str, prefix: str) -> list[str]:
    """Gateways of the kernel route for prefix in router's main table (one per ECMP nexthop)."""
    net = ipaddress.ip_network(prefix)
    gateways: list[str] = []
    with NetNS(lab.ns(router)) as ns:
        for route in ns.get_routes(family=socket.AF_INET, table=254):
            if route.get_attr("RTA_DST") != str(net.network_address) or route["dst_len"] != net.prefixlen:
                continue
            multipath = route.get_attr("RTA_MULTIPATH")
            if multipath:
                gateways += [hop.get_attr("RTA_GATEWAY") for hop in multipath]
            elif route.get_attr("RTA_GATEWAY"):
                gateways.append(route.get_attr("RTA_GATEWAY"))
    return sorted(g for g in gateways if g)


def filtered_routes(lab, router: str) -> list[str]:
    """Prefixes the router received over BGP and its import filter rejected."""
    return BirdRouter(lab.ctx(router)).control().route_prefixes("show route filtered")


def bgp_sessions(lab, router: str) -> dict[str, dict[str, str]]:
    """LB node -> BIRD protocol state on the router."""
    bird = BirdRouter(lab.ctx(router))
    protocols = bird.control().protocols()
    sessions = {}
    for lb in lab.node_names("lb"):
        proto = protocols.get(BirdRouter.peer_protocol(lb))
        if proto:
            sessions[lb] = proto
    return sessions


def dns_vip_holders(lab) -> list[str]:
    vip = lab.dns_vip
    if vip is None:
        return []
    holders = []
    for node in lab.node_names("dns"):
        with NetNS(lab.ns(node)) as ns:
            if any(a.get_attr("IFA_ADDRESS") == vip for a in ns.get_addr(family=socket.AF_INET)):
                holders.append(node)
    return holders


def probe_node(lab) -> str:
    clients = lab.node_names("client")
    return clients[0] if clients else lab.node_names("router")[0]


def checks(lab) -> list[Check]:
    topo = lab.topo
    results: list[Check] = []
    vip = f"{topo.service.anycast_vip}/32"
    announcing = [lb for lb in topo.active_lbs()]
    for router in lab.node_names("router"):
        try:
            sessions = bgp_sessions(lab, router)
            down = [lb for lb in announcing if sessions.get(lb, {}).get("info") != "Established"]
            results.append(Check(f"bgp {router}", not down,
                                 "all Established" if not down else f"not Established: {', '.join(down)}",
                                 _logs(lab, [(router, "bird")] + [(lb, "bird") for lb in down])))
        except (OSError, ConnectionError, RuntimeError) as exc:
            results.append(Check(f"bgp {router}", False, f"BIRD: {exc}"))
        hops = route_nexthops(lab, router, vip)
        expected = sorted(_lb_edge_address(lab, lb, router) for lb in announcing)
        results.append(Check(f"ecmp {router}", hops == expected,
                             f"{vip} via {', '.join(hops) or 'nothing'} (want {', '.join(expected)})",
                             _logs(lab, [(lb, d) for lb in announcing for d in ("announcer", "lbserver")])))
    if lab.dns_vip:
        holders = dns_vip_holders(lab)
        results.append(Check("vrrp", len(holders) == 1,
                             f"DNS VIP {lab.dns_vip} on {', '.join(holders) or 'no node'}",
                             _logs(lab, [(n, "keepalived") for n in lab.node_names("dns")])))
        try:
            answer = probes.dns_a(lab.ns(probe_node(lab)), lab.dns_vip, topo.service.name, timeout=0.5)
            want = [str(topo.service.anycast_vip)]
            results.append(Check("dns", answer == want, f"{topo.service.name} -> {', '.join(answer) or 'nothing'}",
                                 _logs(lab, [(n, "coredns") for n in lab.node_names("dns")])))
        except Exception as exc:  # dnspython raises several unrelated types
            results.append(Check("dns", False, f"{topo.service.name}: {type(exc).__name__}",
                                 _logs(lab, [(n, "coredns") for n in lab.node_names("dns")])))
    etcd_bad = [d.ctx.node for d in lab.all_daemons() if d.name == "etcd" and d.check_ready() is not None]
    results.append(Check("etcd", not etcd_bad, "all members healthy" if not etcd_bad
                         else f"unhealthy: {', '.join(etcd_bad)}", _logs(lab, [(n, "etcd") for n in etcd_bad])))
    redis_bad = [d.ctx.node for d in lab.all_daemons() if d.name == "redis" and d.check_ready() is not None]
    if lab.node_names("redis"):
        results.append(Check("redis", not redis_bad, "PONG" if not redis_bad else "no PONG"))
    for node in lab.node_names("prometheus"):
        try:
            health = Prometheus(lab.ctx(node)).targets_health()
        except OSError as exc:
            results.append(Check("prometheus", False, str(exc)))
            continue
        down = sorted(t for t, h in health.items() if h != "up")
        results.append(Check("prometheus", bool(health) and not down,
                             f"{len(health)} targets up" if health and not down
                             else f"targets not up: {', '.join(down) or 'none scraped yet'}",
                             _logs(lab, [(node, "prometheus")])))
    return results


def _logs(lab, pairs: list[tuple[str, str]]) -> tuple[str, ...]:
    found = []
    for node, name in pairs:
        try:
            found.append(str(lab.daemon(node, name).log_path))
        except Exception:  # a node without that daemon (e.g. a standby LB has no announcer)
            continue
    return tuple(found)


def _lb_edge_address(lab, lb: str, router: str) -> str:
    lb_spec, router_spec = lab.topo.nodes[lb], lab.topo.nodes[router]
    for lan in lb_spec.interfaces:
        if lan in router_spec.interfaces:
            return str(lb_spec.interfaces[lan])
    return "?"


def wait_converged(lab, timeout: float = 60.0, progress=lambda _m: None) -> float:
    start = time.monotonic()
    reported: set[str] = set()
    last: list[Check] = []
    while time.monotonic() - start < timeout:
        last = checks(lab)
        for check in last:
            if check.ok and check.name not in reported:
                reported.add(check.name)
                progress(f"converged: {check.name} ({check.detail})")
        if all(c.ok for c in last):
            return time.monotonic() - start
        time.sleep(0.1)
    failing = "\n".join(f"  {c.name}: {c.detail}" + (f"\n    logs: {', '.join(c.logs)}" if c.logs else "")
                        for c in last if not c.ok)
    from topo.lab import LabError

    raise LabError(f"lab {lab.name} did not converge within {timeout:.0f}s:\n{failing}")


def announcers(lab) -> dict[str, bool | None]:
    return {lb: Announcer(lab.ctx(lb)).announcing() for lb in lab.topo.active_lbs()}
