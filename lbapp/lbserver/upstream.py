"""Backends as seen by the proxy: a pool of keep-alive connections per backend, and the
protocol that parses one backend connection's responses and streams them to the client."""
from __future__ import annotations

import asyncio
import errno
import logging
import httptools

from lbapp.lbserver.http import (COLON, CRLF, H_CONNECTION, H_LENGTH, H_TE_BODY, LAST_CHUNK,
                                 RESPONSE_HEADERS, SIMPLE_CONNECTION_VALUES, STATUS_LINES,
                                 connection_tokens, drop_named_headers, exact_case_table,
                                 extra_hop_headers, status_line)
from lbapp.lbserver.contracts import PoolOwner, UpstreamClient
from lbapp.lbserver.stats import RequestStats

log = logging.getLogger("lbapp.lbserver")

_TE_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_EXACT_KINDS = exact_case_table(RESPONSE_HEADERS)


class Backend:
    """One backend (name, address, port) of the applied config, with its connection pool."""

    __slots__ = ("rt", "name", "host", "port", "idle", "max_idle", "connection_count",
                 "retired", "failures", "ejected_until", "stats")

    def __init__(self, rt: "PoolOwner", name: str, host: str, port: int,
                 stats: RequestStats) -> None:
        self.rt = rt
        self.name = name
        self.host = host
        self.port = port
        self.idle: list[UpstreamConnection] = []   # LIFO: the warmest connection first
        self.max_idle = rt.upstream_max_idle       # 0 once retired: nothing goes back
        self.connection_count = 0
        self.retired = False
        self.failures = 0            # consecutive failed attempts (passive outlier detection)
        self.ejected_until = 0.0     # Clock.now until which pick() excludes this backend
        self.stats = stats

    def release(self, conn: "UpstreamConnection") -> None:
        if len(self.idle) >= self.max_idle:
            conn.transport.close()
            return
        conn.idle_since = self.rt.clock.now
        self.idle.append(conn)

    def retire(self) -> None:
        """Removed from the config: close idle connections; busy ones close when done."""
        self.retired = True
        self.max_idle = 0
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.transport.close()

    def connect(self, client: "UpstreamClient", token: int, timeout: float) -> None:
        asyncio.get_running_loop().create_task(self._connect(client, token, timeout))

    async def _connect(self, client: "UpstreamClient", token: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port),
                timeout)
        except asyncio.TimeoutError:
            reason = "timeout"
        except OSError as exc:
            reason = "refused" if exc.errno == errno.ECONNREFUSED else "error"
        except Exception:  # noqa: BLE001 - whatever it is, the client must get an answer
            log.exception("connecting to backend %s failed unexpectedly", self.name)
            reason = "error"
        else:
            if conn.closed:  # accepted and closed again before we could use it
                reason = "reset"
            elif client.connect_token == token:
                client.upstream_connected(conn)
                return
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
    """One connection to a backend; serves one client request at a time.

    ``state``: 0 nothing received for the current request, 1 part of the response head,
    2 head forwarded and body streaming, 3 response complete.
    """

    __slots__ = ("backend", "rt", "clock", "transport", "parser", "client", "closed", "deadline",
                 "idle_since", "paused", "state", "reusable", "code", "has_length",
                 "chunked_in", "chunked_out", "until_close", "conn_drop", "out")

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.rt = backend.rt
        self.clock = backend.rt.clock
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpResponseParser(self)
        self.client: UpstreamClient | None = None
        self.closed = False
        self.deadline = 0.0
        self.idle_since = 0.0
        self.paused = False
        self.state = 0
        self.reusable = False
        self.code = 0
        self.has_length = self.chunked_in = self.chunked_out = self.until_close = False
        self.conn_drop: set[bytes] | None = None
        # What goes to the client next: while a response head is parsed, its parts (the status
        # line in slot 0, then 4 items per header); then the head and body pieces, joined into
        # one write per read from the backend.
        self.out: list[bytes] = []

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
        state = self.state
        if state < 2:
            client.upstream_failed(self, "reset", state == 1)
        elif state == 2:
            if self.until_close:
                # The body was delimited by the end of the connection: this is its end.
                if self.chunked_out:
                    self.out.append(LAST_CHUNK)
                out, self.out = self.out, []
                client.transport.write(b"".join(out))
                client.exchange_done(self.code)
            else:
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
        if not self.state:
            self.state = 1
        self.deadline = self.clock.now + client.response_timeout
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # malformed, or a 101 the proxy never asked for (it does not forward Upgrade)
            self._fail("protocol", exc)
            return
        state = self.state
        if state > 1:  # a head was completed (by now or before): what is in out can go
            out = self.out
            if out:
                self.out = []
                # One buffer: uvloop writes it at once (several go through a slower path).
                client.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if state == 3:
            self.client = None
            self.deadline = 0.0
            backend = self.backend
            if self.paused:
                self.paused = False
                self.transport.resume_reading()
            if self.reusable and client.req_done and len(backend.idle) < backend.max_idle:
                self.idle_since = self.clock.now
                backend.idle.append(self)
            else:
                self.transport.close()
            client.exchange_done(self.code)

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.state == 3:  # more bytes after a complete response: do not reuse this connection
            self.reusable = False
            return
        self.out = [b""]
        self.has_length = self.chunked_in = False
        self.conn_drop = None

    def on_header(self, name: bytes, value: bytes) -> None:
        kind = _EXACT_KINDS.get(name)
        if kind is None:
            kind = RESPONSE_HEADERS.get(name.lower(), 0)
        if not kind:
            self.out += (name, COLON, value, CRLF)
        elif kind == H_LENGTH:
            self.has_length = True
            self.out += (name, COLON, value, CRLF)
        elif kind == H_TE_BODY:
            self.chunked_in = True
        elif kind == H_CONNECTION:
            if value not in SIMPLE_CONNECTION_VALUES:
                extra = extra_hop_headers(connection_tokens(value))
                if extra:
                    self.conn_drop = extra if self.conn_drop is None else self.conn_drop | extra
        # other hop-by-hop headers are dropped

    def on_headers_complete(self) -> None:
        code = self.code = self.parser.get_status_code()
        if code < 200:
            # interim response (103 Early Hints, a stray 100): not forwarded
            self.out = []
            return
        client = self.client
        self.state = 2
        backend = self.backend
        if backend.failures:
            backend.failures = 0
        hdrs = self.out
        if self.conn_drop:
            hdrs = self.out = drop_named_headers(hdrs, 1, self.conn_drop)
        hdrs[0] = STATUS_LINES.get(code) or status_line(code)
        rt = self.rt
        close = client.close_after or not client.req_done or rt.draining
        head_only = client.is_head
        if self.has_length and not head_only and code != 204 and code != 304:
            # the common case: a Content-Length body, passed through as it comes
            self.chunked_out = self.until_close = False
        else:
            chunked_out = until_close = False
            if head_only or code == 204 or code == 304:
                if head_only and self.chunked_in and client.can_chunk():
                    hdrs.append(_TE_CHUNKED)
            else:  # no Content-Length
                until_close = not self.chunked_in
                if client.can_chunk():
                    chunked_out = True
                    hdrs.append(_TE_CHUNKED)
                else:
                    close = True  # the client learns the end of the body from the close
            self.chunked_out = chunked_out
            self.until_close = until_close
        hdrs.append(rt.lb_close_end if close else rt.lb_keep_alive_end)
        client.close_after = close
        client.status = code
        if head_only:
            # httptools cannot be told the response has no body; end it here and do not
            # reuse the connection (the parser still waits for Content-Length bytes).
            self.state = 3
            self.reusable = False

    def on_body(self, data: bytes) -> None:
        if self.chunked_out:
            self.out.extend((b"%x\r\n" % len(data), data, CRLF))
        else:
            self.out.append(data)

    def on_message_complete(self) -> None:
        if self.code < 200 or self.state == 3:
            return
        if self.chunked_out:
            self.out.append(LAST_CHUNK)
        self.state = 3
        self.reusable = self.parser.should_keep_alive()

    # -- failures ---------------------------------------------------------------------------
    def _fail(self, reason: str, exc: Exception | None = None) -> None:
        """The response cannot be completed: bad bytes from the backend, or a timeout."""
        client = self.client
        self.client = None
        self.transport.abort()
        if client is None:
            return
        if self.state >= 2:
            client.upstream_broken()
        else:
            if exc is not None:
                log.warning("backend %s sent a malformed response: %s", self.backend.name, exc)
            # A response timeout before any byte is retryable like a reset (idempotent only).
            client.upstream_failed(self, reason, self.state == 1 or exc is not None)

    def timed_out(self) -> None:
        self._fail("response_timeout")

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused and not self.closed:
            self.paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
                client = self.client
                if client is not None:
                    self.deadline = self.clock.now + client.response_timeout
