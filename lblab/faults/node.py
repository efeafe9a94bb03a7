"""A node down (a dead host) and back up (the host boots again)."""
from __future__ import annotations

import signal
import socket
from typing import Literal

from lblab.faults.base import Fault, FaultError
from lblab.faults.link import restore_default_route, set_links
from lblab.faults.params import NodeName
from lblab.faults.process import DAEMON_FAULTS
from lblab.lab import netns
from lblab.lab.supervised import HELD
from lblab.topology.model import node_interfaces


class _NodeFault(Fault):
    node: NodeName

    def check_node(self, lab) -> None:
        if self.node not in lab.topo.nodes:
            raise FaultError(f"no node {self.node!r}")


def start_dead_daemons(lab, node: str, wait: bool) -> list[str]:
    """Start every daemon of the node that is not running, wave by wave; their names."""
    started = []
    for wave in sorted({d.wave for d in lab.daemons(node)}):
        dead = [d for d in lab.daemons(node) if d.wave == wave and lab.daemon_state(d) not in ("running", HELD)]
        for daemon in dead:
            lab.stop_daemon(daemon)
        lab.start_daemons(dead, wait=wait)
        started += [d.name for d in dead]
    return started


def node_up(lab, node: str, wait: bool = True) -> None:
    """Addresses as in the topology (a killed keepalived leaves its VIP configured; a rebooted
    kernel would not), links up, routes, every daemon started."""
    interfaces = node_interfaces(lab.topo, node)
    wanted = {str(a) for a in lab.topo.addresses(node)}
    with netns.ipr(lab.ns(node)) as ns:
        for ifname in interfaces:
            for index in ns.link_lookup(ifname=ifname):
                for addr in ns.get_addr(index=index, family=socket.AF_INET):
                    if addr.get_attr("IFA_ADDRESS") not in wanted:
                        ns.addr("del", index=index, address=addr.get_attr("IFA_ADDRESS"),
                                prefixlen=addr["prefixlen"])
    set_links(lab, node, interfaces, "up")
    restore_default_route(lab, node)
    start_dead_daemons(lab, node, wait)


class NodeDown(_NodeFault):
    """A dead host: every link down at once, then every lab process on it killed."""

    action: Literal["node_down"] = "node_down"

    def apply(self, lab) -> dict:
        self.check_node(lab)
        set_links(lab, self.node, node_interfaces(lab.topo, self.node), "down")
        killed = []
        for daemon in lab.daemons(self.node):
            killed += lab.signal_daemon(daemon, signal.SIGKILL)
        return self.record(lab, pids=killed)

    def undo(self, lab, record: dict) -> None:
        node_up(lab, self.node)


class NodeUp(_NodeFault):
    """The host boots again: addresses, links and routes as in the topology, daemons started."""

    action: Literal["node_up"] = "node_up"

    def apply(self, lab) -> dict:
        self.check_node(lab)
        node_up(lab, self.node)
        self.forget(lab, self.recorded(lab, ("node_down", *DAEMON_FAULTS), node=self.node))
        return self.done()
