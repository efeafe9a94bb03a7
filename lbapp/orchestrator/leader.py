"""What the leader does while it leads: keep every member's shard current, and scale the LB tier.

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
from lbapp.orchestrator.values import Shard, Target, dump_value, parse_value

log = logging.getLogger("lbapp.orchestrator.leader")


def build_shards(configs: dict[str, LBConfig], members: list[str]) -> dict[str, dict[str, Target]]:
    """member -> the targets it checks: every backend of every LB goes to exactly one live
    member (rendezvous hashing); every member gets an entry, possibly empty."""
    targets = {}
    for lb_id, config in sorted(configs.items()):
        for backend in config.backend_servers:
            targets[keys.target_name(lb_id, backend.name)] = Target(
                address=backend.address, port=backend.port, path=config.health_endpoint)
    shards: dict[str, dict[str, Target]] = {member: {} for member in members}
    for name, member in assign(members, targets).items():
        shards[member][name] = targets[name]
    return shards


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
        self.stored = Mirror(etcd, keys.ORCHESTRATOR_SHARDS_PREFIX, name="shards")
        self.tracker = ConfigTracker()
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
            group.create_task(self.stored.run(), name="shards mirror")
            group.create_task(self._assign_loop(), name="assignment")
            for duty in extra_duties:
                group.create_task(duty(self), name=getattr(duty, "__name__", "duty"))

    async def _assign_loop(self) -> None:
        mirrors = (self.members, self.configs, self.stored)
        for mirror in mirrors:
            await mirror.synced.wait()
        wake = asyncio.Event()

        async def forward(mirror: Mirror) -> None:
            while True:
                await mirror.wait_changed()
                wake.set()

        async with asyncio.TaskGroup() as group:
            for mirror in mirrors:
                group.create_task(forward(mirror))
            while True:
                await self._reassign()
                await wake.wait()
                wake.clear()

    def live_members(self) -> list[str]:
        prefix = keys.ORCHESTRATOR_MEMBERS_PREFIX
        return sorted(kv.key_text[len(prefix):] for kv in self.members.kvs.values()
                      if kv.key_text[len(prefix):])

    def stored_shards(self) -> dict[str, Shard | None]:
        """member -> its shard as stored (None: unreadable, rewritten)."""
        out: dict[str, Shard | None] = {}
        for kv in self.stored.kvs.values():
            member = kv.key_text[len(keys.ORCHESTRATOR_SHARDS_PREFIX):]
            try:
                out[member] = parse_value(Shard, kv.value, f"etcd:{kv.key_text}")
            except ValueError as exc:
                log.warning("%s; writing it again", exc)
                out[member] = None
        return out

    async def _reassign(self) -> None:
        """Write every shard that differs from what this term assigns (members or configs
        changed, a new term, another writer, a corrupted value) and delete the shards of members
        that are gone, in one fenced transaction."""
        if self.stored.revision < self._written_revision:
            return  # our last write has not come back through the watch yet
        members = self.live_members()
        shards = build_shards(self.tracker.update(self.configs.kvs), members)
        stored = self.stored_shards()
        now = time.time()
        ops, changed = [], []
        for member, targets in shards.items():
            shard = Shard(term=self.term, leader=self.name, at=now, members=members,
                          targets=targets)
            have = stored.get(member)
            if have is None or not have.same_as(shard):
                ops.append(Op.put(keys.shard_key(member), dump_value(shard)))
                changed.append(member)
        gone = sorted(set(stored) - set(shards))
        ops += [Op.delete(keys.shard_key(member)) for member in gone]
        if not ops:
            return
        self._written_revision = await self.fenced(ops, "shard assignment")
        self.stats.assignment_writes += 1
        total = sum(len(t) for t in shards.values())
        self.history.record("assignment", self.term, targets=total, leader=self.name,
                            members=members, written=True)
        log.info("term %d: %d targets: %s (wrote %s%s; revision %d)", self.term, total,
                 ", ".join(f"{m}: {len(t)}" for m, t in shards.items()) or "no members",
                 ", ".join(changed) or "nothing", f"; dropped {', '.join(gone)}" if gone else "",
                 self._written_revision)
