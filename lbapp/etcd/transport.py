"""Getting one request answered by some etcd member, fast, when a member is gone or silent.

Unary calls go to the preferred member (the one that answered last) with one short timeout,
then to the next member. A member whose packets are dropped therefore costs one short timeout
once: after that the answering member is preferred. Idempotent calls are also *hedged*: when
the member asked has not answered within ``hedge_after``, the next one is asked too and the
first answer wins, so a read does not even pay the whole timeout.

A long-blocking call (campaign, observe, watch) cannot use a timeout on its answer (it may
rightly wait for minutes), so while it is open a watchdog asks the same member for its status
every ``probe_interval``; a member that does not answer within the short timeout, or that has
no raft leader (cut off from the others), ends the call with ``EndpointFailed`` and the caller
continues on another member.
"""
from __future__ import annotations

import asyncio
import json
from typing import Sequence
from urllib.parse import urlsplit

import aiohttp

from lbapp.etcd.codec import EtcdError, EtcdUnavailable, decode_error, split_stream

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class EndpointFailed(Exception):
    """This member did not serve the request; another may. ``maybe_applied``: a write may still
    have been applied (it was sent and the answer never came)."""

    def __init__(self, message: str, maybe_applied: bool) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


def parse_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise ValueError(f"etcd endpoint {url!r} must look like http://host:2379")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"etcd endpoint {url!r}: no path expected")
    return f"{parts.scheme}://{parts.netloc}"


