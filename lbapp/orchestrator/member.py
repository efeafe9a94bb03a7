"""What every orchestrator member does: register, follow its shard, check its targets, and
write each health state change — fenced — to etcd, then publish it on Redis.

A health write is a transaction that succeeds only if (1) this member's registration key still
has the create revision it got (its lease has not expired: a member stopped or cut off for a TTL
lost it) and (2) its shard is still the one it read (no leader has moved its targets or begun a
new term since). A member that fails (2) waits for the new shard and, if the target is still its
own, writes again under the new term; one that fails (1) is no longer a member and its session
ends.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass

from lbapp import keys
from lbapp.etcd import Compare, EtcdClient, EtcdError, Op
from lbapp.etcd.mirror import Mirror
from lbapp.etcd.session import LeaseSession
from lbapp.orchestrator.checker import Checker, Endpoint
from lbapp.orchestrator.health import CheckResult, HealthState
from lbapp.orchestrator.history import HistoryWriter
from lbapp.orchestrator.metrics import OrchestratorStats
from lbapp.orchestrator.publish import Publisher
from lbapp.orchestrator.settings import Settings
from lbapp.orchestrator.values import HealthValue, MemberInfo, Shard, dump_value, parse_value

log = logging.getLogger("lbapp.orchestrator.member")

RETRY = (0.1, 2.0)


class SessionLost(Exception):
    """This member's lease is gone or may be: everything it does must stop."""


@dataclass
class Followed:
    shard: Shard
    mod_revision: int


