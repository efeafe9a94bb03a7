"""Redis: pub/sub telling every LB server that its config changed."""
from __future__ import annotations

from typing import Literal

from lblab.daemons.redis import Redis as RedisDaemon
from lblab.kinds.base import Check, Hazard, NodeKind, not_ready
from lblab.kinds.registry import register
from lblab.topology.model import NodeOptions


class RedisOptions(NodeOptions):
    role: Literal["redis"]


@register
class Redis(NodeKind):
    role = "redis"
    options = RedisOptions
    summary = "pub/sub: 'config of LB X changed'"

    def daemons(self, ctx):
        return [RedisDaemon(ctx)]

    def hazards(self, lab, node: str) -> list[Hazard]:
        """Redis lost or hung: LBs still poll etcd, so a change arrives within a poll period."""
        redis = {"node": node, "daemon": "redis"}
        return [Hazard("kill", redis), Hazard("stop", redis), Hazard("loss", {"node": node, "percent": 20})]

    def fault_budget(self, lab) -> int:
        return len(lab.node_names("redis"))

    def converge_checks(self, lab) -> list[Check]:
        bad = list(not_ready(lab, "redis"))
        return [Check("redis", not bad, "PONG" if not bad else f"no PONG from {', '.join(bad)}",
                      lab.logs_of([(n, "redis") for n in bad]))]
