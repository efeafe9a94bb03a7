"""etcd members: the config DB (three of them survive the loss of one)."""
from __future__ import annotations

from typing import Literal

from lblab.daemons.etcd import Etcd as EtcdDaemon
from lblab.kinds.base import Check, Hazard, NodeKind, not_ready
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions


class EtcdOptions(NodeOptions):
    role: Literal["etcd"]


def member_health(lab) -> dict[str, str]:
    bad = not_ready(lab, "etcd")
    return {node: f"unhealthy: {bad[node]}" if node in bad else "healthy" for node in lab.node_names("etcd")}


@register
class Etcd(NodeKind):
    role = "etcd"
    options = EtcdOptions
    summary = "config DB member (etcd)"
    min_count = 1

    def daemons(self, ctx):
        return [EtcdDaemon(ctx)]

    def converge_checks(self, lab) -> list[Check]:
        bad = [node for node, state in member_health(lab).items() if state != "healthy"]
        return [Check("etcd", not bad, "all members healthy" if not bad else f"unhealthy: {', '.join(bad)}",
                      lab.logs_of([(n, "etcd") for n in bad]))]

    def status(self, lab) -> dict:
        return {"etcd": member_health(lab)}

    def hazards(self, lab, node: str) -> list[Hazard]:
        """One member lost, hung, cut off or lossy: the others keep quorum; LBs read from them."""
        members = lab.node_names("etcd")
        etcd = {"node": node, "daemon": "etcd"}
        hazards = [Hazard("kill", etcd), Hazard("stop", etcd), Hazard("node_down", {"node": node}),
                   Hazard("loss", {"node": node, "percent": 20})]
        others = [m for m in members if m != node]
        if others:
            hazards.append(Hazard("partition", {"groups": [[node], others]}))
        return hazards

    def fault_budget(self, lab) -> int:
        """A minority of the members: the rest keep quorum."""
        return (len(lab.node_names("etcd")) - 1) // 2

    def render_status(self, data: dict, console) -> None:
        if data.get("etcd"):
            console.print("etcd: " + ", ".join(
                f"[{'green' if v == 'healthy' else 'red'}]{k} {v}[/]" for k, v in data["etcd"].items()))
