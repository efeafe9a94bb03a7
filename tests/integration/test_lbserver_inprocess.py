"""HTTP edge cases of the proxy, in one process: the LB's protocols and in-process backends
(the real backend app or deliberately misbehaving servers) on 127.0.0.1, raw client bytes.
No external daemons: the config is applied directly."""
from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import time

import pytest
import uvloop

from lbapp.backend.app import AppState, BackendProtocol
from lbapp.config.schema import parse_config
from lbapp.lbserver import proxy
from lbapp.lbserver.proxy import ClientConnection
from lbapp.lbserver.server import LBServer
from lbapp.lbserver.settings import parse_settings
from lbapp.lbserver.slots import connection_states

# -- plumbing ---------------------------------------------------------------------------------


def run(test):
    """Run ``test(env, ...)`` on a fresh uvloop loop, bounded in time; ``env`` is cleaned up."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        async def bounded():
            env = Env()
            try:
                return await asyncio.wait_for(test(env, *args, **kwargs), 30)
            finally:
                await env.close()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(bounded())
    params = list(inspect.signature(test).parameters.values())[1:]
    wrapper.__signature__ = inspect.Signature(params)
    return wrapper


class Env:
    def __init__(self) -> None:
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: list[asyncio.Task] = []

    async def server(self, factory) -> int:
        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def backend(self, name: str) -> int:
        app = AppState(name, idle_timeout=0)
        return await self.server(lambda: BackendProtocol(app))

    async def raw_backend(self, handler) -> int:
        """A backend whose behaviour is ``handler(reader, writer)``."""
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def proxy(self, backends: dict[str, int], settings: dict | None = None,
                    **config) -> tuple[LBServer, int]:
        settings = parse_settings({"name": "lbt", "lb_id": "t", "listen": ["127.0.0.1:1"],
                                   "admin_listen": "127.0.0.1:2",
                                   "etcd_endpoints": ["http://127.0.0.1:1"],
                                   "max_connections": config.pop("max_connections", 100),
                                   **(settings or {})})
        lb = LBServer(settings)
        cfg = parse_config({"backend_servers": [
            {"name": n, "address": "127.0.0.1", "port": p} for n, p in backends.items()],
            **config})
        lb.rt.apply(cfg, 1, {}, 1)
        port = await self.server(lambda: ClientConnection(lb.rt))
        self.tasks.append(asyncio.get_running_loop().create_task(lb.sweep()))
        return lb, port

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for server in self.servers:
            server.close()


async def read_response(reader: asyncio.StreamReader, head_only: bool = False):
    """(status, headers lower-cased, body, raw head) of one response; chunked is decoded."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    if status < 200:
        return status, headers, b"", raw
    if head_only or status in (204, 304):
        return status, headers, b"", raw
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.read()
    return status, headers, body, raw


async def exchange(port: int, request: bytes, head_only: bool = False):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        return await read_response(reader, head_only)
    finally:
        writer.close()


GET = b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"


