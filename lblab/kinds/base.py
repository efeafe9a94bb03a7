"""A node kind: everything a role means in one class.

A kind declares the options its nodes take (the pydantic model the topology validates), the
daemons a node of it runs, its sysctls and extra network set-up, what "converged" means for it,
what it adds to `lblab status`, and which daemons faults may target. The registry
(``lblab.kinds.registry``) is the only list of kinds; topology validation, daemon start order,
convergence, status and the scenario validator all read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from lblab.topology.model import NodeOptions, Topology

if TYPE_CHECKING:
    from rich.console import Console

    from lblab.daemons.base import Daemon, NodeContext

Problem = tuple[str, str]


@dataclass
class Check:
    """One convergence condition, measured from the real state of daemons and kernels."""

    name: str
    ok: bool
    detail: str
    logs: tuple[str, ...] = ()     # where to look when it fails


@dataclass(frozen=True)
class Hazard:
    """A fault the design is meant to survive on a node of a kind: what the chaos nemesis may
    inject there (a fault of ``lblab.faults`` with its parameters), and what users may see
    while it lasts: the longest disruption per traffic kind ("http", "dns"; a kind not listed
    may see no failure at all), with the reason from the failure catalogue. ``while_held``: a
    degradation that lasts as long as the fault does (packet loss), so its failures may come
    at any time until it is healed."""

    action: str
    params: dict[str, Any]
    disruption: dict[str, float] = field(default_factory=dict)
    floor: str = "no user-visible disruption"
    while_held: bool = False

    def label(self) -> str:
        return " ".join([self.action, *(f"{k}={v}" for k, v in self.params.items())])


def bfd_floor(topo: Topology) -> float:
    """Seconds until a router's BFD declares a silent LB dead."""
    return topo.bfd.interval_ms * topo.bfd.multiplier / 1000


def not_ready(lab, daemon_name: str) -> dict[str, str]:
    """node -> why its daemon of that name is not ready (a probe's own failure counts)."""
    found = {}
    for daemon in lab.daemons_of_kind(daemon_name):
        reason = daemon.not_ready_reason()
        if reason is not None:
            found[daemon.ctx.node] = reason
    return found


# rp_filter off: replies may come back through another router; flows over a multipath default
# route (several gateways) spread by their L4 hash
BASE_SYSCTLS: dict[str, str | int] = {"net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0,
                                      "net.ipv4.fib_multipath_hash_policy": 1}


class NodeKind:
    role: ClassVar[str]
    options: ClassVar[type[NodeOptions]]
    summary: ClassVar[str] = ""
    min_count: ClassVar[int] = 0             # a lab needs at least this many nodes of the kind
    sysctls: ClassVar[dict[str, str | int]] = {}

    # --- topology ---------------------------------------------------------------------------
    def problems(self, topo: Topology, name: str, spec: Any) -> list[Problem]:
        """Checks of one node that need the whole topology (paths start with nodes.<name>)."""
        return []

    def topology_problems(self, topo: Topology) -> list[Problem]:
        """Checks across every node of this kind (called once, when the lab has one)."""
        return []

    # --- bring-up ---------------------------------------------------------------------------
    def daemons(self, ctx: "NodeContext") -> list["Daemon"]:
        """The node's daemons, in start order within their wave."""
        return []

    def node_sysctls(self, spec: Any) -> dict[str, str | int]:
        return {**BASE_SYSCTLS, **self.sysctls}

    def configure_network(self, lab: str, topo: Topology, node: str, ns) -> None:
        """Extra kernel set-up inside the node once its links are up (``ns``: pyroute2 NetNS)."""

    # --- running lab ------------------------------------------------------------------------
    def converge_checks(self, lab) -> list[Check]:
        """What converged means for the nodes of this kind (called once per lab)."""
        return []

    def converged(self, lab) -> None:
        """Called each time the lab has converged (bring-up, heal): settings that only served
        getting there are put back (Prometheus' first-scrape interval)."""

    def status(self, lab) -> dict[str, Any]:
        """This kind's section of `lblab status --json` (empty: nothing to add)."""
        return {}

    def render_status(self, section: dict[str, Any], console: "Console") -> None:
        """Print the section `status` returned."""

    def heal(self, lab) -> list[str]:
        """Put back what faults can leave behind beyond their own undo (run by `lblab heal`
        after every daemon is up again); what it did, one line each."""
        return []

    def fault_targets(self, ctx: "NodeContext") -> list[str]:
        """Daemons of the node that daemon faults (kill, stop, ...) may target."""
        return [daemon.name for daemon in self.daemons(ctx)]

    # --- chaos --------------------------------------------------------------------------------
    def hazards(self, lab, node: str) -> list[Hazard]:
        """Faults the design survives on this node (what `lblab chaos` may inject here)."""
        return []

    def fault_budget(self, lab) -> int:
        """How many nodes of this kind may be faulted at once and the design still holds."""
        return 0
