"""A whole site down (every node of it dies at once: a power loss) and up again."""
from __future__ import annotations

import signal
from typing import Literal

from pydantic import Field

from lblab.faults.base import Fault, FaultError
from lblab.faults.link import set_links
from lblab.faults.node import node_up
from lblab.faults.process import DAEMON_FAULTS
from lblab.topology.model import node_interfaces

SiteName = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class _SiteFault(Fault):
    site: str = SiteName

    def nodes(self, lab) -> list[str]:
        site = lab.topo.sites.get(self.site)
        if site is None:
            known = ", ".join(lab.topo.sites) or "none: this topology has no sites"
            raise FaultError(f"no site {self.site!r} (sites: {known})")
        return list(site.nodes)


class SiteDown(_SiteFault):
    """Every node of the site dead at once: all their links down first, then every lab process on them killed (undone by site_up or heal)."""

    action: Literal["site_down"] = "site_down"

    def apply(self, lab) -> dict:
        nodes = self.nodes(lab)
        for node in nodes:             # the whole site goes dark before anything else happens
            set_links(lab, node, node_interfaces(lab.topo, node), "down")
        killed = [pid for node in nodes for daemon in lab.daemons(node)
                  for pid in lab.signal_daemon(daemon, signal.SIGKILL)]
        return self.record(lab, pids=killed)

    def undo(self, lab, record: dict) -> None:
        start_site(lab, self.nodes(lab))


class SiteUp(_SiteFault):
    """The site's nodes boot again: addresses, links and routes as in the topology, daemons started (routers first)."""

    action: Literal["site_up"] = "site_up"

    def apply(self, lab) -> dict:
        nodes = self.nodes(lab)
        start_site(lab, nodes)
        self.forget(lab, self.recorded(lab, ("site_down",), site=self.site))
        for node in nodes:
            self.forget(lab, self.recorded(lab, ("node_down", *DAEMON_FAULTS), node=node))
        return self.done()


def start_site(lab, nodes: list[str]) -> None:
    """Links up on every node first (so daemons find their peers), routers' daemons first."""
    order = sorted(nodes, key=lambda n: lab.topo.nodes[n].role != "router")
    for node in order:
        node_up(lab, node, wait=False)
    for node in order:
        for daemon in lab.daemons(node):
            lab.wait_ready(daemon)
