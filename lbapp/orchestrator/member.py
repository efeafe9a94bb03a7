"""What every orchestrator member does: register, follow the assignment, check its shard, and
write each health state change — fenced — to etcd, then publish it on Redis.

A health write is a transaction that succeeds only if (1) this member's registration key still
has the create revision it got (its lease has not expired: a member stopped or cut off for a TTL
lost it) and (2) the assignment is still the one the member read (no leader has moved targets
since). A member that fails (2) re-reads the assignment and, if the target is still its own,
writes again; one that fails (1) is no longer a member and its session ends.
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
from lbapp.orchestrator.values import Assignment, HealthValue, MemberInfo, dump_value, parse_value

log = logging.getLogger("lbapp.orchestrator.member")

RETRY = (0.1, 2.0)


class SessionLost(Exception):
    """This member's lease is gone or may be: everything it does must stop."""


@dataclass
class Followed:
    assignment: Assignment
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
        self._bad_assignment = 0  # mod revision of the last malformed assignment logged

    @property
    def term(self) -> int:
        return self.followed.assignment.term if self.followed else 0

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
        mirror = Mirror(self.etcd, keys.ORCHESTRATOR_ASSIGNMENT, prefix=False, name="assignment")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(mirror.run(), name="assignment mirror")
                group.create_task(self._follow(mirror), name="follow assignment")
                group.create_task(self._writer(), name="health writer")
        finally:
            await self.checker.stop()
            self.stats.shard_size = 0
            self.stats.backend_healthy.clear()

    # -- following the assignment -------------------------------------------------------------
    async def _follow(self, mirror: Mirror) -> None:
        while True:
            await mirror.wait_changed()
            kv = mirror.value()
            if kv is None:
                continue  # no leader has assigned anything yet
            if self.followed and kv.mod_revision == self.followed.mod_revision:
                continue
            try:
                assignment = parse_value(Assignment, kv.value,
                                         f"etcd:{keys.ORCHESTRATOR_ASSIGNMENT}@{kv.mod_revision}")
            except ValueError as exc:
                if kv.mod_revision != self._bad_assignment:
                    self._bad_assignment = kv.mod_revision
                    log.error("%s; keeping the last good assignment", exc)
                continue
            await self._adopt(assignment, kv.mod_revision)

    async def _adopt(self, assignment: Assignment, mod_revision: int) -> None:
        shard = assignment.shard(self.name)
        new = [t for t in shard if t not in self.states]
        initial = await self._current_health(new) if new else {}
        for target in list(self.states):
            if target not in shard:
                del self.states[target]
                self.pending.pop(target, None)
                self.stats.backend_healthy.pop(target, None)
        hc = self.settings.health_check
        for target in new:
            self.states[target] = HealthState(initial.get(target, True), hc.rise, hc.fall)
            self.stats.backend_healthy[target] = self.states[target].healthy
        self.followed = Followed(assignment, mod_revision)
        self.checker.set_targets({name: Endpoint(t.address, t.port, t.path)
                                  for name, t in shard.items()})
        self.stats.term = assignment.term
        self.stats.members = len(assignment.members)
        self.stats.shard_size = len(shard)
        self.history.record("shard", assignment.term, targets=len(shard),
                            leader=assignment.leader)
        log.info("assignment of term %d (revision %d) from %s: %d of %d targets are mine",
                 assignment.term, mod_revision, assignment.leader, len(shard),
                 len(assignment.targets))
        for target, value in list(self.pending.items()):  # fenced writes go again, new term
            self.pending[target] = value.model_copy(update={"term": assignment.term})
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
        if state is None or not self.session.valid():
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
        backoff. Fenced by a newer assignment: keep them until it is adopted (``_adopt`` drops
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
        """One fenced write -> 'written', 'fenced' (the assignment moved on) or 'lost'."""
        followed = self.followed
        lb_id, backend = keys.split_target(target)
        key = keys.health_key(lb_id, backend)
        result = await self.etcd.txn(
            [Compare("create_revision", self.key, "=", self.create_revision),
             Compare("mod_revision", keys.ORCHESTRATOR_ASSIGNMENT, "=", followed.mod_revision)],
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
        log.info("health write of %s fenced: the assignment changed after revision %d", target,
                 followed.mod_revision)
        return "fenced"