class Member:
    def __init__(self, settings: Settings, etcd: EtcdClient, session: LeaseSession,
                 publisher: Publisher, history: HistoryWriter, stats: OrchestratorStats) -> None:
        self.settings, self.etcd, self.session = settings, etcd, session
        self.name = settings.name
        self.publisher, self.history, self.stats = publisher, history, stats
        hc = settings.health_check
        self.checker = Checker(hc.interval_ms / 1000, hc.timeout_ms / 1000, self.on_result,
                               max_in_flight=hc.max_in_flight)
        self.key = keys.member_key(self.name)
        self.create_revision = 0
        self.followed: Followed | None = None
        self.states: dict[str, HealthState] = {}
        self.pending: dict[str, HealthValue] = {}
        self._wake_writer = asyncio.Event()
        self._bad_shard = 0   # mod revision of the last malformed shard logged

    @property
    def term(self) -> int:
        return self.followed.shard.term if self.followed else 0

    async def register(self) -> None:
        info = MemberInfo(name=self.name, pid=os.getpid(), started_at=time.time())
        result = await self.etcd.txn([], [Op.put(self.key, dump_value(info),
                                                 lease=self.session.lease_id),
                                          Op.range(self.key)])
        kv = result.responses[1].first()
        if kv is None or kv.lease != self.session.lease_id:
            raise SessionLost(f"registration {self.key} did not stick")
        self.create_revision = kv.create_revision
        log.info("registered as %s (lease %x, revision %d)", self.key, self.session.lease_id,
                 kv.create_revision)

    async def run(self) -> None:
        await self.register()
        mirror = Mirror(self.etcd, keys.shard_key(self.name), prefix=False, name="own shard")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(mirror.run(), name="shard mirror")
                group.create_task(self._follow(mirror), name="follow shard")
                group.create_task(self._writer(), name="health writer")
        finally:
            await self.checker.stop()
            self.stats.shard_size = 0
            self.stats.backend_healthy.clear()

    # -- following the shard ------------------------------------------------------------------
    async def _follow(self, mirror: Mirror) -> None:
        while True:
            await mirror.wait_changed()
            kv = mirror.value()
            if kv is None:
                if self.followed is not None:   # the leader no longer counts us as a member
                    log.warning("my shard was deleted: checking nothing until a new one comes")
                    await self._adopt(None, 0)
                continue
            if self.followed and kv.mod_revision == self.followed.mod_revision:
                continue
            try:
                shard = parse_value(Shard, kv.value, f"etcd:{kv.key_text}@{kv.mod_revision}")
            except ValueError as exc:
                if kv.mod_revision != self._bad_shard:
                    self._bad_shard = kv.mod_revision
                    log.error("%s; keeping the last good shard", exc)
                continue
            await self._adopt(shard, kv.mod_revision)

    async def _adopt(self, shard: Shard | None, mod_revision: int) -> None:
        targets = shard.targets if shard else {}
        new = [t for t in targets if t not in self.states]
        initial = await self._current_health(new) if new else {}
        for target in list(self.states):
            if target not in targets:
                del self.states[target]
                self.pending.pop(target, None)
                self.stats.backend_healthy.pop(target, None)
        hc = self.settings.health_check
        for target in new:
            self.states[target] = HealthState(initial.get(target, True), hc.rise, hc.fall)
            self.stats.backend_healthy[target] = self.states[target].healthy
        self.followed = Followed(shard, mod_revision) if shard else None
        self.checker.set_targets({name: Endpoint(t.address, t.port, t.path)
                                  for name, t in targets.items()})
        self.stats.shard_size = len(targets)
        if shard is None:
            return
        self.stats.term = shard.term
        self.stats.members = len(shard.members)
        self.history.record("shard", shard.term, targets=len(targets), leader=shard.leader)
        log.info("shard of term %d (revision %d) from %s: %d targets", shard.term, mod_revision,
                 shard.leader, len(targets))
        for target, value in list(self.pending.items()):  # fenced writes go again, new term
            self.pending[target] = value.model_copy(update={"term": shard.term})
        if self.pending:
            self._wake_writer.set()

    async def _current_health(self, targets: list[str]) -> dict[str, bool]:
        """What etcd says of newly assigned targets, so a handover does not reset their state."""
        out: dict[str, bool] = {}
        for lb_id in sorted({keys.split_target(t)[0] for t in targets}):
            try:
                listed = await self.etcd.get_prefix(keys.health_prefix(lb_id))
            except EtcdError as exc:
                log.warning("cannot read the health of %s (%s): new targets start healthy",
                            lb_id, exc)
                continue
            for kv in listed.kvs:
                backend = kv.key_text[len(keys.health_prefix(lb_id)):]
                try:
                    out[keys.target_name(lb_id, backend)] = parse_value(
                        HealthValue, kv.value, f"etcd:{kv.key_text}").healthy
                except ValueError as exc:
                    log.warning("%s; treated as healthy", exc)
        return out

    # -- results ------------------------------------------------------------------------------
    def on_result(self, target: str, result: CheckResult, lag: float) -> None:
        state = self.states.get(target)
        if state is None or self.followed is None or not self.session.valid():
            return  # no longer ours, or we may no longer act: the result counts for nothing
        term = self.term
        self.stats.count_check(target, result.ok, result.reason, result.latency, lag)
        self.history.record("check", term, target=target, ok=result.ok, reason=result.reason,
                            ms=round(result.latency * 1000, 2))
        transition = state.observe(result)
        if transition is None:
            return
        self.stats.backend_healthy[target] = transition.healthy
        log.info("%s is %s: %s (%d in a row)", target,
                 "healthy" if transition.healthy else "UNHEALTHY", transition.reason,
                 transition.streak)
        self.pending[target] = HealthValue(healthy=transition.healthy, term=term,
                                           reason=transition.reason, checker=self.name,
                                           at=time.time())
        self._wake_writer.set()

    # -- fenced writes ------------------------------------------------------------------------
    async def _writer(self) -> None:
        """Write pending state changes, newest per target. etcd down: keep them and retry with
        backoff. Fenced by a newer shard: keep them until it is adopted (``_adopt`` drops
        those no longer ours and wakes this again)."""
        delay = RETRY[0]
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            retry = False
            for target in list(self.pending):
                value = self.pending.get(target)
                if value is None:
                    continue
                if not self.session.valid():
                    raise SessionLost("lease window closed with health writes pending")
                try:
                    outcome = await self._write(target, value)
                except EtcdError as exc:
                    log.warning("health write of %s failed (%s); retrying", target, exc)
                    self.stats.bump(self.stats.health_writes, "error")
                    retry = True
                    break
                if outcome == "lost":
                    raise SessionLost(f"registration {self.key} is gone: the lease expired")
                if outcome == "fenced":
                    break
                if self.pending.get(target) is value:
                    del self.pending[target]
            if retry:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, RETRY[1])
                self._wake_writer.set()
            else:
                delay = RETRY[0]

    async def _write(self, target: str, value: HealthValue) -> str:
        """One fenced write -> 'written', 'fenced' (the shard moved on) or 'lost'."""
        followed = self.followed
        if followed is None:
            return "fenced"
        lb_id, backend = keys.split_target(target)
        key = keys.health_key(lb_id, backend)
        result = await self.etcd.txn(
            [Compare("create_revision", self.key, "=", self.create_revision),
             Compare("mod_revision", keys.shard_key(self.name), "=", followed.mod_revision)],
            [Op.put(key, dump_value(value))],
            [Op.range(self.key)])
        written = result.succeeded
        self.history.record("health", value.term, target=target, healthy=value.healthy,
                            reason=value.reason, written=written)
        if written:
            self.stats.bump(self.stats.health_writes, "written")
            log.info("wrote %s = %s (term %d)", key, "healthy" if value.healthy else "unhealthy",
                     value.term)
            await self.publisher.publish(keys.config_channel(lb_id))
            return "written"
        self.stats.bump(self.stats.health_writes, "fenced")
        me = result.responses[0].first()
        if me is None or me.create_revision != self.create_revision:
            return "lost"
        log.info("health write of %s fenced: my shard changed after revision %d", target,
                 followed.mod_revision)
        return "fenced"
