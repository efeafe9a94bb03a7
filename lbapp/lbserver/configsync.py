"""Keeping the in-memory config in step with etcd: push (Redis pub/sub) + pull (jittered poll).

Every trigger (start, poll tick, Redis message, Redis resubscribe) asks one worker to re-read
etcd; triggers arriving during a read coalesce into one more read, so a write is never missed
and a burst of messages costs at most two reads. One read is a single etcd transaction over the
config key and the health prefix, so config and health come from the same revision.

etcd down: the last good config stays. Redis down: the poll still brings changes within one
poll period (+ jitter). A config failing the schema is rejected, logged once (naming the key,
revision and fields), counted, and the last good one stays.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lbapp import keys
from lbapp.algorithms import build_tables, uses_table
from lbapp.config.schema import ConfigError, parse_config
from lbapp.etcd import EtcdClient, EtcdError, Op, TxnResult
from lbapp.lbserver.runtime import Runtime
from lbapp.lbserver.settings import Settings

log = logging.getLogger("lbapp.lbserver.config")

POLL_JITTER = 0.15          # poll period is drawn from [1 - j, 1 + j] x poll_frequency
FIRST_LOAD_RETRY = (0.2, 2.0)  # backoff while no config has been loaded yet (s)
REDIS_BACKOFF = (0.1, 5.0)
REDIS_PING_EVERY = 5.0
REDIS_SILENCE_LIMIT = 15.0  # no reply at all for this long: the subscription is dead


@dataclass
class EtcdView:
    """The config key and the health keys of one LB, as of one etcd revision."""

    revision: int
    config_value: bytes | None
    config_mod_revision: int
    health: dict[str, tuple[bytes, int]] = field(default_factory=dict)


class EtcdReader:
    """Reads one LB's config and health keys in one read-only transaction (lbapp.etcd: the
    member that answered last first, hedged to the next one, one short timeout each)."""

    def __init__(self, endpoints: list[str], timeout: float) -> None:
        self.client = EtcdClient(endpoints, timeout=timeout)

    async def read(self, config_key: str, health_prefix: str) -> EtcdView:
        result = await self.client.txn([], [Op.range(config_key),
                                            Op.range(health_prefix, prefix=True)])
        return view_from_txn(result, health_prefix)

    async def close(self) -> None:
        await self.client.close()


def view_from_txn(result: TxnResult, health_prefix: str) -> EtcdView:
    """The answer to ``EtcdReader``'s two-range transaction as an EtcdView."""
    config_range, health_range = result.responses
    view = EtcdView(revision=result.revision, config_value=None, config_mod_revision=0)
    config = config_range.first()
    if config is not None:
        view.config_value = config.value
        view.config_mod_revision = config.mod_revision
    for kv in health_range.kvs:
        name = kv.key_text[len(health_prefix):]
        if name:
            view.health[name] = (kv.value, kv.mod_revision)
    return view


def parse_health(entries: dict[str, tuple[bytes, int]], source: str,
                 warn: set[tuple[str, int]] | None = None) -> dict[str, bool]:
    """Health keys -> {backend: healthy}. A value that is not {"healthy": bool} counts as
    healthy (fail open) and is logged once per (name, revision) if ``warn`` is given."""
    health: dict[str, bool] = {}
    for name, (value, revision) in entries.items():
        try:
            doc = json.loads(value)
            healthy = doc["healthy"]
            if not isinstance(healthy, bool):
                raise TypeError("'healthy' must be true or false")
        except (ValueError, KeyError, TypeError) as exc:
            if warn is not None and (name, revision) not in warn:
                warn.add((name, revision))
                log.warning("%s%s@%d: ignored health value (%s); treating as healthy",
                            source, name, revision, exc)
            healthy = True
        health[name] = healthy
    return health


