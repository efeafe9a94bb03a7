"""vip (the seed's production approach): LBs in keepalived groups (pairs), each group holding one
VIP with VRRPv3; the name resolves to every group's VIP. Each member's announcer tells its
keepalived within ~0.2 s when the local LB server stops being ready (a file keepalived tracks),
so the VIP moves off a crashed or hung LB; a dead node loses it after VRRP's master-down
interval (~0.35 s with 0.1 s adverts)."""
from __future__ import annotations

from lblab.daemons.announcer import VrrpAnnouncer
from lblab.daemons.keepalived import HealthCheck, Keepalived, VrrpInstance
from lblab.daemons.lbserver import LbServer
from lblab.kinds.base import Check, Hazard
from lblab.kinds.scaling.base import (Problem, Record, ScalingMode, address_holders, vrrp_check,
                                      vrrp_takeover_s)
from lblab.kinds.scaling.registry import register
from lblab.topology.model import LbVip, Topology


def instance_name(group: LbVip) -> str:
    return f"lb_vip_{group.vrid}"


def groups_of(topo: Topology, node: str) -> list[LbVip]:
    return [group for group in topo.lb_vips if node in group.members]


def instances(topo: Topology, node: str) -> list[VrrpInstance]:
    return [VrrpInstance(instance_name(g), str(g.vip), g.vrid, g.lan, g.members[node],
                         tuple(str(topo.address_on(m, g.lan)) for m in g.members if m != node))
            for g in groups_of(topo, node)]


def _group_problems(topo: Topology, i: int, group: LbVip, owners: dict[str, str]) -> list[Problem]:
    where = f"lb_vips[{i}]"
    if group.lan not in topo.lans:
        return [(f"{where}.lan", f"no such LAN {group.lan!r} (LANs: {', '.join(topo.lans)})")]
    problems = []
    net = topo.lans[group.lan]
    if group.vip not in net or group.vip in (net.network_address, net.broadcast_address):
        problems.append((f"{where}.vip", f"{group.vip} is not a host address of LAN {group.lan} ({net})"))
    elif str(group.vip) in owners:
        problems.append((f"{where}.vip", f"{group.vip} clashes with {owners[str(group.vip)]}"))
    if len(group.members) < 2:
        problems.append((f"{where}.members", "a VIP needs at least two LB members (a pair) to fail over"))
    for member in group.members:
        spec = topo.nodes.get(member)
        if spec is None or spec.role != "lb":
            problems.append((f"{where}.members.{member}", "not an LB node"))
        elif group.lan not in spec.interfaces:
            problems.append((f"{where}.members.{member}", f"not on LAN {group.lan}"))
    return problems


