"""The orchestrator cluster and the LB node agents as etcd holds them, read by the lab (status,
convergence, the orchestrator faults, heal): who leads and since which term, the members and
the shard each checks, every agent's phase, the desired state of each LB node, drained nodes
and each backend's health. Malformed values are shown as such, never trusted."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lbapp import keys
from lbapp.orchestrator.values import AgentInfo, DesiredState, HealthValue, Shard, parse_value
from lblab.lab import etcdread


@dataclass
class OrchView:
    leader: str | None = None
    term: int | None = None
    members: list[str] = field(default_factory=list)
    shards: dict[str, Shard | str] = field(default_factory=dict)        # str: why unreadable
    agents: dict[str, AgentInfo | str] = field(default_factory=dict)
    desired: dict[str, DesiredState | str] = field(default_factory=dict)
    drained: list[str] = field(default_factory=list)
    health: dict[str, HealthValue | str] = field(default_factory=dict)  # backend name -> value

    def assigned(self) -> dict[str, str]:
        """target ('payment/be1') -> the member whose shard holds it."""
        return {target: member for member, shard in self.shards.items()
                if isinstance(shard, Shard) for target in shard.targets}

    def followers(self) -> list[str]:
        return [member for member in self.members if member != self.leader]

    def as_dict(self) -> dict[str, Any]:
        def plain(value):
            return value if isinstance(value, str) else value.model_dump()

        return {"leader": self.leader, "term": self.term, "members": self.members,
                "shards": {m: plain(s) for m, s in self.shards.items()},
                "agents": {n: plain(a) for n, a in self.agents.items()},
                "desired": {n: plain(d) for n, d in self.desired.items()},
                "drained": self.drained,
                "health": {b: plain(h) for b, h in self.health.items()}}


def _parsed(model, kvs, prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in kvs:
        name = kv.key_text[len(prefix):]
        try:
            found[name] = parse_value(model, kv.value, f"etcd:{kv.key_text}")
        except ValueError as exc:
            found[name] = f"malformed: {str(exc).splitlines()[0][:200]}"
    return found


def read(lab) -> OrchView:
    """One read of each prefix (LabError when no etcd member answers)."""
    lb_id = lab.topo.service.lb_id
    view = OrchView()
    leader = etcdread.leader_of(lab, keys.ORCHESTRATOR_ELECTION)
    if leader is not None:
        view.leader = leader.value.decode("utf-8", "replace")
        view.term = leader.create_revision
    members = etcdread.read_prefix(lab, keys.ORCHESTRATOR_MEMBERS_PREFIX)
    view.members = sorted(kv.key_text[len(keys.ORCHESTRATOR_MEMBERS_PREFIX):] for kv in members)
    view.shards = _parsed(Shard, etcdread.read_prefix(lab, keys.ORCHESTRATOR_SHARDS_PREFIX),
                          keys.ORCHESTRATOR_SHARDS_PREFIX)
    view.agents = _parsed(AgentInfo, etcdread.read_prefix(lab, keys.AGENTS_PREFIX), keys.AGENTS_PREFIX)
    view.desired = _parsed(DesiredState, etcdread.read_prefix(lab, keys.DESIRED_PREFIX),
                           keys.DESIRED_PREFIX)
    drain_prefix = keys.drain_key(lb_id, "")
    view.drained = sorted(kv.key_text[len(drain_prefix):] for kv in etcdread.read_prefix(lab, drain_prefix))
    view.health = _parsed(HealthValue, etcdread.read_prefix(lab, keys.health_prefix(lb_id)),
                          keys.health_prefix(lb_id))
    return view
