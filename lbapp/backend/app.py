"""HTTP/1.1 protocol of the backend app: httptools parsing, keep-alive, pipelining in order,
streamed bodies both ways, a few knobs for failure tests."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from urllib.parse import parse_qs

import httptools

from lbapp.backend.knobs import Faults
from lbapp.backend.stats import BackendStats

log = logging.getLogger("lbapp.backend")

CRLF = b"\r\n"
STREAM_CHUNK = 64 * 1024
MAX_BYTES = 1 << 34  # /bytes upper bound (16 GiB), keeps a typo from streaming forever
ROUTES = ("/", "/health", "/metrics", "/delay", "/status", "/bytes", "/headers", "/echo")

_REASONS = {200: b"OK", 201: b"Created", 204: b"No Content", 301: b"Moved Permanently",
            302: b"Found", 304: b"Not Modified", 400: b"Bad Request", 403: b"Forbidden",
            404: b"Not Found", 405: b"Method Not Allowed", 408: b"Request Timeout",
            413: b"Payload Too Large", 429: b"Too Many Requests",
            500: b"Internal Server Error", 501: b"Not Implemented", 502: b"Bad Gateway",
            503: b"Service Unavailable", 504: b"Gateway Timeout"}


def status_line(code: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (code, _REASONS.get(code, b"Status"))


class Request:
    __slots__ = ("method", "url", "headers", "body", "complete", "keep_alive", "http10",
                 "chunked", "content_length", "streaming", "is_echo")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.chunked = False
        self.content_length: bytes | None = None
        self.is_echo = False
        self.streaming = False  # echo: body chunks go straight to the response


class AppState:
    """What all connections of one backend process share."""

    def __init__(self, name: str, idle_timeout: float) -> None:
        self.name = name
        self.name_header = b"X-Backend: " + name.encode() + CRLF
        self.root_body = json.dumps({"backend": name}).encode()
        self.idle_timeout = idle_timeout
        self.faults = Faults()      # run-time knobs (set over the control listener)
        self.shutting_down = False
        self.connections: set[BackendProtocol] = set()
        self.stats = BackendStats(name, ROUTES)


class BackendProtocol(asyncio.Protocol):
    def __init__(self, app: AppState) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.parsing: Request | None = None
        self.active: Request | None = None
        self.queue: deque[Request] = deque()
        self.peer = ""
        self.closing = False
        self.write_paused = False
        self.resume_waiter: asyncio.Future | None = None
        self.idle_handle: asyncio.TimerHandle | None = None
        self.pending_task: asyncio.Task | None = None
        self._echo_close = False
        self._echo_chunked = False

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.app.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.app.connections.discard(self)
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        if self.pending_task is not None:
            self.pending_task.cancel()
        if self.resume_waiter is not None and not self.resume_waiter.done():
            self.resume_waiter.set_exception(ConnectionResetError("client went away"))

    def data_received(self, data: bytes) -> None:
        if self.idle_handle is not None:
            self.idle_handle.cancel()
            self.idle_handle = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply_simple(501, b"upgrade not supported\n", close=True)
        except httptools.HttpParserError:
            self.app.stats.count("other", 400)
            self._reply_simple(400, b"bad request\n", close=True)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active is not None and self.active.streaming:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active is not None and self.active.streaming and not self.closing:
            self.transport.resume_reading()
        if self.resume_waiter is not None and not self.resume_waiter.done():
            self.resume_waiter.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.parsing = Request()

    def on_url(self, url: bytes) -> None:
        self.parsing.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.parsing
        req.headers.append((name, value))
        lname = name.lower()
        if lname == b"transfer-encoding":
            req.chunked = True
        elif lname == b"content-length":
            req.content_length = value

    def on_headers_complete(self) -> None:
        req = self.parsing
        req.method = self.parser.get_method()
        req.keep_alive = self.parser.should_keep_alive()
        req.http10 = self.parser.get_http_version() == "1.0"
        req.is_echo = (req.method in (b"POST", b"PUT")
                       and req.url.partition(b"?")[0] in (b"/echo", b"/"))
        if self.active is not None:
            self.transport.pause_reading()  # pipelined behind a response still being written
        self.queue.append(req)
        self._pump()

    def on_body(self, data: bytes) -> None:
        req = self.parsing
        if req.streaming:
            self._write_body_chunk(req, data)
        elif req.is_echo:
            req.body.append(data)
        # other routes ignore their request body

    def on_message_complete(self) -> None:
        req = self.parsing
        req.complete = True
        if req.streaming:
            self._finish_echo(req)
        else:
            self._pump()

    def _pump(self) -> None:
        """Start queued requests in order; all but echo wait until their body has arrived."""
        while self.active is None and self.queue and not self.closing:
            req = self.queue[0]
            if not (req.complete or req.is_echo):
                return
            self.queue.popleft()
            self._start(req)
        if self.active is None and not self.queue and not self.closing:
            self.transport.resume_reading()
            self._arm_idle()

    # -- request handling -------------------------------------------------------------------
    def _start(self, req: Request) -> None:
        self.active = req
        plan = None if req.is_echo else self.app.faults.plan(req.url.partition(b"?")[0])
        if plan is None:
            self._dispatch(req)
            return
        hang, fail_status, latency_ms = plan
        if hang:
            return  # never answered; requests pipelined behind it wait with it
        if latency_ms:
            self.pending_task = asyncio.get_running_loop().create_task(
                self._after_latency(req, latency_ms, fail_status))
        else:
            self._answer(req, fail_status)

    async def _after_latency(self, req: Request, ms: int, fail_status: int | None) -> None:
        await asyncio.sleep(ms / 1000)
        if not self.closing:
            self.pending_task = None
            self._answer(req, fail_status)

    def _answer(self, req: Request, fail_status: int | None) -> None:
        if fail_status is None:
            self._dispatch(req)
            return
        path = req.url.partition(b"?")[0].decode("latin-1")
        route = path if path in ROUTES else "other"
        body = json.dumps({"backend": self.app.name, "status": fail_status,
                           "injected": True}).encode()
        self._reply(req, route, fail_status, body, b"application/json")

    def _dispatch(self, req: Request) -> None:
        path, _, query = req.url.partition(b"?")
        method = req.method
        if path == b"/" and method in (b"GET", b"HEAD"):
            self._reply(req, "/", 200, self.app.root_body, b"application/json")
        elif path == b"/health":
            code = self.app.faults.knobs.health.status
            self._reply(req, "/health", code, b"ok\n" if code < 400 else b"fail\n",
                        b"text/plain")
        elif req.is_echo:
            self._start_echo(req)
        elif path == b"/delay":
            ms = _int_arg(query, b"ms", 0, 0, 3_600_000)
            self.pending_task = asyncio.get_running_loop().create_task(self._delayed(req, ms))
        elif path == b"/status":
            code = _int_arg(query, b"code", 200, 200, 599)
            body = json.dumps({"backend": self.app.name, "status": code}).encode()
            self._reply(req, "/status", code, body, b"application/json")
        elif path == b"/bytes":
            n = _int_arg(query, b"n", 0, 0, MAX_BYTES)
            chunked = _int_arg(query, b"chunked", 0, 0, 1) == 1 and not req.http10
            self.pending_task = asyncio.get_running_loop().create_task(
                self._stream_bytes(req, n, chunked))
        elif path == b"/headers":
            body = json.dumps({
                "backend": self.app.name, "peer": self.peer, "method": method.decode(),
                "url": req.url.decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in req.headers],
            }).encode()
            self._reply(req, "/headers", 200, body, b"application/json")
        elif path == b"/metrics":
            self.app.stats.connections = len(self.app.connections)
            body, ctype = self.app.stats.render()
            self._reply(req, "/metrics", 200, body, ctype.encode())
        else:
            self._reply(req, "other", 404, b"not found\n", b"text/plain")

    def _head(self, req: Request, code: int, ctype: bytes, length: int | None,
              close: bool) -> bytes:
        parts = [status_line(code), self.app.name_header, b"Content-Type: ", ctype, CRLF]
        if length is not None:
            parts += (b"Content-Length: ", b"%d" % length, CRLF)
        elif not req.http10:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if close:
            parts.append(b"Connection: close\r\n")
        elif req.http10:
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(CRLF)
        return b"".join(parts)

    def _reply(self, req: Request, route: str, code: int, body: bytes, ctype: bytes) -> None:
        close = not req.keep_alive or self.app.shutting_down
        head = self._head(req, code, ctype, len(body), close)
        if req.method == b"HEAD":
            body = b""
        self.app.stats.count(route, code)
        self.transport.write(head + body)
        self._done(req, close)

    def _reply_simple(self, code: int, body: bytes, close: bool) -> None:
        if self.transport is None or self.closing:
            return
        self.closing = True
        head = (status_line(code) + self.app.name_header + b"Content-Type: text/plain\r\n"
                + b"Content-Length: %d\r\n" % len(body) + b"Connection: close\r\n\r\n")
        self.transport.write(head + body)
        self.transport.close()

    def _done(self, req: Request, close: bool) -> None:
        self.pending_task = None
        if close or self.closing:
            self.closing = True
            self.transport.close()
            return
        self.active = None
        self._pump()

    def _arm_idle(self) -> None:
        if self.idle_handle is not None:
            self.idle_handle.cancel()
            self.idle_handle = None
        if self.app.idle_timeout > 0 and not self.closing:
            self.idle_handle = asyncio.get_running_loop().call_later(
                self.app.idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        if self.active is None and not self.queue and not self.closing:
            self.closing = True
            self.transport.close()

    def close_if_idle(self) -> None:
        if self.active is None and not self.queue and not self.closing:
            self.closing = True
            self.transport.close()

    # -- echo: the response streams while the request body arrives --------------------------
    def _start_echo(self, req: Request) -> None:
        ctype = b"application/octet-stream"
        for name, value in req.headers:
            if name.lower() == b"content-type":
                ctype = value
        close = not req.keep_alive or self.app.shutting_down
        if req.chunked:
            length = None
            if req.http10:
                close = True
        else:
            length = int(req.content_length or b"0")
        req.streaming = True
        self._echo_close = close
        self._echo_chunked = length is None and not req.http10
        self.transport.write(self._head(req, 200, ctype, length, close))
        for chunk in req.body:
            self._write_body_chunk(req, chunk)
        req.body = []
        if req.complete:
            self._finish_echo(req)

    def _write_body_chunk(self, req: Request, data: bytes) -> None:
        if self._echo_chunked:
            self.transport.writelines((b"%x\r\n" % len(data), data, CRLF))
        else:
            self.transport.write(data)

    def _finish_echo(self, req: Request) -> None:
        if self._echo_chunked:
            self.transport.write(b"0\r\n\r\n")
        req.streaming = False
        self.app.stats.count("/echo", 200)
        self._done(req, self._echo_close)

    # -- slow responses ---------------------------------------------------------------------
    async def _delayed(self, req: Request, ms: int) -> None:
        await asyncio.sleep(ms / 1000)
        if self.closing:
            return
        body = json.dumps({"backend": self.app.name, "delayed_ms": ms}).encode()
        self._reply(req, "/delay", 200, body, b"application/json")

    async def _stream_bytes(self, req: Request, n: int, chunked: bool) -> None:
        close = not req.keep_alive or self.app.shutting_down or (req.http10 and n and chunked)
        head = self._head(req, 200, b"application/octet-stream", None if chunked else n, close)
        self.transport.write(head)
        if req.method != b"HEAD":
            block = (b"0123456789abcdef" * (STREAM_CHUNK // 16))
            left = n
            while left > 0 and not self.closing:
                piece = block if left >= STREAM_CHUNK else block[:left]
                left -= len(piece)
                if chunked:
                    self.transport.writelines((b"%x\r\n" % len(piece), piece, CRLF))
                else:
                    self.transport.write(piece)
                if self.write_paused:
                    self.resume_waiter = asyncio.get_running_loop().create_future()
                    try:
                        await self.resume_waiter
                    except ConnectionResetError:
                        return
                    finally:
                        self.resume_waiter = None
            if self.closing:
                return
            if chunked:
                self.transport.write(b"0\r\n\r\n")
        self.app.stats.count("/bytes", 200)
        self._done(req, close)


def _int_arg(query: bytes, name: bytes, default: int, low: int, high: int) -> int:
    values = parse_qs(query.decode("latin-1")).get(name.decode())
    if not values:
        return default
    try:
        return min(max(int(values[0]), low), high)
    except ValueError:
        return default
