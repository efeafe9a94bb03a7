"""One health check against real sockets on 127.0.0.1 behaving well and badly."""
from __future__ import annotations

import asyncio

import pytest
import uvloop

from lbapp.orchestrator.probe import check
from tests.integration.harness import free_port


def run(handler, timeout: float = 0.3):
    """Serve ``handler(reader, writer)`` on a port, check it once, return the result."""
    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await check("127.0.0.1", port, "/health", timeout)
        finally:
            server.close()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def answering(raw: bytes, close: bool = True):
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(5)
    return handler


@pytest.mark.parametrize("raw, ok, reason", [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", True, "200"),
    (b"HTTP/1.1 302 Found\r\n\r\n", True, "302"),
    (b"HTTP/1.1 503 Service Unavailable\r\n\r\nfail", False, "status 503"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", False, "bad response"),
    (b"HTTP/1.1 200", False, "bad response"),            # no end of line, then closed
    (b"", False, "closed without answer"),
    (b"x" * 100_000, False, "bad response"),             # an endless first line
])
def test_answers(raw, ok, reason):
    result = run(answering(raw))
    assert (result.ok, result.reason) == (ok, reason)


def test_decided_on_the_status_line_even_if_the_backend_keeps_the_connection():
    result = run(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", close=False))
    assert (result.ok, result.reason) == (False, "timeout")  # never finished: not good
    result = run(answering(b"HTTP/1.1 200 OK\r\n\r\n" + b"y" * 200_000, close=False),
                 timeout=5)
    assert (result.ok, result.reason) == (True, "200")        # talked too much: decided
    assert result.latency < 4


def test_hang_is_a_timeout_within_the_bound():
    async def hang(reader, writer):
        await asyncio.sleep(5)
    result = run(hang, timeout=0.2)
    assert (result.ok, result.reason) == (False, "timeout") and 0.19 < result.latency < 1.0


def test_refused():
    async def main():
        return await check("127.0.0.1", free_port(), "/health", 0.5)
    result = asyncio.run(main())
    assert (result.ok, result.reason) == (False, "refused")


def test_reset():
    async def reset(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        import socket
        import struct
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    result = run(reset)
    assert (result.ok, result.reason) == (False, "reset")


def test_a_long_body_in_small_pieces_is_cut_off_after_the_limit():
    async def trickle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        for _ in range(100):            # 100 x 1 KiB pieces, each its own segment
            writer.write(b"z" * 1024)
            await writer.drain()
            await asyncio.sleep(0.001)
        await asyncio.sleep(5)
    result = run(trickle, timeout=5)
    assert (result.ok, result.reason) == (True, "200") and result.latency < 4
