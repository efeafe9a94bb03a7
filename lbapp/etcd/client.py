"""An asyncio client for etcd v3's JSON gateway (etcd 3.4): KV, txn, leases, elections, watch.

    async with EtcdClient(["http://10.3.0.11:2379", "http://10.3.0.12:2379"]) as etcd:
        await etcd.put("/a", "1")
        kv = await etcd.get("/a")
        result = await etcd.txn([Compare("mod_revision", "/a", "=", kv.mod_revision)],
                                [Op.put("/a", "2")], [Op.range("/a")])

How members are chosen and how a silent member is left behind: ``lbapp.etcd.transport``.
Writes may be retried on another member after one timed out; ``TxnResult.retried_after_timeout``
then says the first attempt may have been applied too (a guarded txn that fails after such a
retry may have been your own write: check for something only your write put there).
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Sequence

from lbapp.etcd.codec import (Bytesish, Compacted, Compare, DeleteResult, EtcdError,
                              EtcdTimeout, EtcdUnavailable, KeyValue, LeaderKey, Lease,
                              LeaseNotFound, LeaseTimeToLive, NoLeader, PutResult, RangeResult,
                              TxnResult, WatchEvent, b64, decode_watch_events, delete_request,
                              header_revision, put_request, range_request, txn_is_read_only,
                              txn_request, unb64)
from lbapp.etcd.transport import EndpointFailed, GuardedStream, Transport, unwrap


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], *, timeout: float = 0.5,
                 hedge_after: float | None = 0.15, probe_interval: float = 1.0) -> None:
        """``timeout``: per member and request (the short one); ``hedge_after``: when an
        idempotent request also goes to the next member (None: never); ``probe_interval``: how
        often a member holding a long-blocking call is checked."""
        self.transport = Transport(endpoints, timeout=timeout, hedge_after=hedge_after,
                                   probe_interval=probe_interval)

    @property
    def endpoints(self) -> list[str]:
        return self.transport.endpoints

    @property
    def preferred_endpoint(self) -> str:
        return self.transport.endpoints[self.transport.preferred]

    async def __aenter__(self) -> "EtcdClient":
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    async def _call(self, path: str, body: dict, *, idempotent: bool) -> dict:
        answer, _ = await self.transport.call(path, body, idempotent=idempotent)
        return answer

    # -- KV -------------------------------------------------------------------------------------
    async def range(self, key: Bytesish, **options) -> RangeResult:
        """Options: prefix, range_end, limit, revision, serializable, keys_only, count_only,
        descending."""
        doc = await self._call("/v3/kv/range", range_request(key, **options), idempotent=True)
        return RangeResult.decode(doc)

    async def get(self, key: Bytesish) -> KeyValue | None:
        return (await self.range(key)).first()

    async def get_prefix(self, prefix: Bytesish) -> RangeResult:
        return await self.range(prefix, prefix=True)

    async def put(self, key: Bytesish, value: Bytesish, *, lease: int = 0,
                  prev_kv: bool = False) -> PutResult:
        doc = await self._call("/v3/kv/put", put_request(key, value, lease=lease, prev_kv=prev_kv),
                               idempotent=False)
        return PutResult.decode(doc)

    async def delete(self, key: Bytesish, *, prefix: bool = False,
                     prev_kv: bool = False) -> DeleteResult:
        doc = await self._call("/v3/kv/deleterange",
                               delete_request(key, prefix=prefix, prev_kv=prev_kv),
                               idempotent=False)
        return DeleteResult.decode(doc)

    async def txn(self, compare: list[Compare], success: list[dict],
                  failure: list[dict] | None = None) -> TxnResult:
        """Build ops with ``Op.range/put/delete``; a txn of ranges only is hedged like a read."""
        body = txn_request(compare, success, failure or [])
        doc, maybe_applied = await self.transport.call("/v3/kv/txn", body,
                                                       idempotent=txn_is_read_only(body))
        return TxnResult.decode(doc, retried_after_timeout=maybe_applied)

    async def revision(self) -> int:
        """The store's current revision (a count-only read)."""
        return (await self.range(b"\x00", range_end=b"\x00", count_only=True)).revision

    # -- leases ---------------------------------------------------------------------------------
    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        doc = await self._call("/v3/lease/grant", {"TTL": str(ttl), "ID": str(lease_id)},
                               idempotent=False)
        if doc.get("error"):
            raise EtcdError(f"lease grant: {doc['error']}")
        return Lease(id=int(doc["ID"]), ttl=int(doc.get("TTL") or 0))

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew once; returns the TTL now granted, 0 when the lease is gone."""
        doc = unwrap(await self._call("/v3/lease/keepalive", {"ID": str(lease_id)},
                                      idempotent=True))
        return int(doc.get("TTL") or 0)

    async def lease_revoke(self, lease_id: int) -> bool:
        """Revoke (its keys are deleted); False when it was already gone."""
        try:
            await self._call("/v3/lease/revoke", {"ID": str(lease_id)}, idempotent=False)
        except LeaseNotFound:
            return False
        return True

    async def lease_time_to_live(self, lease_id: int, keys: bool = False) -> LeaseTimeToLive:
        doc = await self._call("/v3/lease/timetolive", {"ID": str(lease_id), "keys": keys},
                               idempotent=True)
        return LeaseTimeToLive(id=int(doc.get("ID") or lease_id), ttl=int(doc.get("TTL") or 0),
                               granted_ttl=int(doc.get("grantedTTL") or 0),
                               keys=[unb64(k) for k in doc.get("keys") or []])

    # -- elections ------------------------------------------------------------------------------
    async def campaign(self, name: Bytesish, value: Bytesish, lease: int,
                       timeout: float | None = None) -> LeaderKey:
        """Block until elected (or ``timeout`` s: EtcdTimeout). The candidate key is tied to the
        lease, so campaigning again with the same lease (after a timeout or on another member)
        continues the same candidacy."""
        body = {"name": b64(name), "value": b64(value), "lease": str(lease)}
        try:
            async with asyncio.timeout(timeout):
                doc = await self._long_call("/v3/election/campaign", body)
        except TimeoutError:
            raise EtcdTimeout(f"campaign for {name!r}: not elected within {timeout} s") from None
        return LeaderKey.decode(doc["leader"])

    async def leader(self, name: Bytesish) -> KeyValue | None:
        """The election's current leader key (its value is what the leader proclaimed)."""
        try:
            doc = await self._call("/v3/election/leader", {"name": b64(name)}, idempotent=True)
        except NoLeader:
            return None
        return KeyValue.decode(doc["kv"]) if doc.get("kv") else None

    async def proclaim(self, leader: LeaderKey, value: Bytesish) -> None:
        await self._call("/v3/election/proclaim", {"leader": leader.encode(), "value": b64(value)},
                         idempotent=True)

    async def resign(self, leader: LeaderKey) -> None:
        await self._call("/v3/election/resign", {"leader": leader.encode()}, idempotent=True)

    def observe(self, name: Bytesish) -> "Observe":
        """``async for kv in etcd.observe(name)``: the leader now (once there is one) and at each
        change. After a member fails the current leader may be reported again."""
        return Observe(self.transport, name)

    # -- watch ----------------------------------------------------------------------------------
    def watch(self, key: Bytesish, *, prefix: bool = False, start_revision: int = 0,
              prev_kv: bool = False) -> "Watch":
        """``async for event in etcd.watch(key, prefix=True)``: every change, in order, none
        lost or repeated across member failures (it resumes at ``next_revision``)."""
        return Watch(self.transport, key, prefix=prefix, start_revision=start_revision,
                     prev_kv=prev_kv)

    async def _long_call(self, path: str, body: dict) -> dict:
        errors = []
        for index in self.transport.order():
            stream = self.transport.open_stream(index, path, body)
            try:
                doc = await stream.next()
            except EndpointFailed as exc:
                errors.append(f"{stream.endpoint}: {exc}")
                self.transport.demote(index)
                continue
            finally:
                await stream.close()
            self.transport.preferred = index
            return doc
        raise EtcdUnavailable(f"{path}: no etcd member answered: {'; '.join(errors)}")


