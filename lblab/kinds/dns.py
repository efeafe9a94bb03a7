"""DNS servers: CoreDNS authoritative for the service zone, answering what the scaling mode
says the name resolves to; with a DNS VIP, keepalived (VRRPv3) holds it on one of them, a DNS
watch tells keepalived within ~0.3 s when CoreDNS stops answering (keepalived's own script checks
run at most once a second), and each node's status reporter tells etcd (the console) who holds
the VIP."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from lbapp.dnswatch import parse_args as parse_dnswatch_args

from lblab.daemons.coredns import HEALTH_PORT, CoreDns
from lblab.daemons.dnswatch import DnsWatch
from lblab.daemons.keepalived import HealthCheck, Keepalived, VrrpInstance
from lblab.daemons.statusreport import StatusReporter
from lblab.kinds.base import Check, Hazard, NodeKind, Problem
from lblab.kinds.registry import register
from lblab.kinds.scaling import mode_of
from lblab.kinds.scaling.base import address_holders, vrrp_check, vrrp_takeover_s
from lblab.lab import probes
from lblab.topology.model import NodeOptions, Topology

DNS_VIP_INSTANCE = "dns_vip"


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
    return [] if vip is None else address_holders(lab, str(vip), lab.node_names("dns"))


def probe_node(lab) -> str:
    """A node on the DNS VIP's LAN to ask from (a client, as users do)."""
    clients = lab.node_names("client")
    return clients[0] if clients else lab.node_names("dns")[0]


def answers(lab) -> list[str]:
    """What the service name resolves to at the DNS VIP, asked from a client."""
    topo = lab.topo
    server = str(topo.dns.vip) if topo.dns.vip else str(topo.address_on(lab.node_names("dns")[0], topo.dns.lan))
    return probes.dns_a(lab.ns(probe_node(lab)), server, topo.service.name, timeout=0.5)


def dns_keepalived(ctx) -> Keepalived:
    topo, lan = ctx.topo, ctx.topo.dns.lan
    peers = tuple(str(node.interfaces[lan]) for name, node in topo.nodes_of("dns").items() if name != ctx.node)
    instance = VrrpInstance(DNS_VIP_INSTANCE, str(topo.dns.vip), topo.dns.vrid, lan, ctx.spec.vrrp_priority, peers)
    check = HealthCheck("coredns", DnsWatch(ctx).track_path, f"http://127.0.0.1:{HEALTH_PORT}/health")
    return Keepalived(ctx, [instance], check)


@register
class Dns(NodeKind):
    role = "dns"
    options = DnsOptions
    summary = "CoreDNS for the service zone; keepalived (VRRPv3) holds the DNS VIP"
    min_count = 1

    def daemons(self, ctx):
        mode = mode_of(ctx.topo.scaling)
        daemons = [CoreDns(ctx, mode.records(ctx.topo)), *mode.dns_daemons(ctx)]
        if ctx.topo.dns.vip is not None:
            daemons += [DnsWatch(ctx), dns_keepalived(ctx), StatusReporter(ctx, dns_vip=str(ctx.topo.dns.vip))]
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
        results = []
        if topo.dns.vip is not None:
            priorities = {n: topo.nodes[n].vrrp_priority for n in lab.node_names("dns")}
            results.append(vrrp_check(lab, "vrrp", "DNS VIP", str(topo.dns.vip), priorities,
                                      lab.logs_of([(n, "keepalived") for n in lab.node_names("dns")])))
        logs = lab.logs_of([(n, d) for n in lab.node_names("dns") for d in ("coredns", "zonewriter")])
        want = sorted(r.address for r in mode_of(topo.scaling).records(topo))
        try:
            answer = answers(lab)
            results.append(Check("dns", answer == want, f"{topo.service.name} -> {', '.join(answer) or 'nothing'}"
                                 + ("" if answer == want else f" (want {', '.join(want)})"), logs))
        except Exception as exc:  # dnspython raises several unrelated types
            results.append(Check("dns", False, f"{topo.service.name}: {type(exc).__name__}", logs))
        return results

    def status(self, lab) -> dict:
        data: dict = {"dns_vip_holders": vip_holders(lab), "dns_vrrp": {}}
        for node in lab.node_names("dns"):
            for daemon in lab.daemons(node):
                if isinstance(daemon, Keepalived):
                    data["dns_vrrp"][node] = daemon.vrrp_state(DNS_VIP_INSTANCE)
        try:
            data["dns_answers"] = answers(lab)
        except Exception as exc:  # dnspython raises several unrelated types
            data["dns_answers"] = {"error": f"{type(exc).__name__}: {exc}"}
        return data

    def render_status(self, data: dict, console) -> None:
        answer = data.get("dns_answers")
        if isinstance(answer, dict):
            console.print(f"DNS answers: [red]{answer['error']}[/]")
        else:
            console.print(f"DNS answers: {data['service']['name']} -> " + (", ".join(answer) or "[red]nothing[/]"))
        if data.get("dns_vrrp"):
            console.print("VRRP (DNS VIP): " + ", ".join(
                f"{node} {state or 'no state yet'}" for node, state in data["dns_vrrp"].items()))

    def hazards(self, lab, node: str) -> list[Hazard]:
        """A DNS node down: with a VIP, the other takes it over (VRRPv3: three adverts, plus the
        skew); lookups sent meanwhile fail, and HTTP requests by name that wait on a lookup in
        flight then fail when its resolver gives up."""
        topo = lab.topo
        if topo.dns.vip is None or len(lab.node_names("dns")) < 2:
            return []
        lookup = f"(HTTP: and the {RESOLVER_TIMEOUT_S} s resolver timeout of a lookup in flight)"
        takeover = vrrp_takeover_s(topo)
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