@register
class Vip(ScalingMode):
    name = "vip"
    summary = "LB pairs holding VIPs with VRRP (keepalived), failing over on LB health; DNS returns the VIPs"

    def problems(self, topo: Topology) -> list[Problem]:
        if not topo.lb_vips:
            return [("lb_vips", "scaling vip needs at least one LB VIP: {vip, vrid, lan, members: {lb: priority}}")]
        owners = {str(a): f"nodes.{name}" for name in topo.nodes for a in topo.addresses(name)}
        if topo.dns.vip is not None:
            owners[str(topo.dns.vip)] = "dns.vip"
        problems: list[Problem] = []
        vrids: dict[tuple[str, int], str] = {}
        if topo.dns.vip is not None:
            vrids[(topo.dns.lan, topo.dns.vrid)] = "dns.vrid"
        for i, group in enumerate(topo.lb_vips):
            problems += _group_problems(topo, i, group, owners)
            owners[str(group.vip)] = f"lb_vips[{i}].vip"
            taken = vrids.setdefault((group.lan, group.vrid), f"lb_vips[{i}].vrid")
            if taken != f"lb_vips[{i}].vrid":
                problems.append((f"lb_vips[{i}].vrid", f"{group.vrid} is also {taken} on LAN {group.lan}"))
        return problems

    def lb_problems(self, topo: Topology, name: str, spec) -> list[Problem]:
        member = bool(groups_of(topo, name))
        if not spec.standby and not member:
            return [(f"nodes.{name}", "is in no lb_vips group: with scaling vip it would never get traffic "
                                      "(add it to a group, or make it standby)")]
        if spec.standby and member:
            return [(f"nodes.{name}.standby", "a standby LB must not be a member of an LB VIP (it would take traffic)")]
        return []

    def records(self, topo: Topology) -> list[Record]:
        return [Record(str(group.vip)) for group in topo.lb_vips]

    def lb_daemons(self, ctx):
        server = LbServer(ctx)
        mine = instances(ctx.topo, ctx.node)
        if not mine:
            return [server]
        announcer = VrrpAnnouncer(ctx)
        check = HealthCheck("lbserver", announcer.track_path, f"{server.admin_url}/-/ready")
        return [server, announcer, Keepalived(ctx, mine, check)]

    def lb_hazards(self, lab, node: str) -> list[Hazard]:
        """Faults of a VIP's master (the highest-priority member of a group): its backup takes
        the VIP. None are declared for a backup, so the soak never takes both members of a pair
        at once (a pair is the design's unit of redundancy here)."""
        topo = lab.topo
        if not any(max(g.members, key=g.members.get) == node for g in groups_of(topo, node)):
            return []
        takeover = vrrp_takeover_s(topo)
        why_takeover = (f"the backup hears no adverts and takes the VIP after VRRPv3's master-down "
                        f"interval (3 adverts of {topo.vrrp.advert_s} s plus the skew)")
        announce = topo.announce
        withdraw = round((announce.interval_ms * announce.fall + announce.timeout_ms) / 1000
                         + topo.vrrp.advert_s, 3)
        why_fault = (f"the announcer puts keepalived in FAULT after {announce.fall} failed readiness probes "
                     f"({announce.interval_ms} ms apart, {announce.timeout_ms} ms timeout); the backup "
                     f"takes the VIP at the master's priority-0 advert")
        lbserver = {"node": node, "daemon": "lbserver"}
        hazards = [
            Hazard("kill", lbserver, {"http": withdraw}, why_fault),
            Hazard("stop", lbserver, {"http": withdraw}, why_fault),
            Hazard("node_down", {"node": node}, {"http": takeover}, why_takeover),
            Hazard("loss", {"node": node, "percent": 1}, {"http": 0.0},
                   "1% of the node's packets dropped: requests through it may fail while it lasts",
                   while_held=True),
        ]
        for lan in sorted({g.lan for g in groups_of(topo, node)}):
            hazards.append(Hazard("link_down", {"node": node, "peer": lan}, {"http": takeover}, why_takeover))
        return hazards

    def converge_checks(self, lab) -> list[Check]:
        results = []
        for group in lab.topo.lb_vips:
            results.append(vrrp_check(lab, f"vrrp {group.vip}", "LB VIP", str(group.vip), dict(group.members),
                                      lab.logs_of([(m, d) for m in group.members for d in ("keepalived", "announcer")])))
        return results

    def status(self, lab) -> dict:
        vips = {}
        for group in lab.topo.lb_vips:
            states = {}
            for member in group.members:
                keepalived = next((d for d in lab.daemons(member) if isinstance(d, Keepalived)), None)
                running = keepalived is not None and lab.daemon_state(keepalived) == "running"
                states[member] = keepalived.vrrp_state(instance_name(group)) if running else "keepalived not running"
            vips[str(group.vip)] = {"vrid": group.vrid, "holders": address_holders(lab, str(group.vip), list(group.members)),
                                    "members": states}
        return {"lb_vips": vips}

    def render_status(self, data: dict, console) -> None:
        for vip, group in data.get("lb_vips", {}).items():
            holders = group["holders"]
            held = ", ".join(holders) if holders else "[red]nobody[/]"
            if len(holders) > 1:
                held = f"[red]{held} (more than one)[/]"
            console.print(f"LB VIP {vip} (vrid {group['vrid']}) held by {held}: " + ", ".join(
                f"{m} {s or 'no state yet'}" for m, s in group["members"].items()))
