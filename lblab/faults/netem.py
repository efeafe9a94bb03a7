"""Delay with netem; refused with the reason on a kernel without netem (like this lab's)."""
from __future__ import annotations

from typing import Literal

from lblab.faults.base import Fault, FaultError, FaultSkipped
from lblab.faults.link import interface_towards
from lblab.faults.params import FaultDuration, NodeName
from lblab.lab import netns
from lblab.topology.model import node_interfaces


class Delay(Fault):
    """netem delay (and jitter) on the node's links, or only towards peer; skipped without netem."""

    action: Literal["delay"] = "delay"
    node: NodeName
    delay: FaultDuration
    jitter: FaultDuration = 0.0
    peer: NodeName | None = None

    def apply(self, lab) -> dict:
        if self.node not in lab.topo.nodes:
            raise FaultError(f"no node {self.node!r}")
        interfaces = ([interface_towards(lab, self.node, self.peer)] if self.peer
                      else node_interfaces(lab.topo, self.node))
        applied: list[str] = []
        for ifname in interfaces:
            args = ["tc", "qdisc", "replace", "dev", ifname, "root", "netem", "delay", f"{self.delay * 1000:.1f}ms"]
            if self.jitter:
                args.append(f"{self.jitter * 1000:.1f}ms")
            result = netns.run(lab.ns(self.node), args)
            if result.returncode != 0:
                self.undo(lab, {"interfaces": applied})
                if "unknown" in result.stderr.lower() or "no such file" in result.stderr.lower():
                    raise FaultSkipped(f"delay needs the netem qdisc, which this kernel lacks "
                                       f"(tc: {result.stderr.strip()})")
                raise FaultError(f"tc on {self.node}: {result.stderr.strip()}")
            applied.append(ifname)
        return self.record(lab, interfaces=applied)

    def undo(self, lab, record: dict) -> None:
        for ifname in record.get("interfaces", []):
            netns.run(lab.ns(self.node), ["tc", "qdisc", "del", "dev", ifname, "root"])


def netem_available(lab, node: str) -> tuple[bool, str]:
    """Probe once by adding and removing netem on the node's loopback."""
    result = netns.run(lab.ns(node), ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
    if result.returncode == 0:
        netns.run(lab.ns(node), ["tc", "qdisc", "del", "dev", "lo", "root"])
        return True, ""
    return False, result.stderr.strip()
