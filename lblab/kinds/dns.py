"""DNS servers: CoreDNS authoritative for the service zone; with a DNS VIP, keepalived (VRRPv3)
holds it on one of them, a DNS watch tells keepalived within ~0.3 s when CoreDNS stops
answering (keepalived's own script checks run at most once a second), and each node's status
reporter tells etcd (the console) who holds the VIP."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from lbapp.dnswatch import parse_args as parse_dnswatch_args

from lblab.daemons.coredns import CoreDns, service_addresses
from lblab.daemons.dnswatch import DnsWatch
from lblab.daemons.keepalived import Keepalived
from lblab.daemons.statusreport import StatusReporter
from lblab.kinds.base import Check, Hazard, NodeKind, Problem
from lblab.kinds.registry import register
from lblab.lab import netns, probes
from lblab.topology.model import NodeOptions, Topology


# how long a node's resolver waits for an answer (the lab's resolv.conf); HTTP by name waits this
# long on a lookup that was in flight when the VIP moved
RESOLVER_TIMEOUT_S = 1


class DnsOptions(NodeOptions):
    role: Literal["dns"]
    vrrp_priority: int | None = Field(default=None, ge=1, le=254)


def dnswatch_options(topo: Topology):
    """The DNS watch's timing as the lab runs it (its own defaults): interval, timeout, fall."""
    return parse_dnswatch_args(["--name", topo.service.name, "--track-file", os.devnull])


def vip_holders(lab) -> list[str]:
    vip = lab.topo.dns.vip
    if vip is None:
        return []
    return [node for node in lab.node_names("dns") if netns.has_address(lab.ns(node), str(vip))]


def probe_node(lab) -> str:
    """A node on the DNS VIP's LAN to ask from (a client, as users do)."""
    clients = lab.node_names("client")
    return clients[0] if clients else lab.node_names("dns")[0]


@register
class Dns(NodeKind):
    role = "dns"
    options = DnsOptions
    summary = "CoreDNS for the service zone; keepalived (VRRPv3) holds the DNS VIP"
    min_count = 1

    def daemons(self, ctx):
        daemons = [CoreDns(ctx)]
        if ctx.topo.dns.vip is not None:
            daemons += [DnsWatch(ctx), Keepalived(ctx), StatusReporter(ctx, dns_vip=str(ctx.topo.dns.vip))]
        return daemons

    def problems(self, topo: Topology, name: str, spec: DnsOptions) -> list[Problem]:
        where = f"nodes.{name}"
        problems = []
        if topo.dns.vip is not None and spec.vrrp_priority is None:
            problems.append((f"{where}.vrrp_priority", "missing required option for role dns (dns.vip is set)"))
        if topo.dns.lan in topo.lans and topo.dns.lan not in spec.interfaces:
            problems.append((f"{where}.interfaces", f"a dns node must be on LAN {topo.dns.lan} (dns.lan)"))
        return problems

    def topology_problems(self, topo: Topology) -> list[Problem]:
        if topo.dns.lan not in topo.lans:
            return [("dns.lan", f"no such LAN {topo.dns.lan!r}")]
        return []

    def converge_checks(self, lab) -> list[Check]:
        topo = lab.topo
        if topo.dns.vip is None:
            return []
        holders = vip_holders(lab)
        results = [Check("vrrp", len(holders) == 1, f"DNS VIP {topo.dns.vip} on {', '.join(holders) or 'no node'}",
                         lab.logs_of([(n, "keepalived") for n in lab.node_names("dns")]))]
        logs = lab.logs_of([(n, "coredns") for n in lab.node_names("dns")])
        want = sorted(service_addresses(topo))
        try:
            answer = probes.dns_a(lab.ns(probe_node(lab)), str(topo.dns.vip), topo.service.name, timeout=0.5)
            results.append(Check("dns", answer == want, f"{topo.service.name} -> {', '.join(answer) or 'nothing'}",
                                 logs))
        except Exception as exc:  # dnspython raises several unrelated types
            results.append(Check("dns", False, f"{topo.service.name}: {type(exc).__name__}", logs))
        return results

    def status(self, lab) -> dict:
        return {"dns_vip_holders": vip_holders(lab)}

    def hazards(self, lab, node: str) -> list[Hazard]:
        """A DNS node down: with a VIP, the other takes it over (VRRPv3: three adverts, plus the
        skew); lookups sent meanwhile fail, and HTTP requests by name that wait on a lookup in
        flight then fail when its resolver gives up."""
        topo = lab.topo
        if topo.dns.vip is None or len(lab.node_names("dns")) < 2:
            return []
        lookup = f"(HTTP: and the {RESOLVER_TIMEOUT_S} s resolver timeout of a lookup in flight)"
        takeover = round(3 * topo.vrrp.advert_s + topo.vrrp.advert_s, 3)
        hazards = [Hazard("node_down", {"node": node}, {"dns": takeover, "http": takeover + RESOLVER_TIMEOUT_S},
                          f"VRRPv3 takeover: 3 adverts of {topo.vrrp.advert_s} s plus the skew {lookup}")]
        watch = dnswatch_options(topo)
        noticed = round(watch.interval * watch.fall + watch.timeout + topo.vrrp.advert_s, 3)
        why = (f"the DNS watch notices after {watch.fall} unanswered probes {watch.interval * 1000:g} ms apart, "
               f"keepalived hands the VIP over {lookup}")
        for action in ("kill", "stop"):
            hazards.append(Hazard(action, {"node": node, "daemon": "coredns"},
                                  {"dns": noticed, "http": noticed + RESOLVER_TIMEOUT_S}, why))
        return hazards

    def fault_budget(self, lab) -> int:
        return len(lab.node_names("dns")) - 1 if lab.topo.dns.vip is not None else 0
