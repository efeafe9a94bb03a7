"""One orchestrator member process: ``python -m lbapp.orchestrator --settings FILE``.

Lifecycle: open a lease session (``lbapp.etcd.session``); under it, run the member (register,
follow its shard, check its targets) and campaign for leadership (etcd's election API, on the
same lease); once elected, lead until the session ends. Any sign the lease may be gone (its
window closed, etcd says so, a fenced write failed) ends the whole session: every task stops,
and the process starts over with a new lease. SIGTERM revokes the lease, so the others take
over at once instead of after a TTL.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import time

import uvloop
from aiohttp import web

from lbapp import keys
from lbapp.etcd import EtcdClient, EtcdError
from lbapp.etcd.session import LeaseSession
from lbapp.daemon import settings_main
from lbapp.orchestrator.history import HistoryWriter
from lbapp.orchestrator.leader import Leader
from lbapp.orchestrator.member import Member, SessionLost
from lbapp.orchestrator.metrics import OrchestratorStats, build_registry, render
from lbapp.orchestrator.publish import Publisher
from lbapp.orchestrator.scaler import scaling_duty
from lbapp.orchestrator.settings import Settings, load_settings
from lbapp.settingsfile import parse_hostport

log = logging.getLogger("lbapp.orchestrator")

RESTART_BACKOFF = (0.2, 2.0)


class Orchestrator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.name
        self.stats = OrchestratorStats(settings.name)
        self.history = HistoryWriter(settings.history_file, settings.name)
        self.publisher = Publisher(settings.redis_url, self.stats, settings.name)
        self.etcd = EtcdClient(settings.etcd_endpoints, timeout=settings.etcd_timeout_ms / 1000)
        self.session: LeaseSession | None = None
        self.member: Member | None = None
        self.duties = [scaling_duty(settings.autoscale)] if settings.autoscale else []

    async def run(self, stop: asyncio.Event) -> int:
        runner = await self._serve_metrics()
        flusher = asyncio.get_running_loop().create_task(self._flush_history())
        delay = RESTART_BACKOFF[0]
        try:
            while not stop.is_set():
                try:
                    self.session = await LeaseSession.open(self.etcd, self.settings.lease_ttl_s,
                                                           name=self.name)
                except EtcdError as exc:
                    log.warning("cannot get a lease (%s); retrying", exc)
                    await _sleep_or_stop(stop, delay)
                    delay = min(delay * 2, RESTART_BACKOFF[1])
                    continue
                delay = RESTART_BACKOFF[0]
                self.stats.lease_remaining = self.session.remaining
                ended = await self._session(stop)
                if not stop.is_set():
                    log.warning("session ended: %s", ended)
                await self.session.close(revoke=True)
                self._step_down()
                if not stop.is_set():
                    await _sleep_or_stop(stop, delay)
        finally:
            flusher.cancel()
            self.history.close()
            await self.publisher.close()
            await self.etcd.close()
            if runner is not None:
                await runner.cleanup()
        return 0

    async def _session(self, stop: asyncio.Event) -> str:
        """Run member and candidate until the session is lost or we are told to stop."""
        session = self.session
        self.member = Member(self.settings, self.etcd, session, self.publisher, self.history,
                             self.stats)
        tasks = [asyncio.create_task(self.member.run(), name="member"),
                 asyncio.create_task(self._candidate(session), name="candidate"),
                 asyncio.create_task(session.lost.wait(), name="lease"),
                 asyncio.create_task(stop.wait(), name="stop")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results):
            if task in done:
                if isinstance(result, BaseException) and not isinstance(
                        result, asyncio.CancelledError):
                    if not _expected(result):
                        log.error("%s failed", task.get_name(), exc_info=result)
                    return f"{task.get_name()}: " + "; ".join(str(e) for e in _leaves(result))
                return f"{task.get_name()} ended" + (f": {session.reason}"
                                                     if task.get_name() == "lease" else "")
        return "stopped"

    async def _candidate(self, session: LeaseSession) -> None:
        delay = RESTART_BACKOFF[0]
        while True:
            try:
                leader_key = await self.etcd.campaign(keys.ORCHESTRATOR_ELECTION, self.name, session.lease_id)
                break
            except EtcdError as exc:  # every member failed: campaign again (same candidacy)
                log.warning("campaign interrupted (%s); again", exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, RESTART_BACKOFF[1])
        if not session.valid():
            raise SessionLost("elected, but the lease window had closed")
        log.info("elected leader: term %d (lease %x, %.2f s left on it)", leader_key.rev,
                 session.lease_id, session.remaining())
        self.stats.is_leader, self.stats.leader_term = True, leader_key.rev
        self.stats.leader_terms += 1
        self.history.record("role", leader_key.rev, leader=True)
        await Leader(self.name, self.etcd, session, leader_key, self.stats,
                     self.history).run(self.duties)

    def _step_down(self) -> None:
        if self.stats.is_leader:
            self.history.record("role", self.stats.leader_term, leader=False)
            log.warning("no longer leader (term %d)", self.stats.leader_term)
        self.stats.is_leader = False

    async def _flush_history(self) -> None:
        while True:
            await asyncio.sleep(self.history.flush_every)
            self.history.flush()

    # -- /metrics and /-/status -------------------------------------------------------------------
    def status(self) -> dict:
        member = self.member
        followed = member.followed if member else None
        return {
            "name": self.name, "is_leader": self.stats.is_leader,
            "leader_term": self.stats.leader_term or None,
            "lease": {"id": f"{self.session.lease_id:x}" if self.session else None,
                      "ttl": self.session.ttl if self.session else None,
                      "remaining_s": round(self.session.remaining(), 3) if self.session else 0},
            "shard": None if followed is None else {
                "term": followed.shard.term, "leader": followed.shard.leader,
                "revision": followed.mod_revision, "members": followed.shard.members},
            "targets": {t: s.healthy for t, s in sorted(member.states.items())} if member else {},
            "checks_per_second": round(self.stats.checks_per_second(), 1),
            "scale": {"reason": self.stats.scale_reason, "inputs": self.stats.scale_inputs},
            "time": time.time(),
        }

    async def _serve_metrics(self) -> web.AppRunner | None:
        if not self.settings.metrics_listen:
            return None
        registry = build_registry(self.stats)

        async def metrics(_: web.Request) -> web.Response:
            body, content_type = render(registry)
            return web.Response(body=body, headers={"Content-Type": content_type})

        async def status(_: web.Request) -> web.Response:
            return web.json_response(self.status(), dumps=lambda d: json.dumps(d, indent=1))

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/-/status", status)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = parse_hostport(self.settings.metrics_listen)
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        log.info("metrics on %s", self.settings.metrics_listen)
        return runner


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _expected(exc: BaseException) -> bool:
    """How a session normally ends: the lease is gone, or etcd cannot be reached."""
    return all(isinstance(leaf, (SessionLost, EtcdError)) for leaf in _leaves(exc))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds * random.uniform(0.8, 1.2))
    except TimeoutError:
        pass


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("orchestrator %s starting: etcd %s, lease TTL %d s, checks every %d ms "
             "(timeout %d ms, rise %d, fall %d)", settings.name,
             ", ".join(settings.etcd_endpoints), settings.lease_ttl_s,
             settings.health_check.interval_ms, settings.health_check.timeout_ms,
             settings.health_check.rise, settings.health_check.fall)
    return await Orchestrator(settings).run(stop)


def main(argv: list[str] | None = None) -> int:
    settings = settings_main(argv, "python -m lbapp.orchestrator", "lbapp orchestrator member",
                             "lbapp.orchestrator.settings", load_settings, lambda s: s.name)
    if isinstance(settings, int):
        return settings
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(serve(settings))
    except OSError as exc:  # e.g. the metrics address in use
        log.error("cannot start: %s", exc)
        return 1
