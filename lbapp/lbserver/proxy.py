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

from lbapp.lbserver.http import (COLON, CONTINUE_100, CRLF, H_HOST, HTTP11_CRLF,
                                 IDEMPOTENT_METHODS, KEY_HEADER, LAST_CHUNK, SP,
                                 drop_named_headers, forwarded_for, request_key, set_header)
from lbapp.lbserver.requesthead import (CHUNK_SLICE, F_AUTHORITY, F_BODY, F_CHUNKED, F_DROP,
                                        F_EXPECT, F_HOST, F_KEY, F_XFF, MAX_HEADER_ITEMS,
                                        RequestHead)
from lbapp.lbserver.requestrules import (FRAGMENT, HEAD_TOO_LARGE, INVALID_HOST, MALFORMED,
                                         MAX_HEAD_BYTES, SLASH, Rejection, valid_host)
from lbapp.lbserver.slots import make_room
from lbapp.lbserver.stats import CLIENT_CLOSED, LATENCY_BOUNDS

if TYPE_CHECKING:
    from lbapp.lbserver.runtime import Runtime, Snapshot
    from lbapp.lbserver.upstream import Backend, UpstreamConnection

log = logging.getLogger("lbapp.lbserver")

# Reasons to stop reading from the client (bit flags; reading resumes when none is left).
BLOCK_UPSTREAM = 1   # the backend connection's write buffer is full
BLOCK_BUFFER = 2     # body held while no backend connection is attached is at its limit
BLOCK_PIPELINE = 4   # a pipelined request waits for the response in progress
# After an error response the connection is half-closed and what the client still sends is read
# and dropped for at most this long (nginx's lingering close): closing with unread input makes
# the kernel send a RST, which can destroy the response before the client has read it.
LINGER_SECONDS = 2.0

_NO_BODY: tuple = ()


class _Discard(list):
    """Sink for parser events once the connection is closing."""

    def append(self, item) -> None:  # noqa: D102
        pass


DISCARD = _Discard()


