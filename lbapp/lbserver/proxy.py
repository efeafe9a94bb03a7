"""The client side of the proxy: one ``ClientConnection`` per accepted connection.

Request flow: httptools parses the request; at the end of its head a backend is picked and a
pooled connection taken (or one opened); the head and body stream to the backend, the response
streams back (upstream.UpstreamConnection). Bytes for the backend produced while one chunk of
client data is parsed go out in a single write.

A failed attempt before any response byte is retried on another backend when that is safe
(idempotent method or nothing sent, body still held). Pipelined requests are replayed in order
once the response in progress is done.
"""
from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from time import perf_counter
from typing import TYPE_CHECKING

import httptools

from lbapp.lbserver.http import (COLON, CONTINUE_100, CRLF, H_CONNECTION, H_EXPECT, H_KEY,
                                 H_LENGTH, H_TE_BODY, H_XFF, HTTP11_CRLF, IDEMPOTENT_METHODS,
                                 LAST_CHUNK, SP,
                                 SIMPLE_CONNECTION_VALUES, connection_tokens, drop_named_headers,
                                 extra_hop_headers, forwarded_for, is_token_value, request_key)
from lbapp.lbserver.metrics import CLIENT_CLOSED, LATENCY_BOUNDS

if TYPE_CHECKING:
    from lbapp.lbserver.runtime import Runtime, Snapshot
    from lbapp.lbserver.upstream import Backend, UpstreamConnection

log = logging.getLogger("lbapp.lbserver")

# Reasons to stop reading from the client (bit flags; reading resumes when none is left).
BLOCK_UPSTREAM = 1   # the backend connection's write buffer is full
BLOCK_BUFFER = 2     # body held while no backend connection is attached is at its limit
BLOCK_PIPELINE = 4   # a pipelined request waits for the response in progress

# Bits of ClientConnection.hflags: what the request's headers said.
F_BODY = 1        # Content-Length other than 0
F_CHUNKED = 2     # Transfer-Encoding (chunked)
F_CONNECTION = 4  # a Connection header (so keep-alive does not tell the HTTP version)
F_DROP = 8        # the Connection header named more headers to drop (conn_drop)
F_XFF = 16        # X-Forwarded-For present (xff_in)
F_EXPECT = 32     # Expect: 100-continue
F_KEY = 64        # the hash-key header (key_value)

_NO_BODY: tuple = ()
# A request head (request line and headers) larger than this is refused with 431; llhttp has
# no limit of its own.
MAX_HEAD_BYTES = 64 * 1024


class _Discard(list):
    """Sink for parser events once the connection is closing."""

    def append(self, item) -> None:  # noqa: D102
        pass


