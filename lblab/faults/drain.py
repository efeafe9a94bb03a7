"""Planned removal of an LB: drain (withdraw the VIP, finish in-flight requests, exit) and back."""
from __future__ import annotations

from typing import Literal

from lblab.faults.base import Fault, FaultError
from lblab.faults.params import NodeName
from lblab.lab import procs


class _LbFault(Fault):
    node: NodeName

    def lbserver(self, lab):
        spec = lab.topo.nodes.get(self.node)
        if spec is None or spec.role != "lb":
            raise FaultError(f"{self.node!r} is not an LB node")
        return lab.daemon(self.node, "lbserver")

    def node_refs(self):
        return [("node", self.node, "lb")]


def undrain(lab, node: str) -> None:
    """Once the drained LB server has exited, start it again."""
    lbserver = lab.daemon(node, "lbserver")
    main = lab.process_of(lbserver)
    if main is not None:
        procs.wait_dead(main, timeout=30)
    if lab.daemon_state(lbserver) != "running":
        lab.start_daemon(lbserver)


class Drain(_LbFault):
    """Drain an LB: readiness drops, the announcer withdraws, in-flight finish, exit (undone by undrain or heal)."""

    action: Literal["drain"] = "drain"

    def apply(self, lab) -> dict:
        lbserver = self.lbserver(lab)
        try:
            status, _, _ = lbserver.admin_request("POST", "/-/drain", timeout=2.0)
        except OSError as exc:
            raise FaultError(f"drain {self.node}: {exc}") from None
        if status not in (200, 202):
            raise FaultError(f"drain {self.node}: LB answered HTTP {status}")
        return self.record(lab)

    def undo(self, lab, record: dict) -> None:
        undrain(lab, self.node)


class Undrain(_LbFault):
    """Start a drained LB server again once it has exited."""

    action: Literal["undrain"] = "undrain"

    def apply(self, lab) -> dict:
        self.lbserver(lab)
        undrain(lab, self.node)
        self.forget(lab, self.recorded(lab, ("drain",), node=self.node))
        return self.done()
