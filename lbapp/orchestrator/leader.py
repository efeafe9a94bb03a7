"""What the leader does while it leads: keep the assignment current, and scale the LB tier.

Every write is fenced: a transaction that succeeds only while the election key this leader won
still has its create revision (its term). A deposed leader's late write therefore fails, and so
does any write attempted after the leader's own lease window closed (checked first, locally).
"""
from __future__ import annotations

import asyncio
import logging
import time

from lbapp import keys
from lbapp.config.schema import ConfigError, LBConfig, parse_config
from lbapp.etcd import Compare, EtcdClient, KeyValue, LeaderKey, Op
from lbapp.etcd.mirror import Mirror
from lbapp.etcd.session import LeaseSession
from lbapp.orchestrator.history import HistoryWriter
from lbapp.orchestrator.member import SessionLost
from lbapp.orchestrator.metrics import OrchestratorStats
from lbapp.orchestrator.shard import assign
from lbapp.orchestrator.values import Assignment, Target, dump_value

log = logging.getLogger("lbapp.orchestrator.leader")


def build_targets(configs: dict[str, LBConfig], members: list[str]) -> dict[str, Target]:
    """Every backend of every LB, each with the member that checks it (none without members)."""
    if not members:
        return {}
    endpoints = {}
    for lb_id, config in sorted(configs.items()):
        for backend in config.backend_servers:
            endpoints[keys.target_name(lb_id, backend.name)] = (backend, config.health_endpoint)
    owners = assign(members, endpoints)
    return {name: Target(member=owners[name], address=backend.address, port=backend.port,
                         path=path)
            for name, (backend, path) in endpoints.items()}


class ConfigTracker:
    """The last good config of each LB from a mirror of /lblab/lb/: malformed ones are logged
    once per revision and the previous good one is kept; a deleted config drops its LB."""

    def __init__(self) -> None:
        self.good: dict[str, tuple[int, LBConfig]] = {}
        self._rejected: set[tuple[str, int]] = set()

    def update(self, kvs: dict[bytes, KeyValue]) -> dict[str, LBConfig]:
        seen = set()
        for kv in kvs.values():
            lb_id = keys.lb_id_of_config_key(kv.key_text)
            if lb_id is None:
                continue
            seen.add(lb_id)
            have = self.good.get(lb_id)
            if (have and have[0] == kv.mod_revision) or (lb_id, kv.mod_revision) in self._rejected:
                continue
            try:
                config = parse_config(kv.value, source=f"etcd:{kv.key_text}@{kv.mod_revision}")
            except ConfigError as exc:
                self._rejected.add((lb_id, kv.mod_revision))
                log.error("%s\n  -> skipped; %s", exc, "keeping the last good config"
                          if have else "its backends are not checked until it is fixed")
                continue
            self.good[lb_id] = (kv.mod_revision, config)
        for lb_id in list(self.good):
            if lb_id not in seen:
                del self.good[lb_id]
        return {lb_id: config for lb_id, (_, config) in self.good.items()}


class Leader:
    def __init__(self, name: str, etcd: EtcdClient, session: LeaseSession, leader_key: LeaderKey,
                 stats: OrchestratorStats, history: HistoryWriter) -> None:
        self.name, self.etcd, self.session = name, etcd, session
        self.leader_key = leader_key
        self.term = leader_key.rev
        self.stats, self.history = stats, history
        self.members = Mirror(etcd, keys.ORCHESTRATOR_MEMBERS_PREFIX, name="members")
        self.configs = Mirror(etcd, keys.LB_PREFIX, name="LB configs")
        self.stored = Mirror(etcd, keys.ORCHESTRATOR_ASSIGNMENT, prefix=False, name="assignment")
        self.tracker = ConfigTracker()
        self._written: tuple[list[str], dict[str, Target]] | None = None
        self._written_revision = 0

    async def fenced(self, ops: list[dict], what: str) -> int:
        """Run ``ops`` only while this leader's term holds; returns the revision written."""
        if not self.session.valid():
            raise SessionLost(f"lease window closed before {what}")
        result = await self.etcd.txn(
            [Compare("create_revision", self.leader_key.key, "=", self.leader_key.rev)], ops)
        if not result.succeeded:
            raise SessionLost(f"{what} fenced: the election key of term {self.term} is gone")
        return result.revision

    async def run(self, extra_duties: list = ()) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.members.run(), name="members mirror")
            group.create_task(self.configs.run(), name="configs mirror")
            group.create_task(self.stored.run(), name="assignment mirror")
            group.create_task(self._assign_loop(), name="assignment")
            for duty in extra_duties:
                group.create_task(duty(self), name=getattr(duty, "__name__", "duty"))

    async def _assign_loop(self) -> None:
        for mirror in (self.members, self.configs, self.stored):
            await mirror.synced.wait()
        wake = asyncio.Event()

        async def forward(mirror: Mirror) -> None:
            while True:
                await mirror.wait_changed()
                wake.set()

        async with asyncio.TaskGroup() as group:
            for mirror in (self.members, self.configs, self.stored):
                group.create_task(forward(mirror))
            while True:
                await self._reassign()
                await wake.wait()
                wake.clear()

    def live_members(self) -> list[str]:
        return sorted(kv.key_text[len(keys.ORCHESTRATOR_MEMBERS_PREFIX):] for kv in self.members.kvs.values()
                      if kv.key_text[len(keys.ORCHESTRATOR_MEMBERS_PREFIX):])

    async def _reassign(self) -> None:
        """Write the assignment when members or configs changed, or when the stored one is not
        the one this leader wrote (another writer, a corrupted value)."""
        members = self.live_members()
        configs = self.tracker.update(self.configs.kvs)
        targets = build_targets(configs, members)
        if self._written and self._written == (members, targets):
            if self.stored.revision < self._written_revision:
                return  # our own write has not come back through the watch yet
            kv = self.stored.value()
            if kv is not None and kv.mod_revision == self._written_revision:
                return
            log.warning("the stored assignment is not the one term %d wrote; writing it again",
                        self.term)
        assignment = Assignment(term=self.term, leader=self.name, at=time.time(),
                                members=members, targets=targets)
        revision = await self.fenced([Op.put(keys.ORCHESTRATOR_ASSIGNMENT, dump_value(assignment))],
                                     "assignment write")
        self._written, self._written_revision = (members, targets), revision
        self.stats.assignment_writes += 1
        self.history.record("assignment", self.term, targets=len(targets), leader=self.name,
                            members=members, written=True)
        log.info("term %d: assigned %d targets to %s (revision %d)", self.term, len(targets),
                 ", ".join(f"{m}: {sum(t.member == m for t in targets.values())}"
                           for m in members) or "nobody", revision)
