"""A link down (and up again): one interface of a node, towards a LAN or a node."""
from __future__ import annotations

from typing import Literal

from lblab.faults.base import Fault, FaultError
from lblab.faults.params import NodeName
from lblab.lab import netns
from lblab.lab.network import set_default_route
from lblab.topology.model import interface_name, link_interface_name


def set_links(lab, node: str, interfaces: list[str], state: str) -> None:
    with netns.ipr(lab.ns(node)) as ns:
        for ifname in interfaces:
            for index in ns.link_lookup(ifname=ifname):
                ns.link("set", index=index, state=state)


def restore_default_route(lab, node: str) -> None:
    """Routes through an interface vanish when it goes down; put the node's default back."""
    gateways = lab.topo.nodes[node].gateways
    if not gateways:
        return
    with netns.ipr(lab.ns(node)) as ns:
        try:
            set_default_route(ns, gateways)
        except Exception:  # gateway not reachable yet (its link still down)
            pass


def interface_towards(lab, node: str, peer: str) -> str:
    """The node's interface on LAN `peer`, on its link to node `peer`, or on a LAN it shares with it."""
    topo = lab.topo
    spec = topo.nodes.get(node)
    if spec is None:
        raise FaultError(f"no node {node!r}")
    if peer in topo.lans:
        if peer not in spec.interfaces:
            raise FaultError(f"{node} is not on LAN {peer}")
        return interface_name(peer)
    if peer not in topo.nodes:
        raise FaultError(f"{peer!r} is neither a node nor a LAN")
    if peer in topo.link_peers(node):
        return link_interface_name(peer)
    shared = topo.shared_lans(node, peer)
    if not shared:
        raise FaultError(f"{node} and {peer} share no link or LAN")
    return interface_name(shared[0])


class _LinkFault(Fault):
    node: NodeName
    peer: NodeName


class LinkDown(_LinkFault):
    """One link of a node down: peer is a LAN or a node (undone by link_up or heal)."""

    action: Literal["link_down"] = "link_down"

    def apply(self, lab) -> dict:
        ifname = interface_towards(lab, self.node, self.peer)
        set_links(lab, self.node, [ifname], "down")
        return self.record(lab, interface=ifname)

    def undo(self, lab, record: dict) -> None:
        set_links(lab, self.node, [record["interface"]], "up")
        restore_default_route(lab, self.node)


class LinkUp(_LinkFault):
    """That link up again."""

    action: Literal["link_up"] = "link_up"

    def apply(self, lab) -> dict:
        set_links(lab, self.node, [interface_towards(lab, self.node, self.peer)], "up")
        restore_default_route(lab, self.node)
        self.forget(lab, self.recorded(lab, ("link_down",), node=self.node, peer=self.peer))
        return self.done()