class ConfigSync:
    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self.rt = runtime
        self.stats = runtime.config_stats
        self.config_key = keys.config_key(settings.lb_id)
        self.health_prefix = keys.health_prefix(settings.lb_id)
        self.channel = keys.config_channel(settings.lb_id)
        self.reader = EtcdReader(settings.etcd_endpoints, settings.etcd_timeout_ms / 1000)
        self._wake = asyncio.Event()
        self._pending_source: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._applied_health: dict[str, bool] | None = None
        self._rejected_revision = 0
        self._missing_logged = False
        self._etcd_failing = False
        self._bad_health_logged: set[tuple[str, int]] = set()
        self.loaded = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._worker(), name="config-worker"))
        self._tasks.append(loop.create_task(self._poll_loop(), name="config-poll"))
        if self.settings.redis_url:
            self._tasks.append(loop.create_task(self._redis_loop(), name="config-redis"))
        else:
            log.info("no redis_url: config changes arrive by polling only")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.reader.close()

    def trigger(self, source: str) -> None:
        if self._pending_source is None:
            self._pending_source = source
        self._wake.set()

    # -- reading etcd -----------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            source, self._pending_source = self._pending_source or "poll", None
            try:
                result = await self.refresh(source)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("config refresh failed unexpectedly")
                result = "error"
            self.stats.refreshed(source, result)

    async def refresh(self, source: str) -> str:
        """Read etcd once and apply what changed; returns the result label."""
        try:
            view = await self.reader.read(self.config_key, self.health_prefix)
        except EtcdError as exc:
            self.stats.etcd_ok = False
            if not self._etcd_failing:
                self._etcd_failing = True
                log.warning("etcd unreachable, keeping the last good config: %s", exc)
            return "error"
        self.stats.etcd_ok = True
        if self._etcd_failing:
            self._etcd_failing = False
            log.info("etcd reachable again")
        await self._build_tables_off_loop(view)
        return self.apply_view(view, source)

    async def _build_tables_off_loop(self, view: EtcdView) -> None:
        """A new config's hash table (Maglev: up to ~1 s of CPU at 1000 backends) is built in a
        thread while the loop keeps serving with the old snapshot; apply_view then finds it
        cached. Every LB applies a change at the same moment, so building it on the loop
        stalled every LB's readiness at once and their announcers withdrew the VIP together."""
        snap = self.rt.snapshot
        if view.config_value is None or view.config_mod_revision in (
                snap.version if snap else 0, self._rejected_revision):
            return
        try:
            config = parse_config(view.config_value, source="prebuild")
            if uses_table(config):   # a thread hop costs a loaded LB milliseconds: only for a table
                await asyncio.to_thread(build_tables, config)
        except Exception:  # noqa: BLE001 - apply_view parses again and reports the problem
            return

    def apply_view(self, view: EtcdView, source: str) -> str:
        snap = self.rt.snapshot
        where = f"etcd:{self.config_key}"
        config = snap.config if snap is not None else None
        version = snap.version if snap is not None else 0
        result = "unchanged"
        if view.config_value is None:
            if not self._missing_logged:
                self._missing_logged = True
                log.warning("%s: key is missing%s", where,
                            "; keeping the last good config" if snap is not None else "")
            if snap is None:
                return "error"
        else:
            self._missing_logged = False
            if view.config_mod_revision not in (version, self._rejected_revision):
                try:
                    config = parse_config(view.config_value,
                                          source=f"{where}@{view.config_mod_revision}")
                    version = view.config_mod_revision
                except ConfigError as exc:
                    self._reject(view.config_mod_revision, str(exc), snap is not None)
                    result = "rejected"
                    if snap is None:
                        return result
        health = parse_health(view.health, self.health_prefix, self._bad_health_logged)
        if config is None:  # nothing valid has ever been seen
            return "rejected" if view.config_mod_revision == self._rejected_revision else "error"
        if snap is not None and version == snap.version and health == self._applied_health:
            return result
        try:
            new = self.rt.apply(config, version, health, view.revision)
        except Exception as exc:  # the balancer refused the config
            self._reject(version, f"{where}@{version}: balancer rejected config: {exc}",
                         snap is not None)
            return "rejected"
        self._applied_health = health
        self.stats.version = new.version
        self.stats.applied_at = new.applied_at
        self.stats.health_revision = view.revision
        down = sorted(new.unhealthy)
        log.info("applied config v%d (%s): %d backends, %s, unhealthy: %s", new.version, source,
                 len(new.backends), config.algorithm, ", ".join(down) if down else "none")
        self.loaded.set()
        return "applied" if result == "unchanged" else result

    def _reject(self, revision: int, message: str, have_config: bool) -> None:
        self._rejected_revision = revision
        self.stats.rejected += 1
        log.error("%s\n  -> rejected; %s", message,
                  "keeping the last good config" if have_config else "no config loaded yet")

    # -- pull -------------------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        delay = FIRST_LOAD_RETRY[0]
        self.trigger("initial")
        while True:
            snap = self.rt.snapshot
            if snap is None:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, FIRST_LOAD_RETRY[1])
                self.trigger("initial" if self.rt.snapshot is None else "poll")
            else:
                await asyncio.sleep(snap.poll_seconds * random.uniform(1 - POLL_JITTER,
                                                                       1 + POLL_JITTER))
                self.trigger("poll")

    # -- push -------------------------------------------------------------------------------
    async def _redis_loop(self) -> None:
        loop = asyncio.get_running_loop()
        delay = REDIS_BACKOFF[0]
        while True:
            client = aioredis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=1.0,
                                             retry=Retry(NoBackoff(), 0))
            pubsub = client.pubsub()
            try:
                await asyncio.wait_for(pubsub.subscribe(self.channel), 2.0)
                self.stats.redis_connected = True
                delay = REDIS_BACKOFF[0]
                log.info("subscribed to redis channel %s", self.channel)
                self.trigger("resync")  # messages sent while unsubscribed are lost
                last_heard = last_ping = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    now = loop.time()
                    if message is not None:
                        last_heard = now
                        if message.get("type") == "message":
                            self.trigger("push")
                    if now - last_ping >= REDIS_PING_EVERY:
                        last_ping = now
                        await asyncio.wait_for(pubsub.ping(), 2.0)
                    if now - last_heard > REDIS_SILENCE_LIMIT:
                        raise ConnectionError(f"no reply from redis for {REDIS_SILENCE_LIMIT} s")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.stats.redis_connected:
                    log.warning("redis subscription lost (%s: %s); polling continues",
                                type(exc).__name__, exc)
                self.stats.redis_connected = False
            finally:
                await _close_quietly(pubsub, client)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, REDIS_BACKOFF[1])


async def _close_quietly(pubsub, client) -> None:
    try:
        await asyncio.wait_for(pubsub.aclose(), 1.0)
    except BaseException:  # noqa: BLE001 - best effort; includes a cancel during shutdown
        pass
    try:
        await asyncio.wait_for(client.aclose(), 1.0)
    except BaseException:  # noqa: BLE001
        pass