class _FailoverStream:
    """An async iterator over a stream that moves to the next member when one fails; after
    every member failed in a row it raises EtcdUnavailable."""

    path = ""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._stream: GuardedStream | None = None
        self._errors: list[str] = []
        self._tried: list[int] = []
        self._pending: deque = deque()
        self._closed = False

    def body(self) -> dict:
        raise NotImplementedError

    def take(self, result: dict) -> None:
        """Handle one message of the stream: queue what to yield in ``_pending``."""
        raise NotImplementedError

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            if self._stream is None:
                self._open()
            try:
                result = await self._stream.next()
            except EndpointFailed as exc:
                self._errors.append(f"{self._stream.endpoint}: {exc}")
                self.transport.demote(self._stream.index)
                await self._drop()
                continue
            self.transport.preferred = self._stream.index
            self._tried.clear()
            self._errors.clear()
            self.take(result)
        return self._pending.popleft()

    def _open(self) -> None:
        untried = [i for i in self.transport.order() if i not in self._tried]
        if not untried:
            errors, self._errors, self._tried = self._errors, [], []
            raise EtcdUnavailable(f"{self.path}: no etcd member answered: {'; '.join(errors)}")
        self._tried.append(untried[0])
        self._stream = self.transport.open_stream(untried[0], self.path, self.body())

    async def _drop(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close()

    async def aclose(self) -> None:
        self._closed = True
        await self._drop()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.aclose()


class Watch(_FailoverStream):
    path = "/v3/watch"

    def __init__(self, transport: Transport, key: Bytesish, *, prefix: bool,
                 start_revision: int, prev_kv: bool) -> None:
        super().__init__(transport)
        self.key, self.prefix, self.prev_kv = key, prefix, prev_kv
        self.next_revision = start_revision  # 0 until the first stream says where it started

    def body(self) -> dict:
        request = range_request(self.key, prefix=self.prefix)
        if self.next_revision:
            request["start_revision"] = str(self.next_revision)
        if self.prev_kv:
            request["prev_kv"] = True
        return {"create_request": request}

    def take(self, result: dict) -> None:
        if result.get("canceled"):
            compact = int(result.get("compact_revision") or 0)
            if compact:
                raise Compacted(f"watch from revision {self.next_revision}: compacted up to "
                                f"{compact}", compact)
            raise EtcdError(f"watch canceled: {result.get('cancel_reason') or 'no reason given'}")
        events = decode_watch_events(result)
        for event in events:
            self._pending.append(event)
            self.next_revision = event.kv.mod_revision + 1
        if not events:  # created / progress: everything up to the header's revision was sent
            self.next_revision = max(self.next_revision, header_revision(result) + 1)


class Observe(_FailoverStream):
    path = "/v3/election/observe"

    def __init__(self, transport: Transport, name: Bytesish) -> None:
        super().__init__(transport)
        self.name = name

    def body(self) -> dict:
        return {"name": b64(self.name)}

    def take(self, result: dict) -> None:
        if result.get("kv"):
            self._pending.append(KeyValue.decode(result["kv"]))


__all__ = ["EtcdClient", "Watch", "Observe", "WatchEvent"]