class ClientConnection(RequestHead, asyncio.Protocol):
    __slots__ = (
        "rt", "clock", "transport", "parser", "client_ip", "xff_own", "xff_tail", "idle_since",
        "closing", "head_deadline", "linger",
        "deferred", "read_blocked", "write_blocked", "busy", "reading_head", "head_bytes",
        # exchange in progress
        "t0", "method", "is_head", "close_after", "req_done", "status", "head",
        "body_parts", "body_size", "up_out", "snap", "balancer", "backend", "in_attempt",
        "upstream", "reused", "connect_token", "tried", "stale_retried", "response_timeout",
    )

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.clock = rt.clock
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser: httptools.HttpRequestParser | None = None
        self.closing = False
        self.linger: asyncio.TimerHandle | None = None
        self.deferred: list | None = None
        self.read_blocked = 0
        self.write_blocked = False
        self.busy = False
        self.reading_head = False
        self.head_bytes = 0
        self.head_deadline = 0.0  # Clock time the request head being read must be done by
        self.upstream: UpstreamConnection | None = None
        self.backend: Backend | None = None
        self.in_attempt = False
        self.connect_token = 0
        self.up_out: list[bytes] = []
        self.status = 0
        self.url = b""
        self.hdrs: list[bytes] = [b"", SP, b"", HTTP11_CRLF]
        self.hflags = 0
        self.dropped = 0
        self.xff_in: bytes | None = None
        self.key_value: bytes | None = None
        self.conn_drop: set[bytes] | None = None
        self.host: bytes | None = None
        self.host_ok: bytes | None = None  # the last Host value found valid on this connection
        self.chunk_lines = self.chunk_data = self.chunk_overhead = self.chunk_seq = 0
        self.chunk_pending = self.te_seen = False
        self.trailers = self.trailer_bytes = 0
        self.http10 = False

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        rt = self.rt
        self.transport = transport  # type: ignore[assignment]
        rt.client_stats.accepted += 1
        if len(rt.clients) >= rt.max_connections and not make_room(rt):
            rt.client_stats.rejected += 1
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
        # The first request's head is timed from the connection's start.
        self.idle_since = rt.clock.now
        self.head_deadline = deadline = self.idle_since + rt.head_timeout
        rt.head_timers.append((deadline, self))

    def connection_lost(self, exc: Exception | None) -> None:
        self.rt.clients.discard(self)
        self.closing = True
        if self.linger is not None:
            self.linger.cancel()
        self.deferred = DISCARD
        self.connect_token = -1
        if self.busy:
            self.busy = False
            self._abandon_attempt()
            stats = self.backend.stats if self.backend is not None else self.rt.local_stats
            stats.observe(self.status or CLIENT_CLOSED, perf_counter() - self.t0)

    def data_received(self, data: bytes) -> None:
        if self.closing:  # lingering after an error response: dropped
            return
        timed = False
        if not self.head_deadline and not self.busy:
            # The first bytes of a request head: the rest must follow within the timeout.
            self.head_deadline = self.clock.now + self.rt.head_timeout
            timed = True
        if self.chunk_lines:  # inside a chunked request body since an earlier read
            if not self._feed_chunked(data):
                return
        else:
            try:
                self.parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                self._feed_failed(exc, data)
                return
        if self.reading_head:  # a request head still incomplete after this read
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.reject(HEAD_TOO_LARGE)
                return
        if timed and self.head_deadline:
            self.rt.head_timers.append((self.head_deadline, self))
        if self.up_out:  # request body bytes (a bodiless request's head went out at once)
            self._flush_up()

    def _feed_chunked(self, data: bytes) -> bool:
        """Feed a read that goes on with a chunked body, in slices, counting the bytes of its
        framing (extensions, trailers) slice by slice. False if the connection is done."""
        view = memoryview(data)
        for start in range(0, len(data), CHUNK_SLICE):
            piece = view[start:start + CHUNK_SLICE]
            active, seq, before = self.chunk_lines, self.chunk_seq, self.chunk_data
            try:
                self.parser.feed_data(piece)
            except httptools.HttpParserUpgrade as exc:
                self._feed_failed(httptools.HttpParserUpgrade(start + exc.args[0]), data)
                return False
            except httptools.HttpParserError as exc:
                self._feed_failed(exc, data)
                return False
            if self.closing:
                return False
            if active and self.chunk_lines and self.chunk_seq == seq:  # the same body went on
                self._count_chunk_overhead(len(piece) - (self.chunk_data - before))
                if self.closing:
                    return False
        return True

    def _feed_failed(self, exc: Exception, data: bytes) -> None:
        if isinstance(exc, httptools.HttpParserUpgrade):
            # Upgrade is hop-by-hop and was not forwarded: what follows is the next request.
            rest = data[exc.args[0]:]
            if rest and not self.closing:
                self.data_received(rest)
        elif isinstance(exc, httptools.HttpParserCallbackError):
            log.exception("internal error while handling a request")
            self._fatal(500)
        else:
            self.reject(MALFORMED)
        if self.up_out and not self.closing:
            # The bad bytes followed a complete request (their refusal waits for its response):
            # what the parser produced for that request before them still goes out.
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
        self.dropped = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.reading_head:
            self._header_outside_head(name, value)
            return
        kind = self.rt.request_header_exact.get(name)
        if kind is None:
            kind = self.rt.request_header_kinds.get(name.lower(), 0)
        if not kind:
            self.hdrs.extend((name, COLON, value, CRLF))
        elif kind == H_HOST and not self.hflags & F_HOST:
            if value != self.host_ok:
                if not valid_host(value):
                    self.reject(INVALID_HOST)
                    return
                self.host_ok = value
            self.hflags |= F_HOST
            self.host = value
            self.hdrs.extend((name, COLON, value, CRLF))
        else:
            self._special_header(kind, name, value)

    def on_headers_complete(self) -> None:
        p = self.parser
        if self.deferred is not None:
            if self.te_seen:
                self.te_seen = False
                self._chunked_body_starts()
            # The parser moves on before replay: capture what it knows about this request now.
            self.deferred.append((self._start_exchange, (
                p.get_method(), p.should_keep_alive(), p.get_http_version(),
                p.should_upgrade())))
            return
        if self.hflags & F_CHUNKED:
            self._chunked_body_starts()
        self._start_exchange(p.get_method(), p.should_keep_alive(), None, None)

    def on_body(self, data: bytes) -> None:
        if self.chunk_lines:  # in real time, whether this request's events are held or not
            self.chunk_data += len(data)
            self.chunk_pending = False
        if self.deferred is not None:
            self.deferred.append((self.on_body, (data,)))
            return
        if self.hflags & F_CHUNKED:
            self._body_pieces((b"%x\r\n" % len(data), data, CRLF), len(data))
        else:
            self._body_pieces((data,), len(data))

    def on_message_complete(self) -> None:
        if self.chunk_lines:
            self.chunk_lines = 0
        if self.deferred is not None:
            self.deferred.append((self.on_message_complete, ()))
            return
        self.req_done = True
        if self.hflags & F_CHUNKED and self.busy:
            self._body_pieces((LAST_CHUNK,), 0)

    # -- the exchange -----------------------------------------------------------------------
    def _start_exchange(self, method: bytes, keep_alive: bool, version: str | None,
                        upgrade: bool | None) -> None:
        """The head is complete. ``version`` and ``upgrade`` are what the parser said when the
        head was parsed (None: ask it now, it has not moved on)."""
        if self.deferred is not None:  # replayed while an earlier pipelined request is busy
            self.deferred.append((self._start_exchange, (method, keep_alive, version, upgrade)))
            return
        flags = self.hflags
        url = self.url
        # The common case: an HTTP/1.1 keep-alive request with one Host and no header that
        # needs care, an origin-form target and few headers; it needs none of the checks.
        plain = (flags == F_HOST and keep_alive and url[0] == SLASH and FRAGMENT not in url
                 and len(self.hdrs) <= MAX_HEADER_ITEMS)
        if not plain:
            refused = self._check_head(method, version, upgrade)
            if refused is not None:
                self.reject(refused)
                return
        rt = self.rt
        self.busy = True
        self.reading_head = False
        self.head_deadline = 0.0
        self.t0 = perf_counter()
        self.method = method
        self.is_head = method == b"HEAD"
        self.close_after = not keep_alive or rt.draining
        self.status = 0
        self.backend = None
        self.tried = None
        self.stale_retried = False
        has_body = flags & (F_BODY | F_CHUNKED)
        self.req_done = not has_body
        snap = rt.snapshot
        if snap is None:
            self._respond_local(503)
            return
        hdrs = self.hdrs
        hdrs[0] = method
        hdrs[2] = self.url
        if plain:
            self.http10 = False
            hdrs.append(self.xff_tail)
            self.head = b"".join(hdrs)
            self.body_parts = _NO_BODY
            if len(self.head) > MAX_HEAD_BYTES:
                self.busy = False
                self.reject(HEAD_TOO_LARGE)
                return
        else:
            flags = self.hflags  # as _check_head left them
            if flags & F_DROP:
                hdrs = drop_named_headers(hdrs, 4, self.conn_drop)
            if not flags & F_HOST:  # HTTP/1.0 without one; HTTP/1.1 (as forwarded) needs one
                hdrs += (b"Host", COLON, self.host, CRLF)
            elif flags & F_AUTHORITY:
                set_header(hdrs, 4, b"host", self.host)
            hdrs.append(forwarded_for(self.xff_in, self.client_ip) if flags & F_XFF
                        else self.xff_own)
            hdrs.append(rt.request_tail_chunked if flags & F_CHUNKED else rt.request_tail)
            self.head = b"".join(hdrs)
            if len(self.head) > MAX_HEAD_BYTES:
                self.busy = False
                self.reject(HEAD_TOO_LARGE)
                return
            if has_body:
                self.body_parts = []
                self.body_size = 0
                if flags & F_EXPECT and not self.http10:
                    self.transport.write(CONTINUE_100)
            else:
                self.body_parts = _NO_BODY
        self._dispatch(snap, rt.excluded)

    def can_chunk(self) -> bool:
        """Whether the client speaks HTTP/1.1 (chunked responses)."""
        return not self.http10

    def _dispatch(self, snap: "Snapshot", exclude, no_backend: int = 503) -> None:
        """Pick a backend for the request and start an attempt on it; answer ``no_backend``
        if there is none to pick."""
        balancer = snap.balancer
        key = None
        if snap.key_kind:
            value = self.key_value if self.hflags & F_KEY else None
            if snap.key_kind == KEY_HEADER and snap.key_header == b"host":
                value = self.host or None
            key = request_key(snap.key_kind, self.client_ip, self.url, value)
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
        self.idle_since = self.clock.now
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
        self.idle_since = self.rt.clock.now
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
            if self.reading_head and not self.head_deadline:
                # Part of the next head arrived while the last request was served.
                self.head_deadline = deadline = self.clock.now + self.rt.head_timeout
                self.rt.head_timers.append((deadline, self))
            self._unblock(BLOCK_PIPELINE)

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            self.reading_head = False
            self.deferred = DISCARD
            self.transport.close()
        elif self.linger is not None:  # evicted or shut down while lingering
            self.transport.close()

    def _close_lingering(self) -> None:
        """Close after an error response: send FIN once the response is out, then read and
        drop input until the client closes too or LINGER_SECONDS pass. A lingering connection
        keeps its slot but is the first to be evicted."""
        transport = self.transport
        if not transport.can_write_eof():
            self._close()
            return
        self.closing = True
        self.reading_head = False
        self.deferred = DISCARD
        self.idle_since = 0.0
        transport.write_eof()
        if self.read_blocked:
            self.read_blocked = 0
            transport.resume_reading()
        self.linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def reject(self, why: Rejection) -> None:
        """Refuse the request being read: answer (after any response still due) and close."""
        if not self.closing:
            self.rt.client_stats.rejected_request(why.reason)
            self._fatal(why.code, self.rt.local.refusal(why))

    def _fatal(self, code: int, response: bytes | None = None) -> None:
        """A refused request, a timeout (408) or an internal error (500): answer if nothing
        was sent yet, and close."""
        if self.closing:
            return
        if self.busy and self.req_done and code != 500:
            # The bad bytes follow a complete request still being answered: answer that one
            # first, then this, in order.
            if self.deferred is None:
                self.deferred = []
                self._block(BLOCK_PIPELINE)
            self.deferred.append((self._fatal, (code, response)))
            return
        if self.busy:
            self._abandon_attempt()
            if self.status:  # the response had started: nothing sensible to add
                self.busy = False
                self._close()
                return
            self.busy = False
        self.is_head = False
        self.transport.write(response or self.rt.local.get(code, True, False))
        self.rt.local_stats.observe(code, 0.0)
        self._close_lingering()

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

    # -- timers and slots (driven by lbapp.lbserver.slots) ---------------------------------
    def head_timed_out(self) -> None:
        """The request head did not arrive in time: 408 and close."""
        self.rt.client_stats.timeouts["request_head"] += 1
        self._fatal(408)

    def close_idle(self) -> None:
        """Close a connection with no request in progress (idle timeout, slot eviction)."""
        self._close()

    def close_if_idle(self) -> bool:
        """For draining: close unless a request is in progress. True if closed."""
        if not self.busy and not self.reading_head:
            self._close()
            return True
        return False
