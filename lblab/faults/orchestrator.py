"""Faults of the orchestrator cluster, aimed by role rather than by name: who leads is only
known at the moment of the fault, so the member is looked up in etcd then (the election's
leader, or a follower) and the fault is the lab's own kill, stop or partition of that node,
recorded under this action with the node it hit (undo puts back what that fault broke)."""
from __future__ import annotations

from collections import Counter
from typing import Literal

from lblab.faults.base import Fault, FaultError, fault_class
from lblab.faults.netfilter import Partition
from lblab.faults.process import Kill, Stop
from lblab.lab import orchview
from lblab.lab.errors import LabError

DAEMON = "orchestrator"
HELD = ("stop", "isolate")     # what orchestrator_resume ends


class Orchestrator(Fault):
    """Kill, stop (hang) or isolate from etcd the orchestrator leader or a follower (the one checking the most), as etcd names them then."""

    action: Literal["orchestrator"] = "orchestrator"
    member: Literal["leader", "follower"] = "leader"
    fault: Literal["kill", "stop", "isolate"]

    def pick(self, lab) -> tuple[str, int | None]:
        """(node, current term) of the member to hit."""
        if not lab.node_names(DAEMON):
            raise FaultError(f"lab {lab.name} has no orchestrator node")
        try:
            view = orchview.read(lab)
        except LabError as exc:
            raise FaultError(f"cannot find the orchestrator {self.member}: {exc}") from None
        if view.leader is None:
            raise FaultError("no orchestrator leads (no leader key in etcd)")
        if self.member == "leader":
            return view.leader, view.term
        followers = view.followers()
        if not followers:
            raise FaultError(f"no orchestrator follows {view.leader} (members: {', '.join(view.members)})")
        shard_size = Counter(view.assigned().values())
        return min(followers, key=lambda m: (-shard_size[m], m)), view.term

    def inner(self, lab, node: str) -> Fault:
        if self.fault == "kill":
            return Kill(node=node, daemon=DAEMON)
        if self.fault == "stop":
            return Stop(node=node, daemon=DAEMON)
        return Partition(groups=[[node], lab.node_names("etcd")])

    def apply(self, lab) -> dict:
        node, term = self.pick(lab)
        inner = self.inner(lab, node).apply(lab)
        self.forget(lab, [inner])       # this record undoes it
        return self.record(lab, node=node, term=term, inner=inner)

    def undo(self, lab, record: dict) -> None:
        inner = record["inner"]
        fault_class(inner["action"]).model_validate({**inner["params"], "action": inner["action"]}).undo(lab, inner)


class OrchestratorResume(Fault):
    """End the orchestrator hangs and isolations still held: SIGCONT the stopped member, reconnect the cut-off one."""

    action: Literal["orchestrator_resume"] = "orchestrator_resume"

    def apply(self, lab) -> dict:
        held = [r for r in self.recorded(lab, ("orchestrator",)) if r["params"].get("fault") in HELD]
        for record in held:
            Orchestrator.model_validate({**record["params"], "action": "orchestrator"}).undo(lab, record)
        self.forget(lab, held)
        return self.done(resumed=[r["node"] for r in held])
