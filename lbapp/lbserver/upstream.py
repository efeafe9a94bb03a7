"""Backends as seen by the proxy: a pool of keep-alive connections per backend, and the
protocol that parses one backend connection's responses and streams them to the client."""
from __future__ import annotations

import asyncio
import errno
import logging
from typing import TYPE_CHECKING

import httptools

from lbapp.lbserver.http import (CRLF, COLON, H_CONNECTION, H_LENGTH, H_TE_BODY, LAST_CHUNK,
                                 RESPONSE_HEADERS, chunk_size_line, connection_tokens,
                                 drop_named_headers, extra_hop_headers, status_line)
from lbapp.lbserver.metrics import RequestStats

if TYPE_CHECKING:
    from lbapp.lbserver.proxy import ClientConnection
    from lbapp.lbserver.runtime import Runtime

log = logging.getLogger("lbapp.lbserver")

_CONNECTION_CLOSE = b"Connection: close\r\n"
_CONNECTION_KEEP_ALIVE = b"Connection: keep-alive\r\n"
_TE_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_HTTP_ERRORS = (httptools.HttpParserError,)


class Backend:
    """One backend (name, address, port) of the applied config, with its connection pool."""

    __slots__ = ("rt", "name", "host", "port", "idle", "connection_count", "retired",
                 "failures", "ejected_until", "stats")

    def __init__(self, rt: "Runtime", name: str, host: str, port: int,
                 stats: RequestStats) -> None:
        self.rt = rt
        self.name = name
        self.host = host
        self.port = port
        self.idle: list[UpstreamConnection] = []   # LIFO: the warmest connection first
        self.connection_count = 0
        self.retired = False
        self.failures = 0            # consecutive failed attempts (passive outlier detection)
        self.ejected_until = 0.0     # Clock.now until which pick() excludes this backend
        self.stats = stats

    def take_idle(self) -> "UpstreamConnection | None":
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def release(self, conn: "UpstreamConnection") -> None:
        if self.retired or len(self.idle) >= self.rt.upstream_max_idle:
            conn.transport.close()
            return
        conn.idle_since = self.rt.clock.now
        self.idle.append(conn)

    def retire(self) -> None:
        """Removed from the config: close idle connections; busy ones close when done."""
        self.retired = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.transport.close()

    def connect(self, client: "ClientConnection", token: int, timeout: float) -> None:
        asyncio.get_running_loop().create_task(self._connect(client, token, timeout))

    async def _connect(self, client: "ClientConnection", token: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port),
                timeout)
        except asyncio.TimeoutError:
            reason = "timeout"
        except OSError as exc:
            reason = "refused" if exc.errno == errno.ECONNREFUSED else "error"
        else:
            if client.connect_token == token:
                client.upstream_connected(conn)
            else:  # the client left or moved on meanwhile: keep the connection for others
                self.release(conn)
            return
        if client.connect_token == token:
            client.upstream_failed(None, reason, False)

    def record_failure(self, reason: str) -> None:
        self.stats.failure(reason)
        self.failures += 1
        if self.failures >= self.rt.outlier_threshold() and self.ejected_until <= self.rt.clock.now:
            self.rt.eject(self)
            self.failures = 0


