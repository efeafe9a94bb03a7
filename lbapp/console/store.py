"""What the console reads from and writes to etcd, and the Redis publish after a write.

A write is one etcd transaction guarded by the version (mod revision of the config key) the
client read: it puts the new config and its audit entry together, or nothing. Then "changed" is
published on the LB's Redis channel; the LB servers re-read etcd.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lbapp import keys
from lbapp.console.edits import EditError, diff
from lbapp.etcd import Compare, EtcdClient, Op

log = logging.getLogger("lbapp.console.store")
AUDIT_KEEP = 1000


@dataclass
class Stored:
    lb_id: str
    doc: dict
    text: bytes
    version: int


@dataclass
class Written:
    version: int
    audit_id: str
    subscribers: int | None     # None: the publish failed (LBs see the change at their poll)
    publish_seconds: float
    committed_at: float         # wall time the txn was answered (LB servers' applied_at - this
                                # is the propagation time: every lab namespace shares one clock)


def _json(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


class Store:
    def __init__(self, etcd: EtcdClient, redis_url: str | None) -> None:
        self.etcd = etcd
        self.redis = (aioredis.Redis.from_url(redis_url, socket_connect_timeout=0.5,
                                              socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
                      if redis_url else None)

    async def close(self) -> None:
        await self.etcd.close()
        if self.redis is not None:
            await self.redis.aclose()

    # -- reads ----------------------------------------------------------------------------------
    async def lbs(self) -> list[Stored]:
        result = await self.etcd.get_prefix(keys.LB_PREFIX)
        found = []
        for kv in result.kvs:
            lb_id = keys.lb_id_of_config_key(kv.key_text)
            if lb_id is not None:
                doc = _json(kv.value)
                found.append(Stored(lb_id, doc if isinstance(doc, dict) else {}, kv.value,
                                    kv.mod_revision))
        return found

    async def lb(self, lb_id: str) -> Stored:
        kv = await self.etcd.get(keys.config_key(lb_id))
        if kv is None:
            raise EditError(404, "lb_id", f"unknown load balancer {lb_id!r}", reason="unknown_lb")
        doc = _json(kv.value)
        return Stored(lb_id, doc if isinstance(doc, dict) else {}, kv.value, kv.mod_revision)

    async def health(self, lb_id: str) -> dict[str, dict]:
        prefix = keys.health_prefix(lb_id)
        result = await self.etcd.get_prefix(prefix)
        health = {}
        for kv in result.kvs:
            doc = _json(kv.value)
            health[kv.key_text[len(prefix):]] = doc if isinstance(doc, dict) else {"raw": True}
        return health

    async def drained(self, lb_id: str) -> dict[str, dict]:
        prefix = keys.drain_key(lb_id, "")
        result = await self.etcd.get_prefix(prefix)
        return {kv.key_text[len(prefix):]: _json(kv.value) or {} for kv in result.kvs}

    async def audit(self, limit: int = 50, lb_id: str | None = None) -> list[dict]:
        result = await self.etcd.range(keys.AUDIT_PREFIX, prefix=True, descending=True,
                                       limit=limit if lb_id is None else AUDIT_KEEP)
        entries = []
        for kv in result.kvs:
            entry = _json(kv.value)
            if isinstance(entry, dict) and (lb_id is None or entry.get("lb_id") == lb_id):
                entry["version"] = kv.mod_revision
                entries.append(entry)
        return entries[:limit]

    async def orchestrator(self) -> dict:
        """Leader and shard assignment, as the orchestrator writes them; absent = None."""
        leader = await self.etcd.leader(keys.ORCHESTRATOR_ELECTION)
        shards = await self.etcd.get_prefix(keys.ORCHESTRATOR_SHARDS_PREFIX)
        return {
            "leader": leader.value.decode("utf-8", "replace") if leader else None,
            "shards": {kv.key_text[len(keys.ORCHESTRATOR_SHARDS_PREFIX):]: _json(kv.value)
                       for kv in shards.kvs} or None,
        }

    async def lab_status(self) -> dict:
        """Announcement state per LB node and the DNS VIP holder, as the lab writes them."""
        result = await self.etcd.get_prefix(keys.STATUS_PREFIX)
        values = {kv.key_text: _json(kv.value) for kv in result.kvs}
        announce_prefix = keys.announce_status_key("")
        return {
            "announcements": {key[len(announce_prefix):]: value
                              for key, value in values.items()
                              if key.startswith(announce_prefix)} or None,
            "dns_vip": values.get(keys.dns_vip_status_key()),
        }

    # -- writes ---------------------------------------------------------------------------------
    async def write(self, stored: Stored, new_doc: dict, who: str, action: str) -> Written:
        """Put ``new_doc`` if the config is still at ``stored.version`` (else 409), with its audit
        entry, then publish."""
        audit_id = uuid.uuid4().hex[:12]
        audit_key = keys.audit_key(time.time_ns(), audit_id)
        entry = {"id": audit_id, "lb_id": stored.lb_id, "who": who, "at": time.time(),
                 "action": action, "version_before": stored.version,
                 "diff": diff(stored.doc, new_doc), "before": stored.doc, "after": new_doc}
        config_key = keys.config_key(stored.lb_id)
        result = await self.etcd.txn(
            [Compare("mod_revision", config_key, "=", stored.version)],
            [Op.put(config_key, json.dumps(new_doc)), Op.put(audit_key, json.dumps(entry))],
            [Op.range(audit_key)])
        if not result.succeeded:
            # a retry after a timeout: the first attempt may have been this very write
            if not (result.retried_after_timeout and result.responses[0].kvs):
                current = await self.etcd.get(config_key)
                now = current.mod_revision if current else 0
                raise EditError(409, "If-Match", f"stale version {stored.version}: the config "
                                f"of {stored.lb_id!r} is now at version {now}; read it again",
                                reason="stale_version")
            version = result.responses[0].kvs[0].mod_revision
        else:
            version = result.revision
        committed_at = time.time()
        subscribers, seconds = await self.publish(stored.lb_id)
        log.info("%s by %s on %s: version %d -> %d, published to %s", action, who, stored.lb_id,
                 stored.version, version, subscribers)
        return Written(version, audit_id, subscribers, seconds, committed_at)

    async def publish(self, lb_id: str) -> tuple[int | None, float]:
        started = time.monotonic()
        if self.redis is None:
            return None, 0.0
        try:
            subscribers = await self.redis.publish(keys.config_channel(lb_id), "changed")
        except Exception as exc:  # redis raises many kinds; the LBs' poll covers for it
            log.warning("publish on %s failed (%s: %s); LBs see the change at their next poll",
                        keys.config_channel(lb_id), type(exc).__name__, exc)
            return None, time.monotonic() - started
        return int(subscribers), time.monotonic() - started

    async def set_drain(self, lb_id: str, node: str, drained: bool, who: str) -> int:
        key = keys.drain_key(lb_id, node)
        audit_id = uuid.uuid4().hex[:12]
        action = "drain" if drained else "undrain"
        entry = {"id": audit_id, "lb_id": lb_id, "who": who, "at": time.time(),
                 "action": f"{action} {node}", "diff": [{"field": f"drain.{node}",
                                                         "before": not drained,
                                                         "after": drained}]}
        op = (Op.put(key, json.dumps({"by": who, "at": time.time()})) if drained
              else Op.delete(key))
        result = await self.etcd.txn([], [op, Op.put(keys.audit_key(time.time_ns(), audit_id),
                                                     json.dumps(entry))])
        return result.revision
