"""Daemon kinds and which of them run on a node of each role."""
from __future__ import annotations

from topo.daemons.base import Daemon, NodeContext
from topo.daemons.bird import BirdRouter, BirdSpeaker
from topo.daemons.controlplane import Etcd, Prometheus, Redis
from topo.daemons.dns import CoreDns, Keepalived
from topo.daemons.lbapp import Announcer, Backend, LbServer


def daemons_for(ctx: NodeContext) -> list[Daemon]:
    """The daemons of one node, in start order within their wave."""
    role = ctx.spec.role
    if role == "router":
        return [BirdRouter(ctx)]
    if role == "lb":
        kinds = [BirdSpeaker(ctx), LbServer(ctx)]
        if not ctx.spec.standby:
            kinds.append(Announcer(ctx))
        return kinds
    if role == "dns":
        kinds = [CoreDns(ctx)]
        if ctx.topo.dns.vip is not None:
            kinds.append(Keepalived(ctx))
        return kinds
    if role == "backend":
        return [Backend(ctx)]
    if role == "etcd":
        return [Etcd(ctx)]
    if role == "redis":
        return [Redis(ctx)]
    if role == "prometheus":
        return [Prometheus(ctx)]
    return []


def daemon_by_name(ctx: NodeContext, name: str) -> Daemon:
    for daemon in daemons_for(ctx):
        if daemon.name == name:
            return daemon
    known = ", ".join(d.name for d in daemons_for(ctx)) or "none"
    raise KeyError(f"node {ctx.node} has no daemon {name!r} (its daemons: {known})")


__all__ = ["Daemon", "NodeContext", "daemons_for", "daemon_by_name"]
