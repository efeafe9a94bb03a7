"""Redis: pub/sub telling every LB server that its config changed."""
from __future__ import annotations

from typing import Literal

from lblab.daemons.redis import Redis as RedisDaemon
from lblab.kinds.base import Check, NodeKind, not_ready
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

    def converge_checks(self, lab) -> list[Check]:
        bad = list(not_ready(lab, "redis"))
        return [Check("redis", not bad, "PONG" if not bad else f"no PONG from {', '.join(bad)}",
                      lab.logs_of([(n, "redis") for n in bad]))]