class UpstreamConnection(asyncio.Protocol):
    """One connection to a backend; serves one client request at a time."""

    __slots__ = ("backend", "rt", "transport", "parser", "client", "closed", "deadline",
                 "idle_since", "paused", "got_bytes", "headers_done", "done", "reusable",
                 "code", "reason", "hdrs", "has_length", "chunked_in", "chunked_out",
                 "until_close", "interim", "conn_drop", "out")

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.rt = backend.rt
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.client: ClientConnection | None = None
        self.closed = False
        self.deadline = 0.0
        self.idle_since = 0.0
        self.paused = False
        self.out: list[bytes] = []
        self._reset_response()

    def _reset_response(self) -> None:
        self.got_bytes = False
        self.headers_done = False
        self.done = False
        self.reusable = False
        self.code = 0
        self.reason = b""
        self.hdrs: list = [None]
        self.has_length = False
        self.chunked_in = False
        self.chunked_out = False
        self.until_close = False
        self.interim = False
        self.conn_drop: set[bytes] | None = None

    # -- use by a client --------------------------------------------------------------------
    def begin(self, client: "ClientConnection", timeout: float) -> None:
        self.client = client
        self._reset_response()
        self.deadline = self.rt.clock.now + timeout

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.idle_since = self.rt.clock.now  # so the sweeper does not reap it before use
        self.backend.connection_count += 1
        self.rt.upstreams.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.backend.connection_count -= 1
        self.rt.upstreams.discard(self)
        client = self.client
        if client is None:
            idle = self.backend.idle
            if self in idle:
                idle.remove(self)
            return
        self.client = None
        if not self.headers_done:
            client.upstream_failed(self, "reset", self.got_bytes)
        elif self.until_close and not self.done:
            # The body was delimited by the end of the connection: this is its end.
            if self.chunked_out:
                self.out.append(LAST_CHUNK)
            self._flush(client)
            client.exchange_done(self.code)
        elif not self.done:
            client.upstream_broken()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        client = self.client
        if client is not None:
            client.block_reading_for_upstream(True)

    def resume_writing(self) -> None:
        client = self.client
        if client is not None:
            client.block_reading_for_upstream(False)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:  # bytes while idle in the pool: the backend is confused
            self.transport.close()
            return
        self.got_bytes = True
        self.deadline = self.rt.clock.now + client.response_timeout
        try:
            self.parser.feed_data(data)
        except _HTTP_ERRORS as exc:
            self._fail("protocol", exc)
            return
        if self.out:
            self._flush(client)
        if self.done:
            self._complete(client)

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:  # more bytes after a complete response: do not reuse this connection
            self.reusable = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        kind = RESPONSE_HEADERS.get(name.lower())
        if kind is None:
            self.hdrs += (name, COLON, value, CRLF)
        elif kind == H_LENGTH:
            self.has_length = True
            self.hdrs += (name, COLON, value, CRLF)
        elif kind == H_TE_BODY:
            self.chunked_in = True
        elif kind == H_CONNECTION:
            extra = extra_hop_headers(connection_tokens(value))
            if extra:
                self.conn_drop = extra if self.conn_drop is None else self.conn_drop | extra
        # other hop-by-hop headers are dropped

    def on_headers_complete(self) -> None:
        code = self.parser.get_status_code()
        if code < 200:
            # Interim response (103 Early Hints, a stray 100): not forwarded.
            self.interim = True
            self.hdrs = [None]
            self.reason = b""
            return
        client = self.client
        self.code = code
        self.headers_done = True
        self.backend.failures = 0
        hdrs = self.hdrs
        if self.conn_drop:
            hdrs = drop_named_headers(hdrs, 1, self.conn_drop)
        hdrs[0] = status_line(code, self.reason)
        close = client.close_after or not client.req_done or self.rt.draining
        head_only = client.is_head
        if head_only or code == 204 or code == 304:
            if head_only and self.chunked_in and not client.http10:
                hdrs.append(_TE_CHUNKED)
        elif not self.has_length:
            self.until_close = not self.chunked_in
            if client.http10:
                close = True  # a 1.0 client learns the end of the body from the close
            else:
                self.chunked_out = True
                hdrs.append(_TE_CHUNKED)
        hdrs.append(self.rt.lb_line)
        if close:
            hdrs.append(_CONNECTION_CLOSE)
        elif client.http10:
            hdrs.append(_CONNECTION_KEEP_ALIVE)
        hdrs.append(CRLF)
        self.out.append(b"".join(hdrs))
        client.close_after = close
        client.status = code
        if head_only:
            # httptools cannot be told the response has no body; end it here and do not
            # reuse the connection (the parser still waits for Content-Length bytes).
            self.done = True

    def on_body(self, data: bytes) -> None:
        if self.chunked_out:
            self.out += (chunk_size_line(len(data)), data, CRLF)
        else:
            self.out.append(data)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.chunked_out:
            self.out.append(LAST_CHUNK)
        if not self.done:
            self.done = True
            self.reusable = self.parser.should_keep_alive()

    # -- helpers ----------------------------------------------------------------------------
    def _flush(self, client: "ClientConnection") -> None:
        out = self.out
        self.out = []
        client.transport.writelines(out)

    def _complete(self, client: "ClientConnection") -> None:
        self.client = None
        self.deadline = 0.0
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if self.reusable and client.req_done and not self.closed:
            self.backend.release(self)
        else:
            self.transport.close()
        client.exchange_done(self.code)

    def _fail(self, reason: str, exc: Exception | None = None) -> None:
        """The response cannot be completed: bad bytes from the backend, or a timeout."""
        client = self.client
        self.client = None
        self.transport.abort()
        if client is None:
            return
        if self.headers_done:
            client.upstream_broken()
        else:
            if exc is not None:
                log.warning("backend %s sent a malformed response: %s", self.backend.name, exc)
            client.upstream_failed(self, reason, True)

    def timed_out(self) -> None:
        self._fail("response_timeout")

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused and not self.closed:
            self.paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
                self.deadline = self.rt.clock.now + (self.client.response_timeout
                                                     if self.client is not None else 0.0)