DISCARD = _Discard()


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "rt", "clock", "transport", "parser", "client_ip", "xff_own", "xff_tail", "last_active",
        "closing",
        "deferred", "read_blocked", "write_blocked", "busy", "reading_head", "head_bytes",
        # request being parsed (hflags: F_* bits of the headers seen)
        "url", "hdrs", "hflags", "xff_in", "key_value", "conn_drop",
        # exchange in progress
        "t0", "method", "is_head", "http10", "close_after", "req_done", "status", "head",
        "body_parts", "body_size", "up_out", "snap", "balancer", "backend", "in_attempt",
        "upstream", "reused", "connect_token", "tried", "stale_retried", "response_timeout",
    )

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.clock = rt.clock
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser: httptools.HttpRequestParser | None = None
        self.closing = False
        self.deferred: list | None = None
        self.read_blocked = 0
        self.write_blocked = False
        self.busy = False
        self.reading_head = False
        self.head_bytes = 0
        self.upstream: UpstreamConnection | None = None
        self.backend: Backend | None = None
        self.in_attempt = False
        self.connect_token = 0
        self.up_out: list[bytes] = []
        self.status = 0
        self.url = b""
        self.hdrs: list[bytes] = [b"", SP, b"", HTTP11_CRLF]
        self.hflags = 0
        self.xff_in: bytes | None = None
        self.key_value: bytes | None = None
        self.conn_drop: set[bytes] | None = None
        self.http10: bool | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        rt = self.rt
        self.transport = transport  # type: ignore[assignment]
        rt.connections_accepted += 1
        if len(rt.clients) >= rt.max_connections:
            rt.connections_rejected += 1
            self.closing = True
            transport.write(rt.local.get(503, True, False))  # type: ignore[attr-defined]
            transport.close()
            return
        rt.clients.add(self)
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0].encode() if peer else b"unknown"
        self.xff_own = forwarded_for(None, self.client_ip)
        self.xff_tail = self.xff_own + rt.request_tail  # the end of a plain request's head
        self.parser = httptools.HttpRequestParser(self)
        self.last_active = rt.clock.now

    def connection_lost(self, exc: Exception | None) -> None:
        self.rt.clients.discard(self)
        self.closing = True
        self.deferred = DISCARD
        self.connect_token = -1
        if self.busy:
            self.busy = False
            self._abandon_attempt()
            stats = self.backend.stats if self.backend is not None else self.rt.local_stats
            stats.observe(self.status or CLIENT_CLOSED, perf_counter() - self.t0)

    def data_received(self, data: bytes) -> None:
        self.last_active = self.clock.now
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # Upgrade is hop-by-hop and was not forwarded: what follows is the next request.
            rest = data[exc.args[0]:]
            if rest and not self.closing:
                self.data_received(rest)
                return
        except httptools.HttpParserCallbackError:
            log.exception("internal error while handling a request")
            self._fatal(500)
            return
        except httptools.HttpParserError:
            self._fatal(400)
            return
        if self.reading_head:  # a request head still incomplete after this read
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fatal(431)
                return
        if self.up_out:  # request body bytes (a bodiless request's head went out at once)
            self._flush_up()

    def pause_writing(self) -> None:
        self.write_blocked = True
        if self.upstream is not None:
            self.upstream.set_paused(True)

    def resume_writing(self) -> None:
        self.write_blocked = False
        if self.upstream is not None:
            self.upstream.set_paused(False)

    # -- httptools callbacks: the request ---------------------------------------------------
    # No on_message_begin (one parser callback less per request): the first on_url of a
    # request, which every request has, begins it.
    def on_url(self, url: bytes) -> None:
        if self.reading_head:  # more of the URL of the request being read
            self.url += url
            return
        if self.deferred is not None or self.busy:
            if self.deferred is None:
                # The parser is about to overwrite what it knows of the request in progress
                # (it still holds its HTTP version: the new one follows the URL).
                if self.http10 is None:
                    self.http10 = self.parser.get_http_version() != "1.1"
                self.deferred = []
                self._block(BLOCK_PIPELINE)
            self.deferred.append((self.on_url, (url,)))
            return
        self.reading_head = True
        self.head_bytes = 0
        self.url = url
        # The request line (method, url) in the first 4 items, then 4 items per header.
        self.hdrs = [b"", SP, b"", HTTP11_CRLF]
        self.hflags = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.deferred is not None:
            self.deferred.append((self.on_header, (name, value)))
            return
        kind = self.rt.request_header_exact.get(name)
        if kind is None:
            kind = self.rt.request_header_kinds.get(name.lower(), 0)
        if not kind:
            self.hdrs.extend((name, COLON, value, CRLF))
        else:
            self._special_header(kind, name, value)

    def _special_header(self, kind: int, name: bytes, value: bytes) -> None:
        if kind == H_LENGTH:
            self.hdrs.extend((name, COLON, value, CRLF))
            if value.strip() != b"0":
                self.hflags |= F_BODY
        elif kind == H_CONNECTION:
            self.hflags |= F_CONNECTION
            if value not in SIMPLE_CONNECTION_VALUES:
                extra = extra_hop_headers(connection_tokens(value))
                if extra:
                    self.conn_drop = (extra if not self.hflags & F_DROP
                                      else self.conn_drop | extra)
                    self.hflags |= F_DROP
        elif kind == H_KEY:
            self.hdrs.extend((name, COLON, value, CRLF))
            self.key_value = value
            self.hflags |= F_KEY
        elif kind == H_XFF:
            self.xff_in = value if not self.hflags & F_XFF else self.xff_in + b", " + value
            self.hflags |= F_XFF
        elif kind == H_TE_BODY:
            self.hflags |= F_CHUNKED  # llhttp accepted it, so it ends in chunked
        elif kind == H_EXPECT:
            if is_token_value(value, b"100-continue"):
                self.hflags |= F_EXPECT
            else:
                self.hdrs.extend((name, COLON, value, CRLF))
        # other hop-by-hop headers (and a client's X-Forwarded-Proto) are dropped

    def on_headers_complete(self) -> None:
        p = self.parser
        if self.deferred is not None:
            # The parser moves on before replay: capture what it knows about this request now.
            self.deferred.append((self._start_exchange, (
                p.get_method(), p.should_keep_alive(), p.get_http_version() != "1.1")))
            return
        self._start_exchange(p.get_method(), p.should_keep_alive(), None)

    def on_body(self, data: bytes) -> None:
        if self.deferred is not None:
            self.deferred.append((self.on_body, (data,)))
            return
        if self.hflags & F_CHUNKED:
            self._body_pieces((b"%x\r\n" % len(data), data, CRLF), len(data))
        else:
            self._body_pieces((data,), len(data))

    def on_message_complete(self) -> None:
        if self.deferred is not None:
            self.deferred.append((self.on_message_complete, ()))
            return
        self.req_done = True
        if self.hflags & F_CHUNKED and self.busy:
            self._body_pieces((LAST_CHUNK,), 0)

    # -- the exchange -----------------------------------------------------------------------
    def _start_exchange(self, method: bytes, keep_alive: bool, http10: bool | None) -> None:
        if self.deferred is not None:  # replayed while an earlier pipelined request is busy
            self.deferred.append((self._start_exchange, (method, keep_alive, http10)))
            return
        rt = self.rt
        flags = self.hflags
        self.busy = True
        self.reading_head = False
        self.t0 = perf_counter()
        self.method = method
        self.is_head = method == b"HEAD"
        self.close_after = not keep_alive or rt.draining
        if http10 is None and not flags & F_CONNECTION:
            # Without a Connection header, keep-alive is exactly "HTTP/1.1" (RFC 9112 9.3).
            http10 = not keep_alive
        self.http10 = http10  # None: ask the parser if it ever matters (can_chunk)
        self.status = 0
        self.backend = None
        self.tried = None
        self.stale_retried = False
        has_body = flags & (F_BODY | F_CHUNKED)
        self.req_done = not has_body
        snap = rt.snapshot
        if snap is None or method == b"CONNECT":
            self._respond_local(503 if snap is None else 405)
            return
        hdrs = self.hdrs
        hdrs[0] = method
        hdrs[2] = self.url
        if not flags:  # no header that needs care: the common case
            hdrs.append(self.xff_tail)
            self.head = b"".join(hdrs)
            self.body_parts = _NO_BODY
        else:
            if flags & F_DROP:
                hdrs = drop_named_headers(hdrs, 4, self.conn_drop)
            hdrs.append(forwarded_for(self.xff_in, self.client_ip) if flags & F_XFF
                        else self.xff_own)
            hdrs.append(rt.request_tail_chunked if flags & F_CHUNKED else rt.request_tail)
            self.head = b"".join(hdrs)
            if has_body:
                self.body_parts = []
                self.body_size = 0
                if flags & F_EXPECT and self.can_chunk():  # i.e. HTTP/1.1
                    self.transport.write(CONTINUE_100)
            else:
                self.body_parts = _NO_BODY
        self._dispatch(snap, rt.excluded)

    def can_chunk(self) -> bool:
        """Whether the client speaks HTTP/1.1 (chunked responses, 100 Continue)."""
        http10 = self.http10
        if http10 is None:
            http10 = self.http10 = self.parser.get_http_version() != "1.1"
        return not http10

    def _dispatch(self, snap: "Snapshot", exclude, no_backend: int = 503) -> None:
        """Pick a backend for the request and start an attempt on it; answer ``no_backend``
        if there is none to pick."""
        balancer = snap.balancer
        key = None
        if snap.key_kind:
            key = request_key(snap.key_kind, self.client_ip, self.url,
                              self.key_value if self.hflags & F_KEY else None)
        name = balancer.pick(key, exclude)
        if name is None and self.rt.excluded:
            # Everything left is ejected: better to try an ejected backend than to fail.
            name = balancer.pick(key, self.tried or ())
        if name is None:
            self._respond_local(no_backend)
            return
        backend = snap.backends[name]
        self.snap = snap
        self.balancer = balancer
        self.backend = backend
        if snap.tracks_load:
            balancer.on_start(name)
            self.in_attempt = True
        self.response_timeout = snap.response_timeout
        idle = backend.idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if self.body_parts is _NO_BODY and not self.write_blocked:
                # _attach for a bodiless request (the common case), inlined
                self.upstream = conn
                self.reused = True
                conn.client = self
                conn.state = 0
                conn.deadline = self.clock.now + self.response_timeout
                conn.transport.write(self.head)
            else:
                self._attach(conn, True)
            return
        self.connect_token += 1
        backend.connect(self, self.connect_token, snap.connect_timeout)

    def _attach(self, conn: "UpstreamConnection", reused: bool) -> None:
        self.upstream = conn
        self.reused = reused
        conn.client = self
        conn.state = 0
        conn.deadline = self.clock.now + self.response_timeout
        parts = self.body_parts
        if parts:
            self.up_out.append(self.head)
            self.up_out.extend(parts)
            if self.body_size > self.rt.retry_body_limit:
                self.body_parts = None  # too big to keep for a retry
            if self.read_blocked & BLOCK_BUFFER:
                self._unblock(BLOCK_BUFFER)
        elif self.req_done:
            conn.transport.write(self.head)  # nothing can follow it: no need to gather
        else:
            self.up_out.append(self.head)
        if self.write_blocked:
            conn.set_paused(True)

    def _body_pieces(self, pieces: tuple, size: int) -> None:
        if not self.busy:
            return
        upstream = self.upstream
        if upstream is not None:
            self.up_out.extend(pieces)
            upstream.deadline = self.clock.now + self.response_timeout
        parts = self.body_parts
        if parts is not None:
            parts.extend(pieces)
            self.body_size += size
            if self.body_size > self.rt.retry_body_limit:
                if upstream is not None:
                    self.body_parts = None
                else:
                    self._block(BLOCK_BUFFER)

    def _flush_up(self) -> None:
        upstream = self.upstream
        if upstream is not None:
            out = self.up_out
            self.up_out = []
            upstream.transport.writelines(out)

    # -- called by the upstream side --------------------------------------------------------
    def upstream_connected(self, conn: "UpstreamConnection") -> None:
        self._attach(conn, False)
        self._flush_up()

    def upstream_failed(self, conn: "UpstreamConnection | None", reason: str,
                        got_bytes: bool) -> None:
        """The attempt failed before a response head arrived."""
        rt = self.rt
        backend = self.backend
        reused = conn is not None and self.reused
        self.upstream = None
        self.up_out = []
        self._end_attempt()
        written = conn is not None
        can_resend = (self.body_parts is not None and not got_bytes
                      and (not written or self.method in IDEMPOTENT_METHODS))
        if reused and reason == "reset" and can_resend and not self.stale_retried:
            # A pooled keep-alive connection the backend had closed: try a fresh one.
            self.stale_retried = True
            backend.stats.failure("stale")
            if self.snap.tracks_load:
                self.balancer.on_start(backend.name)
                self.in_attempt = True
            self.connect_token += 1
            backend.connect(self, self.connect_token, self.snap.connect_timeout)
            return
        backend.record_failure(reason)
        code = 504 if reason in ("timeout", "response_timeout") else 502
        attempts = len(self.tried) if self.tried else 0
        if can_resend and attempts < rt.snapshot.retry_attempts and not self.closing:
            backend.stats.retries += 1
            if self.tried is None:
                self.tried = {backend.name}
            else:
                self.tried.add(backend.name)
            self._dispatch(rt.snapshot, self.tried | rt.excluded, no_backend=code)
            if self.up_out:
                self._flush_up()
            return
        self._respond_local(code)

    def _abandon_attempt(self) -> None:
        """Give up the exchange in progress: its upstream connection (if any) is cut, not pooled."""
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.client = None
            upstream.transport.abort()
        self._end_attempt()

    def upstream_broken(self) -> None:
        """The response had started and cannot be completed: cut the client connection."""
        self.upstream = None
        self._end_attempt()
        self.backend.stats.aborted += 1
        self.backend.stats.observe(self.status, perf_counter() - self.t0)
        self.busy = False
        self._close()

    def exchange_done(self, code: int) -> None:
        self.upstream = None
        backend = self.backend
        if self.in_attempt:
            self.in_attempt = False
            self.balancer.on_finish(backend.name)
        seconds = perf_counter() - self.t0
        stats = backend.stats
        stats.codes[code] += 1
        stats.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        stats.latency_sum += seconds
        # _end_exchange, inlined on the hot path
        self.busy = False
        if self.close_after:
            self._close()
            return
        self.last_active = self.clock.now
        if self.read_blocked & (BLOCK_UPSTREAM | BLOCK_BUFFER):
            self._unblock(BLOCK_UPSTREAM | BLOCK_BUFFER)
        if self.deferred is not None:
            self._replay()

    def block_reading_for_upstream(self, blocked: bool) -> None:
        if blocked:
            self._block(BLOCK_UPSTREAM)
        else:
            self._unblock(BLOCK_UPSTREAM)

    # -- ending an exchange -----------------------------------------------------------------
    def _end_attempt(self) -> None:
        if self.in_attempt:
            self.in_attempt = False
            self.balancer.on_finish(self.backend.name)

    def _respond_local(self, code: int) -> None:
        close = self.close_after or not self.req_done or self.rt.draining
        self.transport.write(self.rt.local.get(code, close, self.is_head))
        self.status = code
        self.close_after = close
        stats = self.backend.stats if self.backend is not None else self.rt.local_stats
        stats.observe(code, perf_counter() - self.t0)
        self._end_exchange()

    def _end_exchange(self) -> None:
        self.busy = False
        if self.close_after:
            self._close()
            return
        self.last_active = self.rt.clock.now
        if self.read_blocked & (BLOCK_UPSTREAM | BLOCK_BUFFER):
            self._unblock(BLOCK_UPSTREAM | BLOCK_BUFFER)
        if self.deferred is not None:
            self._replay()

    def _replay(self) -> None:
        """Run the parser events of pipelined requests held while the last one was served."""
        events = self.deferred
        self.deferred = None
        for fn, args in events:
            if self.closing:
                return
            fn(*args)
        if self.closing:
            return
        if self.up_out:
            self._flush_up()
        if self.deferred is None:
            self._unblock(BLOCK_PIPELINE)

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            self.deferred = DISCARD
            self.transport.close()

    def _fatal(self, code: int) -> None:
        """Malformed request (400) or internal error: answer if nothing was sent, close."""
        if self.closing:
            return
        if self.busy and self.req_done and code in (400, 431):
            # The bad bytes follow a complete request still being answered: answer that one
            # first, then the 400, in order.
            if self.deferred is None:
                self.deferred = []
                self._block(BLOCK_PIPELINE)
            self.deferred.append((self._fatal, (code,)))
            return
        if self.busy:
            self._abandon_attempt()
            if self.status:  # the response had started: nothing sensible to add
                self.busy = False
                self._close()
                return
            self.busy = False
        self.is_head = False
        self.transport.write(self.rt.local.get(code, True, False))
        self.rt.local_stats.observe(code, 0.0)
        self._close()

    # -- reading flow control ---------------------------------------------------------------
    def _block(self, reason: int) -> None:
        if not self.read_blocked and not self.closing:
            self.transport.pause_reading()
        self.read_blocked |= reason

    def _unblock(self, reasons: int) -> None:
        was = self.read_blocked
        self.read_blocked = was & ~reasons
        if was and not self.read_blocked and not self.closing:
            self.transport.resume_reading()

    # -- timers (driven by the sweeper) -----------------------------------------------------
    def idle_check(self, now: float, idle_timeout: float) -> None:
        if not self.busy and now - self.last_active > idle_timeout:
            self._close()

    def close_if_idle(self) -> bool:
        """For draining: close unless a request is in progress. True if closed."""
        if not self.busy and not self.reading_head:
            self._close()
            return True
        return False