async def until(check, what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` on the loop until true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)

# -- tests ------------------------------------------------------------------------------------


@run
async def test_head_then_next_request_on_same_connection(env):
    _, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, _, _ = await read_response(reader, head_only=True)
    assert status == 200 and headers["content-length"] == "18"
    writer.write(GET % b"/")
    status, _, body, _ = await read_response(reader)
    assert status == 200 and body == b'{"backend": "be1"}'
    writer.close()


@run
async def test_http10_client_gets_close_delimited_body_for_chunked_upstream(env):
    _, port = await env.proxy({"be1": await env.backend("be1")})
    status, headers, body, _ = await exchange(port, b"GET /bytes?n=1000&chunked=1 HTTP/1.0\r\n\r\n")
    assert status == 200 and len(body) == 1000
    assert "transfer-encoding" not in headers and headers["connection"] == "close"


@run
async def test_http10_keep_alive(env):
    _, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _, _ = await read_response(reader)
        assert status == 200 and headers["connection"] == "keep-alive"
    writer.close()


@run
async def test_expect_100_continue_is_answered_by_the_lb(env):
    _, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    status, _, _, _ = await read_response(reader)
    assert status == 100
    writer.write(b"hello")
    status, _, body, _ = await read_response(reader)
    assert status == 200 and body == b"hello"
    writer.close()


@run
async def test_pipelined_requests_answered_in_order(env):
    _, port = await env.proxy({"be1": await env.backend("be1"), "be2": await env.backend("be2")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET % b"/delay?ms=30" + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                 + GET % b"/status?code=201" + GET % b"/health")
    got = [await read_response(reader) for _ in range(4)]
    assert [g[0] for g in got] == [200, 200, 201, 200]
    assert got[1][2] == b"abc" and got[3][2] == b"ok\n"
    writer.close()


@run
async def test_refused_backend_is_retried_elsewhere_and_ejected(env):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens: connections are refused
    lb, port = await env.proxy({"dead": dead_port, "be1": await env.backend("be1")},
                               retries={"attempts": 2},
                               outlier_detection={"consecutive_failures": 2,
                                                  "ejection_ms": 60_000})
    for _ in range(6):
        status, headers, _, _ = await exchange(port, GET % b"/")
        assert status == 200 and headers["x-backend"] == "be1"
    stats = lb.rt.request_stats["dead"]
    assert stats.connect_failures["refused"] == 2 and stats.ejections == 1
    assert lb.rt.excluded == {"dead"}


async def _read_request_then_reset(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.transport.abort()  # RST before any response byte


@run
async def test_reset_before_response_retries_get_but_not_post(env):
    lb, port = await env.proxy({"bad": await env.raw_backend(_read_request_then_reset),
                                "be1": await env.backend("be1")},
                               retries={"attempts": 1},
                               outlier_detection={"consecutive_failures": 100})
    gets = [await exchange(port, GET % b"/") for _ in range(4)]
    assert [g[0] for g in gets] == [200] * 4
    posts = [await exchange(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
             for _ in range(4)]
    # round robin sends half of the POSTs to the resetting backend: not resent, 502
    assert sorted(p[0] for p in posts) == [200, 200, 502, 502]
    assert lb.rt.request_stats["bad"].codes[502] == 2


@run
async def test_response_timeout_gives_504(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")},
                               timeouts={"response_ms": 300})
    started = time.monotonic()
    status, headers, _, _ = await exchange(port, GET % b"/delay?ms=3000")
    assert status == 504 and headers["x-lb"] == "lbt"
    assert 0.25 < time.monotonic() - started < 1.5


@run
async def test_connect_timeout_is_retried(env):
    # A listener whose accept queue is full and never accepted: SYNs go unanswered.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(blackhole.getsockname())
        fillers.append(s)
    try:
        lb, port = await env.proxy({"hole": blackhole.getsockname()[1],
                                    "be1": await env.backend("be1")},
                                   timeouts={"connect_ms": 200}, retries={"attempts": 1})
        results = [await exchange(port, GET % b"/") for _ in range(2)]
        assert [r[0] for r in results] == [200, 200]
        # round robin comes back to the hole for the second request: two timeouts, both retried
        assert lb.rt.request_stats["hole"].connect_failures.get("timeout") == 2
    finally:
        for s in fillers:
            s.close()
        blackhole.close()


async def _close_delimited(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: close, X-Hop\r\n"
                 b"X-Hop: 1\r\nX-End: kept\r\n\r\nhello, ")
    await writer.drain()
    writer.write(b"world")
    writer.close()


@run
async def test_close_delimited_upstream_body_is_rechunked_and_hop_headers_dropped(env):
    _, port = await env.proxy({"raw": await env.raw_backend(_close_delimited)})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):  # the client connection survives the upstream close
        writer.write(GET % b"/")
        status, headers, body, _ = await read_response(reader)
        assert status == 200 and body == b"hello, world"
        assert headers["transfer-encoding"] == "chunked" and headers["x-end"] == "kept"
        assert "x-hop" not in headers and "keep-alive" not in headers
        assert headers["connection"] == "keep-alive"  # stated by the LB, hop by hop
    writer.close()


@run
async def test_connections_over_the_limit_get_503_when_none_is_idle(env):
    # Issue #6 changed this: idle connections now make room (next test); connections reading
    # a head are not idle, so over the limit a newcomer is still refused.
    lb, port = await env.proxy({"be1": await env.backend("be1")}, max_connections=2)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for _, writer in held:
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    await until(lambda: sum(c.reading_head for c in lb.rt.clients) == 2,
                "the two held connections reading a head")
    status, headers, _, _ = await exchange(port, GET % b"/")
    assert status == 503 and headers["connection"] == "close"
    assert lb.rt.client_stats.rejected == 1 and lb.rt.client_stats.evicted == 0
    for _, writer in held:
        writer.close()


@run
async def test_slow_reader_backpressure_does_not_time_out(env):
    _, port = await env.proxy({"be1": await env.backend("be1")}, timeouts={"response_ms": 300})
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
    n = 32 * 2**20
    writer.write(GET % b"/bytes?n=%d" % n)
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(1.0)  # the condition under test: a client not reading for > timeout
    got = 0
    while got < n:
        chunk = await reader.read(2**20)
        assert chunk
        got += len(chunk)
    assert got == n
    writer.close()


@run
async def test_client_leaving_mid_request_is_counted_and_connection_not_reused(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET % b"/delay?ms=300")
    await until(lambda: any(c.busy for c in lb.rt.clients), "request in flight")
    writer.close()
    await until(lambda: lb.rt.request_stats["be1"].codes[499] == 1, "499 recorded")
    assert (await exchange(port, GET % b"/"))[0] == 200


@run
async def test_draining_responses_say_close(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    lb.rt.draining = True
    status, headers, _, _ = await exchange(port, GET % b"/")
    assert status == 200 and headers["connection"] == "close"


@run
async def test_hash_on_header_keeps_a_user_on_one_backend(env):
    ports = {f"be{i}": await env.backend(f"be{i}") for i in (1, 2, 3)}
    _, port = await env.proxy(ports, algorithm="consistent_hash", hash={"key": "header:X-User"})
    for user in (b"alice", b"bob", b"carol"):
        seen = {(await exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nX-User: %s\r\n\r\n" % user))[1]
                ["x-backend"] for _ in range(5)}
        assert len(seen) == 1


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS hello on the plain port
])
@run
async def test_malformed_requests_get_400(env, raw):
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    status, headers, _, _ = await exchange(port, raw)
    assert status == 400 and headers["connection"] == "close"
    assert (await exchange(port, GET % b"/"))[0] == 200


@run
async def test_malformed_pipelined_request_is_answered_after_the_good_one(env):
    _, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET % b"/delay?ms=100" + b"GARBAGE\r\n\r\n")
    first = await read_response(reader)
    second = await read_response(reader)
    assert first[0] == 200 and b"delayed_ms" in first[2]
    assert second[0] == 400 and second[1]["connection"] == "close"
    writer.close()


async def _read_request_then_hang(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    try:
        await reader.read()  # never answer; returns when the LB gives up on the connection
    except ConnectionError:
        pass
    writer.close()


@run
async def test_hung_backend_get_is_retried_post_gets_504(env):
    lb, port = await env.proxy({"hung": await env.raw_backend(_read_request_then_hang),
                                "be1": await env.backend("be1")},
                               timeouts={"response_ms": 200}, retries={"attempts": 1},
                               outlier_detection={"consecutive_failures": 100})
    status = [(await exchange(port, GET % b"/"))[0] for _ in range(4)]
    assert status == [200] * 4
    # round robin comes back to the hung backend first every time (no ejection configured)
    assert lb.rt.request_stats["hung"].connect_failures["response_timeout"] == 4
    posts = [(await exchange(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"))[0]
             for _ in range(2)]
    assert sorted(posts) == [200, 504]


@run
async def test_single_refused_backend_gives_502_not_503(env):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    _, port = await env.proxy({"dead": dead_port})
    assert (await exchange(port, GET % b"/"))[0] == 502


@run
async def test_oversized_request_head_gets_431(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\n")
    for i in range(200):  # ~200 KiB of headers, never finished
        writer.write(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000))
    status, headers, _, _ = await read_response(reader)
    assert status == 431 and headers["connection"] == "close"
    writer.close()
    assert (await exchange(port, GET % b"/"))[0] == 200


# -- slow heads, idle connections, slots (issue #6) -------------------------------------------

async def closed_by_lb(reader: asyncio.StreamReader) -> bytes:
    """Everything the LB sends until it closes the connection."""
    return await reader.read()


@run
async def test_trickled_head_gets_408_within_the_head_timeout(env):
    # One header byte every 50 ms keeps the connection active, but the head never completes:
    # the head timer counts from the first byte and is not restarted by more bytes.
    lb, port = await env.proxy({"be1": await env.backend("be1")},
                               settings={"request_head_timeout_ms": 400})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")

    async def trickle():
        while not writer.is_closing():
            writer.write(b"a")
            await asyncio.sleep(0.05)
    task = asyncio.get_running_loop().create_task(trickle())
    try:
        got = await asyncio.wait_for(closed_by_lb(reader), 5)
    finally:
        task.cancel()
    elapsed = time.monotonic() - started
    assert got.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in got
    assert 0.35 < elapsed < 2.0, elapsed  # 400 ms + the sweeper's 100 ms tick (+ shared CPU)
    assert lb.rt.client_stats.timeouts["request_head"] == 1
    assert (await exchange(port, GET % b"/"))[0] == 200


@run
async def test_refused_request_with_unread_input_still_gets_its_answer(env):
    # A bad head followed by megabytes the LB will never parse: closing with them unread would
    # make the kernel send a RST that destroys the 400 before the client reads it. The LB
    # half-closes, drops the rest, and lets go of the connection as soon as the client closes.
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n" + b"x" * (4 << 20))
    got = await asyncio.wait_for(closed_by_lb(reader), 10)
    assert got.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in got
    assert connection_states(lb.rt)["closing"] == 1
    writer.close()
    await until(lambda: not lb.rt.clients, "the lingering connection to go with the client")


@run
async def test_lingering_ends_after_its_time_even_if_the_client_keeps_sending(env, monkeypatch):
    monkeypatch.setattr(proxy, "LINGER_SECONDS", 0.3)
    lb, port = await env.proxy({"be1": await env.backend("be1")})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"BAD\r\n\r\n")
    assert (await asyncio.wait_for(closed_by_lb(reader), 5)).startswith(b"HTTP/1.1 400 ")
    started = time.monotonic()

    async def keep_sending():
        while not writer.is_closing():
            writer.write(b"y" * 1024)
            await asyncio.sleep(0.02)
    task = asyncio.get_running_loop().create_task(keep_sending())
    try:
        await until(lambda: not lb.rt.clients, "the linger time to end the connection")
    finally:
        task.cancel()
    assert 0.25 < time.monotonic() - started < 3.0


@run
async def test_silent_new_connection_gets_408_after_the_head_timeout(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")},
                               settings={"request_head_timeout_ms": 300})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = await asyncio.wait_for(closed_by_lb(reader), 5)
    assert got.startswith(b"HTTP/1.1 408 ")
    writer.close()


@run
async def test_keep_alive_idle_is_timed_apart_from_the_head(env):
    # A keep-alive connection idle between requests is closed after client_idle_ms without a
    # response; the head timer (here longer) does not apply while no byte has come.
    lb, port = await env.proxy({"be1": await env.backend("be1")}, timeouts={"client_idle_ms": 300},
                               settings={"request_head_timeout_ms": 10_000})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET % b"/")
    assert (await read_response(reader))[0] == 200
    started = time.monotonic()
    assert await asyncio.wait_for(closed_by_lb(reader), 5) == b""
    assert 0.25 < time.monotonic() - started < 2.5  # swept every second
    assert lb.rt.client_stats.timeouts == {"request_head": 0, "keepalive_idle": 1}
    writer.close()


@run
async def test_full_slots_close_the_oldest_idle_connections_first(env):
    lb, port = await env.proxy({"be1": await env.backend("be1")}, max_connections=4)
    idle = []
    for _ in range(2):  # two idle keep-alive connections, the first idle longer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET % b"/")
        assert (await read_response(reader))[0] == 200
        idle.append((reader, writer))
        lb.rt.clock.now += 1.0  # the sweeper's clock: apart by a second
    slow = []
    for _ in range(2):  # two reading a head: not idle
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        slow.append((reader, writer))
    await until(lambda: sum(c.reading_head for c in lb.rt.clients) == 2, "two heads in progress")
    # Full: a newcomer is served, and both idle connections went to make room (a batch);
    # the slow ones are still there.
    assert (await exchange(port, GET % b"/"))[0] == 200
    assert lb.rt.client_stats.evicted == 2 and lb.rt.client_stats.rejected == 0
    for reader, _ in idle:
        assert await asyncio.wait_for(reader.read(), 2) == b""
    assert sum(c.reading_head for c in lb.rt.clients) == 2
    for _, writer in idle + slow:
        writer.close()


@run
async def test_eviction_order_is_oldest_idle_first(env):
    from lbapp.lbserver import slots
    lb, port = await env.proxy({"be1": await env.backend("be1")}, max_connections=100)
    conns = []
    for _ in range(slots.EVICT_BATCH + 3):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET % b"/")
        assert (await read_response(reader))[0] == 200
        conns.append((reader, writer))
        lb.rt.clock.now += 0.01
    await until(lambda: len(lb.rt.clients) == len(conns), "all connections registered")
    lb.rt.max_connections = len(conns)
    assert (await exchange(port, GET % b"/"))[0] == 200
    closed = [await asyncio.wait_for(r.read(), 2) == b"" for r, _ in conns[:slots.EVICT_BATCH]]
    assert all(closed) and lb.rt.client_stats.evicted == slots.EVICT_BATCH
    for reader, writer in conns[slots.EVICT_BATCH:]:  # the youngest idle ones are still open
        writer.write(GET % b"/")
        assert (await read_response(reader))[0] == 200
    for _, writer in conns:
        writer.close()


@run
async def test_hash_on_host_uses_the_host_forwarded(env):
    # Host is a header the proxy checks (and for absolute-form, replaces): hashing on it uses
    # the Host the backend gets, for both forms of target.
    ports = {f"be{i}": await env.backend(f"be{i}") for i in (1, 2, 3)}
    _, port = await env.proxy(ports, algorithm="consistent_hash", hash={"key": "header:Host"})
    for host in (b"alice.example", b"bob.example", b"carol.example"):
        seen = set()
        for _ in range(3):
            seen.add((await exchange(port, b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host))[1]
                     ["x-backend"])
            seen.add((await exchange(port, b"GET http://%s/ HTTP/1.1\r\nHost: other\r\n\r\n"
                                     % host))[1]["x-backend"])
        assert len(seen) == 1, (host, seen)
