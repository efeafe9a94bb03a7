"""A scaling mode: how clients reach the LB tier — the seed's front ends, chosen per topology
(`scaling:`). A mode says what the service name resolves to, which daemons LB nodes, routers and
DNS nodes run for it, what it sets up in their kernels, what "converged" means for it and what
`lblab status` shows about it. The node kinds ask the topology's mode; nothing else in the
engine knows the modes apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lblab.daemons.keepalived import Keepalived
from lblab.kinds.base import Check, Hazard
from lblab.lab import netns
from lblab.topology.model import Topology

if TYPE_CHECKING:
    from rich.console import Console

    from lblab.daemons.base import Daemon, NodeContext

Problem = tuple[str, str]


@dataclass(frozen=True)
class Record:
    """One address the service name resolves to, with its weight in the answers."""

    address: str
    weight: int = 1


def active_lbs(topo: Topology) -> list[str]:
    """LB nodes that take traffic from bring-up (not standby)."""
    return [name for name, spec in topo.nodes_of("lb").items() if not spec.standby]


def vrrp_takeover_s(topo: Topology) -> float:
    """How long a VRRPv3 backup waits before taking a silent master's VIP: three adverts plus the
    skew (at most one advert)."""
    return round(4 * topo.vrrp.advert_s, 3)


def lb_service_address(topo: Topology, lb: str) -> str | None:
    """Where clients reach an LB server itself: its address on a LAN it shares with a router
    (they route to it), else on a LAN it shares with a client."""
    for role in ("router", "client"):
        for other in topo.nodes_of(role):
            address = topo.address_towards(lb, other)
            if address is not None:
                return str(address)
    return None


def add_vip_to_loopback(topo: Topology, ns) -> None:
    """The anycast VIP on `lo`: the LB answers for it, the network decides who gets which flow."""
    lo = ns.link_lookup(ifname="lo")[0]
    ns.addr("add", index=lo, address=str(topo.service.anycast_vip), prefixlen=32)


def vip_prefix(topo: Topology) -> str:
    return f"{topo.service.anycast_vip}/32"


class ScalingMode:
    """Subclasses set `name` and `summary` and override what their front end needs."""

    name: ClassVar[str]
    summary: ClassVar[str]

    # --- topology ---------------------------------------------------------------------------
    def problems(self, topo: Topology) -> list[Problem]:
        """What this mode needs of the whole topology."""
        if topo.lb_vips:
            return [("lb_vips", f"only used with scaling vip (this topology's scaling is {topo.scaling})")]
        return []

    def lb_problems(self, topo: Topology, name: str, spec: Any) -> list[Problem]:
        """What this mode needs of one LB node (paths start with nodes.<name>)."""
        return []

    def router_problems(self, topo: Topology, name: str, spec: Any) -> list[Problem]:
        """What this mode needs of one router (paths start with nodes.<name>)."""
        if spec.nearest:
            return [(f"nodes.{name}.nearest", f"needs BGP routing (scaling anycast), not scaling {topo.scaling}")]
        return []

    def records(self, topo: Topology) -> list[Record]:
        """What the service name resolves to once the lab has converged."""
        raise NotImplementedError

    # --- daemons and kernel set-up, per role ----------------------------------------------
    def lb_daemons(self, ctx: "NodeContext") -> list["Daemon"]:
        raise NotImplementedError

    def router_daemons(self, ctx: "NodeContext") -> list["Daemon"]:
        return []

    def dns_daemons(self, ctx: "NodeContext") -> list["Daemon"]:
        """Daemons a DNS node runs for this mode besides CoreDNS and the DNS VIP pair's."""
        return []

    def configure_lb(self, lab: str, topo: Topology, node: str, ns) -> None:
        pass

    def configure_router(self, lab: str, topo: Topology, node: str, ns) -> None:
        pass

    # --- running lab ------------------------------------------------------------------------
    def lb_hazards(self, lab, node: str) -> list[Hazard]:
        """Faults of an active LB node this mode is known to survive, with their floors (what
        the chaos soak may inject there); none known: the soak leaves this mode's LBs alone."""
        return []

    def converge_checks(self, lab) -> list[Check]:
        return []

    def heal(self, lab) -> list[str]:
        """Put back what faults can leave broken of this mode's set-up; one line per action."""
        return []

    def status(self, lab) -> dict[str, Any]:
        return {}

    def render_status(self, data: dict[str, Any], console: "Console") -> None:
        pass


def address_holders(lab, address: str, nodes: list[str]) -> list[str]:
    """Which of these nodes have the address configured (who holds a VIP)."""
    return [node for node in nodes if netns.has_address(lab.ns(node), address)]


def vrrp_check(lab, name: str, label: str, vip: str, priorities: dict[str, int], logs) -> Check:
    """Converged for a VRRP VIP: exactly one holder, and (keepalived preempts) it is the
    highest-priority member whose keepalived runs; with a tie at the top, any one of them. A
    VIP still on a backup after its master came back is not the steady state yet."""
    holders = address_holders(lab, vip, list(priorities))
    running = [member for member in priorities
               if any(isinstance(d, Keepalived) and lab.daemon_state(d) == "running"
                      for d in lab.daemons(member))]
    top = max((priorities[m] for m in running), default=None)
    preferred = [m for m in running if priorities[m] == top]
    ok = len(holders) == 1 and (not preferred or holders[0] in preferred)
    detail = f"{label} {vip} on {', '.join(holders) or 'no node'}"
    if len(holders) == 1 and not ok:
        detail += f" (want {' or '.join(preferred)}: the highest priority running)"
    return Check(name, ok, detail, logs)
