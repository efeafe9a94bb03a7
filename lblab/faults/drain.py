"""Planned removal of an LB: drain (withdraw the VIP, finish in-flight, exit) and back. As an
operator does it: the drain key the node's agent honours (it keeps the node stopped while the
key exists, and starts it again once the key is gone), then the LB server told to drain. With a
console in the lab, through its API (audited), else straight to etcd and the LB server."""
from __future__ import annotations

import json
import time
from typing import Literal

from lbapp.keys import drain_key
from lblab.faults.base import FaultError, RoleFault
from lblab.faults.params import NodeName
from lblab.lab import etcdread
from lblab.lab.consoleapi import ConsoleApi, ConsoleApiError
from lblab.lab.errors import LabError


class _LbFault(RoleFault):
    node: NodeName
    role = "lb"

    def lbserver(self, lab):
        return self.daemon_of(lab, "lbserver")


def set_drained(lab, node: str, drained: bool) -> dict:
    """Write (or delete) the node's drain key and, draining, tell its LB server -> what was done."""
    lb_id = lab.topo.service.lb_id
    try:
        if lab.node_names("console"):
            return ConsoleApi(lab).set_drain(lb_id, node, drained)
        key = drain_key(lb_id, node)
        if not drained:
            return {"revision": None, "deleted": etcdread.delete(lab, key)}
        answer = {"revision": etcdread.put(lab, key, json.dumps({"by": "lblab", "at": time.time()}))}
        status, _, _ = lab.daemon(node, "lbserver").admin_request("POST", "/-/drain", timeout=2.0)
        return {**answer, "lb_server": f"HTTP {status}"}
    except (ConsoleApiError, LabError, OSError) as exc:
        raise FaultError(f"{'drain' if drained else 'undrain'} {node}: {exc}") from None


def wait_agent(lab, node: str) -> str:
    """Until the node's agent has its LB server and announcer ready (or holds them stopped:
    the node is not wanted active) -> the LB server's state."""
    for name in ("lbserver", "announcer"):
        lab.wait_ready(lab.daemon(node, name))
    return lab.daemon_state(lab.daemon(node, "lbserver"))


def undrain(lab, node: str) -> None:
    """Remove the drain key; the node's agent starts the LB server and announcer again."""
    set_drained(lab, node, False)
    wait_agent(lab, node)


class Drain(_LbFault):
    """Drain an LB: readiness drops, the announcer withdraws, in-flight finish, exit (undone by undrain or heal)."""

    action: Literal["drain"] = "drain"

    def apply(self, lab) -> dict:
        self.lbserver(lab)
        return self.record(lab, answer=set_drained(lab, self.node, True))

    def undo(self, lab, record: dict) -> None:
        undrain(lab, self.node)


class Undrain(_LbFault):
    """Lift the drain of an LB: its agent starts the LB server again (waits until it is ready)."""

    action: Literal["undrain"] = "undrain"

    def apply(self, lab) -> dict:
        self.lbserver(lab)
        undrain(lab, self.node)
        self.forget(lab, self.recorded(lab, ("drain",), node=self.node))
        return self.done()
