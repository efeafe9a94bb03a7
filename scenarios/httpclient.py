"""A minimal HTTP/1.1 GET client on asyncio protocols + httptools, cheap enough for hundreds of
requests/s per core. By default one new TCP connection per request (so ECMP hashes each request
as a new flow); with keep-alive, idle connections are reused per (ip, port)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httptools

from .dnsclient import os_error_kind

_CLOSE_GRACE = 2.0   # after a complete response, wait this long for the server's FIN


@dataclass(slots=True)
class HttpResult:
    outcome: str                   # "ok", "http_<code>", "timeout", "refused", "reset", "error:<kind>"
    status: int | None = None
    lb: str | None = None
    backend: str | None = None
    sport: int | None = None
    err: str | None = None
    reused: bool = False


class _Conn(asyncio.Protocol):
    """One TCP connection; carries one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiter: asyncio.Future | None = None
        self.parser = None
        self.status: int | None = None
        self.lb: str | None = None
        self.backend: str | None = None
        self.length_known = False
        self.headers_done = False
        self.keepalive = False
        self._close_handle: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.parser is None:          # bytes while idle: the connection is unusable
            self._abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(HttpResult("error:upgrade"))
        except httptools.HttpParserError as exc:
            self._finish(HttpResult("error:parse", err=str(exc)))

    def eof_received(self):
        if self.waiter is not None and not self.waiter.done():
            if self.headers_done and not self.length_known:
                self._complete()         # body delimited by connection close
            else:
                self._finish(HttpResult("reset" if self.status is None else "error:eof",
                                        status=self.status, err="connection closed by peer"))
        return False                     # close the transport

    def connection_lost(self, exc):
        self.closed = True
        if self._close_handle is not None:
            self._close_handle.cancel()
        if self.waiter is not None and not self.waiter.done():
            if exc is None:
                self._finish(HttpResult("reset", status=self.status, err="connection closed"))
            elif isinstance(exc, OSError):
                self._finish(HttpResult(os_error_kind(exc), status=self.status, err=str(exc)))
            else:
                self._finish(HttpResult("error:connection", err=repr(exc)))

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"x-lb":
            self.lb = value.decode("latin-1")
        elif n == b"x-backend":
            self.backend = value.decode("latin-1")
        elif n == b"content-length" or (n == b"transfer-encoding" and b"chunked" in value.lower()):
            self.length_known = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        self._complete()

    # --- helpers
    def start(self, request: bytes) -> asyncio.Future:
        self.waiter = self.loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        self.status = self.lb = self.backend = None
        self.length_known = self.headers_done = False
        self.transport.write(request)
        return self.waiter

    def _complete(self) -> None:
        status = self.status or 0
        self.keepalive = self.parser.should_keep_alive() if self.parser is not None else False
        outcome = "ok" if 200 <= status < 300 else f"http_{status}"
        self._finish(HttpResult(outcome, status=status, lb=self.lb, backend=self.backend))

    def _finish(self, result: HttpResult) -> None:
        self.parser = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(result)

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close_soon(self) -> None:
        """Let the server close first (no TIME_WAIT piling up on the client), but not forever."""
        if not self.closed and self.transport is not None and self._close_handle is None:
            self._close_handle = self.loop.call_later(_CLOSE_GRACE, self.transport.close)


class HttpClient:
    """GET requests against (ip, port) with a Host header; ``get`` never raises for network
    failures, only for cancellation (the caller's deadline)."""

    def __init__(self, host_header: str, path: str, keepalive: bool = False):
        self.keepalive = keepalive
        conn = b"keep-alive" if keepalive else b"close"
        self.request = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host_header.encode()
                        + b"\r\nUser-Agent: lblab-traffic\r\nAccept: */*\r\nConnection: " + conn + b"\r\n\r\n")
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._all: set[_Conn] = set()

    async def get(self, ip: str, port: int) -> HttpResult:
        loop = asyncio.get_running_loop()
        conn = self._take_idle(ip, port)
        reused = conn is not None
        if conn is None:
            try:
                _, conn = await loop.create_connection(lambda: _Conn(loop), ip, port)
            except OSError as exc:
                return HttpResult(os_error_kind(exc), err=str(exc))
            self._all.add(conn)
        sockname = conn.transport.get_extra_info("sockname")
        sport = sockname[1] if sockname else None
        try:
            result = await conn.start(self.request)
        except asyncio.CancelledError:
            conn._abort()                 # timed out mid-request: the connection is useless
            self._all.discard(conn)
            raise
        result.sport = sport
        result.reused = reused
        if self.keepalive and conn.keepalive and not conn.closed and result.status is not None:
            self._idle.setdefault((ip, port), []).append(conn)
        else:
            conn.close_soon()
            self._all.discard(conn)
        return result

    def _take_idle(self, ip: str, port: int) -> _Conn | None:
        pool = self._idle.get((ip, port))
        while pool:
            conn = pool.pop()
            if not conn.closed:
                return conn
            self._all.discard(conn)
        return None

    def close(self) -> None:
        for conn in list(self._all):
            conn._abort()
        self._all.clear()
        self._idle.clear()