class Transport:
    def __init__(self, endpoints: Sequence[str], *, timeout: float = 0.5,
                 hedge_after: float | None = 0.15, probe_interval: float = 1.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        if timeout <= 0 or probe_interval <= 0 or (hedge_after is not None and hedge_after <= 0):
            raise ValueError("timeout, hedge_after and probe_interval must be positive")
        self.endpoints = [parse_endpoint(e) for e in endpoints]
        self.timeout = timeout
        self.hedge_after = hedge_after
        self.probe_interval = probe_interval
        self.preferred = 0
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60),
                json_serialize=json.dumps, raise_for_status=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def order(self) -> list[int]:
        """Endpoint indexes to try: the preferred one first, then the others in turn."""
        n = len(self.endpoints)
        return [(self.preferred + i) % n for i in range(n)]

    def demote(self, index: int) -> None:
        """The member at ``index`` failed: prefer the next one from now on."""
        if self.preferred == index:
            self.preferred = (index + 1) % len(self.endpoints)

    # -- unary ----------------------------------------------------------------------------------
    async def attempt(self, index: int, path: str, body: dict,
                      timeout: float | None) -> dict:
        """One request to one member -> its decoded answer. Raises EndpointFailed when another
        member may do better, EtcdError when etcd's answer is final."""
        url = self.endpoints[index] + path
        limit = aiohttp.ClientTimeout(total=timeout, sock_connect=self.timeout)
        try:
            async with self.session().post(url, json=body, timeout=limit) as resp:
                data = await resp.read()
                status = resp.status
        except TimeoutError:
            raise EndpointFailed(f"no answer within {timeout if timeout else self.timeout} s",
                                 maybe_applied=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise EndpointFailed(f"cannot connect: {exc.os_error or exc}",
                                 maybe_applied=False) from None
        except aiohttp.ClientError as exc:
            raise EndpointFailed(f"{type(exc).__name__}: {exc}", maybe_applied=True) from None
        if status != 200:
            error, elsewhere = decode_error(status, data)
            if elsewhere:
                raise EndpointFailed(str(error), maybe_applied="no leader" not in str(error))
            raise error
        try:
            return json.loads(data)
        except ValueError:
            raise EndpointFailed(f"answer is not JSON: {data[:100]!r}", maybe_applied=True) from None

    async def call(self, path: str, body: dict, *, idempotent: bool) -> tuple[dict, bool]:
        """Ask members in turn (hedged when idempotent) -> (answer, whether an earlier attempt
        may have been applied)."""
        order = self.order()
        pending: dict[asyncio.Task, int] = {}
        errors: list[str] = []
        maybe_applied = False
        started = 0

        def start_next() -> None:
            nonlocal started
            index = order[started]
            started += 1
            task = asyncio.ensure_future(self.attempt(index, path, body, self.timeout))
            pending[task] = index

        start_next()
        try:
            while pending:
                hedge = (self.hedge_after if idempotent and started < len(order) else None)
                done, _ = await asyncio.wait(pending, timeout=hedge,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    start_next()
                    continue
                for task in sorted(done, key=lambda t: t.exception() is not None):
                    index = pending.pop(task)
                    exc = task.exception()
                    if exc is None:
                        self.preferred = index
                        return task.result(), maybe_applied
                    if not isinstance(exc, EndpointFailed):
                        raise exc
                    errors.append(f"{self.endpoints[index]}: {exc}")
                    maybe_applied = maybe_applied or exc.maybe_applied
                if not pending and started < len(order):
                    start_next()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        raise EtcdUnavailable(f"{path}: no etcd member answered: {'; '.join(errors)}")

    # -- long-blocking calls --------------------------------------------------------------------
    async def probe(self, index: int) -> None:
        """Raise EndpointFailed unless the member answers its status quickly and has a leader."""
        status = await self.attempt(index, "/v3/maintenance/status", {}, self.timeout)
        if not int(status.get("leader") or 0):
            raise EndpointFailed("member has no raft leader (cut off from the others?)",
                                 maybe_applied=False)

    async def watchdog(self, index: int) -> None:
        """Return never; raise EndpointFailed as soon as a probe of the member fails."""
        while True:
            await asyncio.sleep(self.probe_interval)
            await self.probe(index)

    def open_stream(self, index: int, path: str, body: dict) -> "GuardedStream":
        return GuardedStream(self, index, path, body)


class GuardedStream:
    """A streaming (or long-blocking) request to one member, watched by the watchdog.

    ``next()`` returns the member's next JSON message; it raises EndpointFailed when the member
    stops answering probes or closes the stream, EtcdError when etcd reports an error."""

    def __init__(self, transport: Transport, index: int, path: str, body: dict) -> None:
        self.transport, self.index = transport, index
        self.endpoint = transport.endpoints[index]
        self._messages: asyncio.Queue[dict] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read(path, body))
        self._dog = asyncio.ensure_future(transport.watchdog(index))

    async def _read(self, path: str, body: dict) -> None:
        url = self.endpoint + path
        limit = aiohttp.ClientTimeout(total=None, sock_connect=self.transport.timeout)
        buffer = bytearray()
        try:
            async with self.transport.session().post(url, json=body, timeout=limit) as resp:
                if resp.status != 200:
                    error, elsewhere = decode_error(resp.status, await resp.read())
                    if elsewhere:
                        raise EndpointFailed(str(error), maybe_applied=False)
                    raise error
                async for chunk in resp.content.iter_any():
                    for message in split_stream(buffer, chunk, MAX_MESSAGE_BYTES):
                        self._messages.put_nowait(message)
        except aiohttp.ClientError as exc:
            raise EndpointFailed(f"{type(exc).__name__}: {exc}", maybe_applied=False) from None
        if buffer.strip():  # a unary long call (campaign): one JSON document, no newline
            self._messages.put_nowait(json.loads(bytes(buffer)))
        raise EndpointFailed("the member closed the stream", maybe_applied=False)

    async def next(self) -> dict:
        while True:
            if not self._messages.empty():
                return unwrap(self._messages.get_nowait())
            getter = asyncio.ensure_future(self._messages.get())
            try:
                done, _ = await asyncio.wait({getter, self._reader, self._dog},
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter in done and not getter.cancelled():
                return unwrap(getter.result())
            if self._messages.empty():
                finished = self._reader if self._reader.done() else self._dog
                raise finished.exception() or EndpointFailed("stream ended",
                                                             maybe_applied=False)

    async def close(self) -> None:
        for task in (self._reader, self._dog):
            task.cancel()
        await asyncio.gather(self._reader, self._dog, return_exceptions=True)


def unwrap(message: dict) -> dict:
    """Streamed messages come as {"result": ...} or {"error": ...}; unary ones as they are."""
    if "error" in message and isinstance(message["error"], dict):
        error = message["error"]
        raise decode_error(int(error.get("http_code") or 500),
                           json.dumps(error).encode())[0]
    if "result" in message and isinstance(message["result"], dict):
        return message["result"]
    return message

