"""Cross-field checks pydantic cannot express: references, subnets, address clashes, VIPs that
cannot work, and each node kind's own needs. Every problem names the field it is about."""
from __future__ import annotations

import ipaddress

from lbapp.config.schema import ConfigError, parse_config
from lblab.kinds import kind_of, kinds
from lblab.kinds.scaling import mode_names, mode_of
from lblab.topology.model import LAN_NAME, Topology, initial_lb_config

Problem = tuple[str, str]


def _bad_vip(vip: ipaddress.IPv4Address) -> str | None:
    if vip.is_loopback:
        return "is a loopback address"
    if vip.is_multicast:
        return "is a multicast address"
    if vip.is_unspecified or vip == ipaddress.IPv4Address("255.255.255.255"):
        return "is not a host address"
    if vip.is_link_local:
        return "is a link-local address"
    if vip.is_reserved:
        return "is a reserved address"
    return None


def _lan_problems(topo: Topology) -> list[Problem]:
    problems = []
    for lan in topo.lans:
        if not LAN_NAME.match(lan):
            problems.append((f"lans.{lan}", "LAN names are 1-9 lowercase letters/digits, starting with a letter"))
    items = list(topo.lans.items())
    for i, (a, net_a) in enumerate(items):
        for b, net_b in items[i + 1:]:
            if net_a.overlaps(net_b):
                problems.append((f"lans.{b}", f"subnet {net_b} overlaps lans.{a} ({net_a})"))
    return problems


def _address_problems(topo: Topology) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[ipaddress.IPv4Address, str] = {}

    def claim(address: ipaddress.IPv4Address, owner: str) -> None:
        if address in owners:
            problems.append((owner, f"address {address} clashes with {owners[address]}"))
        else:
            owners[address] = owner

    for name, node in topo.nodes.items():
        where = f"nodes.{name}"
        for lan, address in node.interfaces.items():
            if lan not in topo.lans:
                problems.append((f"{where}.interfaces.{lan}", f"no such LAN (LANs: {', '.join(topo.lans)})"))
                continue
            net = topo.lans[lan]
            if address not in net or address in (net.network_address, net.broadcast_address):
                problems.append((f"{where}.interfaces.{lan}", f"{address} is not a host address of {net}"))
                continue
            claim(address, f"{where}.interfaces.{lan}")
        own_nets = [topo.lans[lan] for lan in node.interfaces if lan in topo.lans]
        for gateway in node.gateways:
            if gateway in node.interfaces.values():
                problems.append((f"{where}.gateway", f"{gateway} is this node's own address"))
            elif not any(gateway in net for net in own_nets):
                problems.append((f"{where}.gateway", f"{gateway} is not on any LAN of this node"))

    for i, link in enumerate(topo.links):
        for end, iface in link.ends.items():
            if end not in topo.nodes:
                problems.append((f"links[{i}].ends.{end}", "no such node"))
                continue
            claim(iface.ip, f"links[{i}].ends.{end}")
        if all(end in topo.nodes for end in link.ends):
            a, b = link.ends.values()
            if a.network != b.network:
                problems.append((f"links[{i}]", f"ends {a} and {b} are not in one subnet"))
            elif a.ip in (a.network.network_address, a.network.broadcast_address) and a.network.prefixlen < 31:
                problems.append((f"links[{i}]", f"{a.ip} is not a host address of {a.network}"))

    for field, vip in (("service.anycast_vip", topo.service.anycast_vip), ("dns.vip", topo.dns.vip)):
        if vip is None:
            continue
        if vip in owners:
            problems.append((field, f"{vip} clashes with {owners[vip]}"))
        reason = _bad_vip(vip)
        if reason:
            problems.append((field, f"{vip} {reason}"))
    anycast = topo.service.anycast_vip
    for lan, net in topo.lans.items():
        if anycast in net:
            problems.append(("service.anycast_vip", f"{anycast} is inside LAN {lan} ({net}); the anycast VIP "
                                                    "lives on the LB nodes' loopback and is routed, not on a LAN"))
    vip, lan = topo.dns.vip, topo.dns.lan
    if vip is not None and lan in topo.lans:
        net = topo.lans[lan]
        if vip not in net:
            problems.append(("dns.vip", f"{vip} is not in LAN {lan} ({net})"))
        elif vip in (net.network_address, net.broadcast_address):
            problems.append(("dns.vip", f"{vip} is the network or broadcast address of LAN {lan} ({net})"))
    return problems


def _kind_problems(topo: Topology) -> list[Problem]:
    problems: list[Problem] = []
    for name, node in topo.nodes.items():
        problems += kind_of(node.role).problems(topo, name, node)
    present = {node.role for node in topo.nodes.values()}
    for kind in kinds():
        count = sum(node.role == kind.role for node in topo.nodes.values())
        if count < kind.min_count:
            problems.append(("nodes", f"a lab needs at least {kind.min_count} {kind.role} node"
                                      + ("s" if kind.min_count > 1 else "")))
        if kind.role in present:
            problems += kind.topology_problems(topo)
    return problems


def _site_problems(topo: Topology) -> list[Problem]:
    if not topo.sites:
        return []
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    lb_ids: dict[str, str] = {}
    for name, site in topo.sites.items():
        where = f"sites.{name}"
        if site.lb_id in lb_ids:
            problems.append((f"{where}.lb_id", f"{site.lb_id!r} is also the LB config of site {lb_ids[site.lb_id]}"))
        lb_ids.setdefault(site.lb_id, name)
        for i, node in enumerate(site.nodes):
            if node not in topo.nodes:
                problems.append((f"{where}.nodes[{i}]", f"no such node {node!r}"))
            elif node in owner:
                problems.append((f"{where}.nodes[{i}]", f"{node} is also in site {owner[node]}"))
            else:
                owner[node] = name
    for role in ("lb", "backend"):
        for node in topo.nodes_of(role):
            if node not in owner:
                problems.append(("sites", f"{role} node {node} is in no site (with sites, every LB and "
                                          "backend belongs to one: it says which LB config they are in)"))
    return problems


def _lb_config_problems(topo: Topology) -> list[Problem]:
    problems = []
    for lb_id in topo.lb_ids():
        try:
            parse_config(initial_lb_config(topo, lb_id), source="lb_config")
        except ConfigError as exc:
            for line in str(exc).splitlines()[1:]:
                where, _, message = line.strip().partition(": ")
                problems.append((f"lb_config.{where}" + (f" (LB config {lb_id})" if topo.sites else ""), message))
    return problems


def semantic_problems(topo: Topology) -> list[Problem]:
    if topo.scaling not in mode_names():
        # every other check may depend on the mode
        return [("scaling", f"unknown scaling mode {topo.scaling!r} (expected one of {', '.join(mode_names())})")]
    problems = _lan_problems(topo) + _address_problems(topo) + _site_problems(topo)
    problems += mode_of(topo.scaling).problems(topo) + _kind_problems(topo)
    if not topo.service.name.endswith("." + topo.service.zone):
        problems.append(("service.name", f"{topo.service.name} is not inside service.zone {topo.service.zone}"))
    if "lb_config" in topo.model_fields_set or topo.sites:
        problems += _lb_config_problems(topo)
    return problems
